/** Checks across settings (role requirements, certificates, labels, fallback storage) with Kong's messages where Kong has them. */
import { existsSync } from "node:fs";
import { parseBlock } from "../support/ip-matcher";
import type { SettingError, SettingWarning } from "./errors";
import { readPemSetting } from "./pem";
import type { SettingName, Settings } from "./schema";

export type SourceOf = (name: SettingName) => string;

export interface CheckResult {
  errors: SettingError[];
  warnings: SettingWarning[];
  /** Certificate settings rewritten as Kong does: a file becomes its absolute path, base64 becomes PEM text. */
  resolved: Partial<Settings>;
}

type Report = (setting: SettingName, problem: string, fix: string) => void;

const GEN_CERT_FIX = "set cluster_cert and cluster_cert_key (`gw hybrid gen_cert` writes a pair)";

function checkControlPlane(s: Settings, error: Report): void {
  const role = 'when role = "control_plane"';
  if (s.admin_listen.length === 0)
    error("admin_listen", `admin_listen must be specified ${role}`, "set admin_listen, e.g. 127.0.0.1:8001");
  if (s.cluster_listen.length === 0)
    error(
      "cluster_listen",
      `cluster_listen must be specified ${role}`,
      "set cluster_listen, e.g. 0.0.0.0:8005",
    );
  if (s.database === "off")
    error(
      "database",
      `in-memory storage can not be used ${role}`,
      "set database = sqlite or database = postgres",
    );
  if (s.cluster_use_proxy)
    error("cluster_use_proxy", `cluster_use_proxy can not be used ${role}`, "set cluster_use_proxy = off");
  if (s.cluster_dp_labels.length > 0)
    error("cluster_dp_labels", `cluster_dp_labels can not be used ${role}`, "remove cluster_dp_labels");
}

const LABEL_PATTERN = "[a-z0-9]([\\w\\.:-]*[a-z0-9]|)$";
const LABEL_KEY_PATTERN = `(?!kong)(?!konnect)(?!insomnia)(?!mesh)(?!kic)${LABEL_PATTERN}`;
const LABEL_VALUE_RE = /^[a-z0-9]([\w.:-]*[a-z0-9]|)$/i;
const LABEL_KEY_RE = /^(?!kong)(?!konnect)(?!insomnia)(?!mesh)(?!kic)[a-z0-9]([\w.:-]*[a-z0-9]|)$/i;

function labelEntryProblem(text: string, re: RegExp, pattern: string): string | null {
  if (text === "" || text.length > 63) return `${text} must have between 1 and 63 characters`;
  return re.test(text) ? null : `${text} is invalid. Must match pattern: ${pattern}`;
}

/** Kong's label rules (Kong Labels AIP): at most 10, `key:value`, reserved key prefixes refused. */
export function labelsProblem(labels: readonly string[]): string | null {
  if (labels.length > 10) return "labels validation failed: count exceeded 10 max elements";
  for (const label of labels) {
    const at = label.indexOf(":");
    const key = at < 0 ? "" : label.slice(0, at);
    const value = at < 0 ? "" : label.slice(at + 1);
    const keyProblem = labelEntryProblem(key, LABEL_KEY_RE, LABEL_KEY_PATTERN);
    if (keyProblem) return `label key validation failed: ${keyProblem}`;
    const valueProblem = labelEntryProblem(value, LABEL_VALUE_RE, LABEL_PATTERN);
    if (valueProblem) return `label value validation failed: ${valueProblem}`;
  }
  return null;
}

function checkDataPlane(s: Settings, error: Report): void {
  const role = 'when role = "data_plane"';
  // gw's pure backup exporter: a data plane that exports config and serves no traffic.
  if (s.proxy_listen.length === 0 && !s.cluster_fallback_config_export)
    error(
      "proxy_listen",
      `proxy_listen must be specified ${role}`,
      "set proxy_listen, e.g. 0.0.0.0:8000 (or turn cluster_fallback_config_export on for a backup-only node)",
    );
  if (s.database !== "off")
    error("database", `only in-memory storage can be used ${role}`, "set database = off in your kong.conf");
  if (s.cluster_use_proxy && !s.proxy_server)
    error(
      "cluster_use_proxy",
      "cluster_use_proxy is turned on but no proxy_server is configured",
      "set proxy_server, or cluster_use_proxy = off",
    );
  const labels = labelsProblem(s.cluster_dp_labels);
  if (labels)
    error(
      "cluster_dp_labels",
      labels,
      "write up to 10 key:value labels of letters, digits, '.', '_', ':' or '-'",
    );
}

function checkRole(s: Settings, error: Report): void {
  if (s.role === "control_plane") checkControlPlane(s, error);
  else if (s.role === "data_plane") checkDataPlane(s, error);
  else if (s.cluster_dp_labels.length > 0)
    error(
      "cluster_dp_labels",
      'cluster_dp_labels can only be used when role = "data_plane"',
      "remove cluster_dp_labels, or set role = data_plane",
    );
}

function checkClusterCertificates(s: Settings, error: Report, resolved: Partial<Settings>): void {
  const hybrid = s.role !== "traditional";
  if (hybrid && (!s.cluster_cert || !s.cluster_cert_key))
    error(
      s.cluster_cert ? "cluster_cert_key" : "cluster_cert",
      "cluster certificate and key must be provided to use Hybrid mode",
      GEN_CERT_FIX,
    );
  if (hybrid && s.cluster_mtls === "pki" && !s.cluster_ca_cert)
    error(
      "cluster_ca_cert",
      'cluster_ca_cert must be specified when cluster_mtls = "pki"',
      "set cluster_ca_cert to the CA that issued the cluster certificates",
    );
  // As in Kong, a traditional node ignores the cluster certificates, so a stale path there does not stop it.
  if (!hybrid) return;
  const certs = [
    ["cluster_cert", "certificate"],
    ["cluster_cert_key", "key"],
    ["cluster_ca_cert", "certificate"],
  ] as const;
  for (const [name, kind] of certs) {
    const value = s[name];
    if (!value) continue;
    const pem = readPemSetting(value, kind);
    if (!pem.ok)
      error(name, pem.problem, `set ${name} to a readable PEM ${kind} file, PEM text or base64 PEM`);
    else resolved[name] = pem.path ?? pem.pem;
  }
}

/** The certificate settings of each kind of listener, by the prefix Kong gives them. */
const LISTENER_CERTIFICATES = [
  { cert: "ssl_cert", key: "ssl_cert_key", listeners: "proxy_listen" },
  { cert: "admin_ssl_cert", key: "admin_ssl_cert_key", listeners: "admin_listen" },
  { cert: "status_ssl_cert", key: "status_ssl_cert_key", listeners: "status_listen" },
] as const;

/** Kong checks the cert/key pairs only when a listener of their kind has `ssl`; gw also checks any that are given. */
function checkListenerCertificates(s: Settings, error: Report, resolved: Partial<Settings>): void {
  for (const { cert, key, listeners } of LISTENER_CERTIFICATES) {
    const ssl = s[listeners].some((l) => l.ssl);
    const certs = s[cert].length;
    const keys = s[key].length;
    if (ssl && certs > 0 && keys === 0)
      error(key, `${key} must be specified`, `set ${key} to the keys of ${cert}, in order`);
    else if (ssl && keys > 0 && certs === 0)
      error(cert, `${cert} must be specified`, `set ${cert} to the certificates of ${key}, in order`);
    else if (certs !== keys)
      error(
        cert,
        `${cert} was specified ${certs} times while ${key} was specified ${keys} times`,
        `give one ${key} per ${cert}, in the same order`,
      );
    for (const [name, kind] of [
      [cert, "certificate"],
      [key, "key"],
    ] as const) {
      const out: string[] = [];
      for (const value of s[name]) {
        const pem = readPemSetting(value, kind);
        if (!pem.ok)
          error(name, pem.problem, `set ${name} to readable PEM ${kind} files, PEM text or base64 PEM`);
        else out.push(pem.path ?? pem.pem);
      }
      resolved[name] = out;
    }
  }
}

/** Kong's `lua_ssl_trusted_certificate`: `system`, or CA files, PEM text or base64 PEM. */
function checkTrustedCertificates(s: Settings, error: Report, resolved: Partial<Settings>): void {
  const trusted: string[] = [];
  for (const value of s.lua_ssl_trusted_certificate) {
    if (value === "system") {
      trusted.push(value);
      continue;
    }
    const pem = readPemSetting(value, "certificate");
    if (!pem.ok)
      error(
        "lua_ssl_trusted_certificate",
        pem.problem,
        "list CA certificate files, PEM text, base64 PEM, or system for the operating system's bundle",
      );
    else trusted.push(pem.path ?? pem.pem);
  }
  resolved.lua_ssl_trusted_certificate = trusted;
}

/** Lowercased names of the headers Kong lets `headers` enable (kong/constants.lua HEADERS plus the two token groups). */
const RESPONSE_HEADERS = new Set([
  "server_tokens",
  "latency_tokens",
  "via",
  "server",
  "x-kong-proxy-latency",
  "x-kong-response-latency",
  "x-kong-admin-latency",
  "x-kong-upstream-latency",
  "x-kong-upstream-status",
  "x-kong-request-id",
  "off",
]);
const UPSTREAM_HEADERS = new Set(["x-kong-request-id", "off"]);

function checkProxy(s: Settings, error: Report, warn: Report): void {
  for (const token of s.headers)
    if (!RESPONSE_HEADERS.has(token.toLowerCase()))
      error(
        "headers",
        `invalid entry '${token}'`,
        `use off or any of: ${[...RESPONSE_HEADERS].slice(0, -1).join(", ")}`,
      );
  for (const token of s.headers_upstream)
    if (!UPSTREAM_HEADERS.has(token.toLowerCase()))
      error("headers_upstream", `invalid entry '${token}'`, "use x-kong-request-id or off");
  for (const address of s.trusted_ips)
    if (address !== "unix:" && !parseBlock(address))
      error(
        "trusted_ips",
        `trusted_ips must be a comma separated list in the form of IPv4 or IPv6 address or CIDR block or 'unix:', got '${address}'`,
        "list addresses or CIDR blocks, e.g. 10.0.0.0/8, ::1",
      );
  if (s.router_flavor === "expressions")
    error(
      "router_flavor",
      "router_flavor = expressions is not supported by gw",
      "set router_flavor = traditional_compatible (routes with paths, hosts, methods and headers)",
    );
  else if (s.router_flavor === "traditional")
    warn(
      "router_flavor",
      "gw routes traditional the same way as traditional_compatible",
      "set router_flavor = traditional_compatible to silence this warning",
    );
}

function checkFallback(s: Settings, error: Report, warn: Report): void {
  if (s.cluster_fallback_config_import && s.role !== "data_plane")
    error(
      "cluster_fallback_config_import",
      'cluster_fallback_config_import can only be used when role = "data_plane"',
      "set cluster_fallback_config_import = off, or role = data_plane",
    );
  if (s.cluster_fallback_config_export && s.role === "traditional")
    error(
      "cluster_fallback_config_export",
      'cluster_fallback_config_export can only be used when role = "control_plane" or "data_plane"',
      "set cluster_fallback_config_export = off, or role = control_plane",
    );
  const used = s.cluster_fallback_config_import || s.cluster_fallback_config_export;
  if (used && !s.cluster_fallback_config_storage)
    error(
      "cluster_fallback_config_storage",
      "cluster_fallback_config_storage must be set when cluster_fallback_config_import or cluster_fallback_config_export is on",
      "set cluster_fallback_config_storage = s3://<bucket>/<prefix> (or gcs://, gs://)",
    );
  if (s.cluster_fallback_export_s3_config && !s.cluster_fallback_config_storage?.startsWith("s3://"))
    warn(
      "cluster_fallback_export_s3_config",
      "is only used with s3:// storage and is ignored",
      "remove it, or use s3:// storage",
    );
}

function checkMisc(s: Settings, error: Report, warn: Report): void {
  if (s.cluster_ocsp !== "off" && s.cluster_mtls === "shared")
    warn(
      "cluster_ocsp",
      "has no effect when cluster_mtls = shared",
      "set cluster_mtls = pki, or cluster_ocsp = off",
    );
  if (s.declarative_config && s.database !== "off")
    warn("declarative_config", "is only read when database = off", "remove it, or set database = off");
  else if (s.declarative_config && !existsSync(s.declarative_config))
    error(
      "declarative_config",
      `no such file at ${s.declarative_config}`,
      "point declarative_config at a kong.yml",
    );
}

/** Runs every cross-setting check on parsed settings; all problems are collected, none stops the others. */
export function checkSettings(s: Settings, sourceOf: SourceOf): CheckResult {
  const errors: SettingError[] = [];
  const warnings: SettingWarning[] = [];
  const resolved: Partial<Settings> = {};
  const error: Report = (setting, problem, fix) =>
    errors.push({ setting, problem, source: sourceOf(setting), fix });
  const warn: Report = (setting, problem, fix) =>
    warnings.push({ setting, problem, source: sourceOf(setting), fix });
  checkRole(s, error);
  checkClusterCertificates(s, error, resolved);
  checkListenerCertificates(s, error, resolved);
  checkTrustedCertificates(s, error, resolved);
  checkProxy(s, error, warn);
  checkFallback(s, error, warn);
  checkMisc(s, error, warn);
  return { errors, warnings, resolved };
}
