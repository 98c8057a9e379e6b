/** Kong's core entities as zod schemas: fields, defaults and checks as Kong declares them; the one schema source. */
import { createHash, createPrivateKey, createPublicKey, X509Certificate } from "node:crypto";
import { z } from "zod";
import {
  array,
  autoId,
  bool,
  check,
  cookieName,
  type EntityCheck,
  fieldMeta,
  fk,
  HTTP_PROTOCOLS,
  headerName,
  host,
  int,
  ipOrCidr,
  map,
  meta,
  msg,
  num,
  oneOf,
  oneOfInt,
  opt,
  parseHostPort,
  path,
  port,
  protocol,
  req,
  set,
  str,
  tags,
  timestampMs,
  timestampS,
  typeError,
  utf8Name,
  uuid,
  validateHostWithOptionalPort,
  validatePath,
  wildcardHost,
  withChecks,
} from "./fields";

const MAX_TIMEOUT = 2 ** 31 - 2;
const timeout = () => int(1, MAX_TIMEOUT).default(60000);

// ---------------------------------------------------------------- certificates (PEM checks)

function parseCert(pem: string): X509Certificate | string {
  try {
    return new X509Certificate(pem);
  } catch (e) {
    return `invalid certificate: ${(e as Error).message}`;
  }
}

function parseKey(pem: string): ReturnType<typeof createPrivateKey> | string {
  try {
    return createPrivateKey(pem);
  } catch (e) {
    return `invalid key: ${(e as Error).message}`;
  }
}

/** The parse error, if any: the validators only need to know what is wrong. */
const problem = (parsed: unknown) => (typeof parsed === "string" ? parsed : undefined);
const certificate = () => check(str(), (v) => problem(parseCert(v)));
const privateKey = () => check(str(), (v) => problem(parseKey(v)));

function spki(key: ReturnType<typeof createPublicKey>): string {
  return key.export({ type: "spki", format: "der" }).toString("base64");
}

/** True when the PEM key is the private half of the PEM certificate's public key. */
export function certMatchesKey(certPem: string, keyPem: string): boolean {
  const cert = parseCert(certPem);
  const key = parseKey(keyPem);
  if (typeof cert === "string" || typeof key === "string") return false;
  return spki(cert.publicKey) === spki(createPublicKey(key));
}

/** sha256 hex of the certificate's DER, Kong's `cert_digest`. */
export function certDigest(certPem: string): string {
  const cert = parseCert(certPem);
  if (typeof cert === "string") throw new Error(cert);
  return createHash("sha256").update(cert.raw).digest("hex");
}

const CERT_TAG = "-----BEGIN CERTIFICATE-----";

function caCertProblem(pem: string): string | undefined {
  const first = pem.indexOf(CERT_TAG);
  if (first !== -1 && pem.indexOf(CERT_TAG, first + CERT_TAG.length) !== -1)
    return "please submit only one certificate at a time";
  const cert = parseCert(pem);
  if (typeof cert === "string") return cert;
  if (Date.parse(cert.validTo) < Date.now()) return 'certificate expired, "Not After" time is in the past';
  if (!cert.ca)
    return 'certificate does not appear to be a CA because it is missing the "CA" basic constraint';
  return undefined;
}

// ---------------------------------------------------------------- services

const TLS_ONLY = ["client_certificate", "tls_verify", "tls_verify_depth", "ca_certificates"] as const;

export const ServiceSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    name: opt(utf8Name()),
    retries: int(0, 32767).default(5),
    protocol: req(protocol().default("http")),
    host: host(),
    port: req(port().default(80)),
    path: opt(path()),
    connect_timeout: timeout(),
    write_timeout: timeout(),
    read_timeout: timeout(),
    tags: tags(),
    client_certificate: opt(fk("certificates")),
    tls_verify: opt(bool()),
    tls_verify_depth: opt(int(0, 64)),
    ca_certificates: opt(array(uuid())),
    enabled: req(bool().default(true)),
  }),
  [
    {
      conditional: {
        if_field: "protocol",
        if_match: { one_of: ["tcp", "tls", "udp", "grpc", "grpcs"] },
        then_field: "path",
        then_match: { eq: null },
      },
    },
    ...TLS_ONLY.map(
      (field): EntityCheck => ({
        conditional: {
          if_field: "protocol",
          if_match: { not_one_of: ["https", "tls"] },
          then_field: field,
          then_match: { eq: null },
        },
      }),
    ),
  ],
);

/** Kong's `url` shorthand: scheme, host, port and path from one URL, with Kong's port/scheme inference. */
export function expandServiceUrl(input: Record<string, unknown>): Record<string, unknown> {
  if (typeof input.url !== "string") return input;
  const { url, ...rest } = input;
  const m = /^(?:([A-Za-z][A-Za-z0-9+.-]*):\/\/)?(\[[^\]]*\]|[^/:?#]*)(?::(\d*))?([^?#]*)/.exec(url);
  if (!m) return rest;
  const explicitPort = m[3] ? Number(m[3]) : undefined;
  const inferred = explicitPort === 80 ? "http" : explicitPort === 443 ? "https" : undefined;
  const proto = m[1]?.toLowerCase() ?? inferred ?? "http";
  return {
    ...rest,
    protocol: proto,
    host: m[2] ? m[2] : null,
    port: explicitPort ?? (proto === "https" ? 443 : 80),
    path: m[4] ? m[4] : null,
  };
}

// ---------------------------------------------------------------- routes

const PROTOCOL_GROUPS = [
  ["http", "https"],
  ["tcp", "tls", "udp"],
  ["tls_passthrough"],
  ["grpc", "grpcs"],
] as const;

function exclusiveGroups(values: readonly string[]): string | undefined {
  const seen = PROTOCOL_GROUPS.filter((g) => values.some((v) => (g as readonly string[]).includes(v)));
  if (seen.length <= 1) return undefined;
  return `these sets are mutually exclusive: ${seen.map((g) => `(${msg.quoted(g)})`).join(", ")}`;
}

const method = () => check(str(), (v) => (/^[A-Z]+$/.test(v) ? undefined : `invalid value: ${v}`));

function validateRouteHost(h: string): string | undefined {
  if (!/^[^*]*\*?[^*]*$/.test(h)) return "invalid wildcard: must have at most one wildcard";
  if (!/^\*\.|\.\*$|^[^*]*$/.test(h))
    return "invalid wildcard: must be placed at leftmost or rightmost label";
  return validateHostWithOptionalPort(h.replaceAll("*", "abc"));
}

/** Kong's URI normalization for plain route paths: %XX upper-cased, unreserved decoded, dot segments removed. */
export function normalizePath(p: string): string {
  const decoded = p.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return /[A-Za-z0-9\-._~]/.test(ch) ? ch : all.toUpperCase();
  });
  const out: string[] = [];
  const segments = decoded.split("/");
  segments.forEach((seg, i) => {
    if (seg === ".") {
      if (i === segments.length - 1) out.push("");
    } else if (seg === "..") {
      if (out.length > 1) out.pop();
      if (i === segments.length - 1) out.push("");
    } else out.push(seg);
  });
  return out.join("/") || "/";
}

function validateRouterPath(p: string): string | undefined {
  if (!p.startsWith("/") && !p.startsWith("~/"))
    return "should start with: / (fixed path) or ~/ (regex path)";
  if (p.includes("//")) return "must not have empty segments";
  const pct = validatePath(p.startsWith("~") ? p.slice(1) : p);
  if (pct?.startsWith("invalid url-encoded value")) return pct;
  if (!p.startsWith("~")) {
    const normalized = normalizePath(p);
    return p === normalized ? undefined : `non-normalized path, consider use '${normalized}' instead`;
  }
  try {
    new RegExp(p.slice(1));
    return undefined;
  } catch (e) {
    return `invalid regex: '${p.slice(1)}' (PCRE returned: ${(e as Error).message})`;
  }
}

const routeHeaderName = () =>
  check(headerName(), (v) =>
    /^host$/i.test(v)
      ? "cannot contain 'host' header, which must be specified in the 'hosts' attribute"
      : undefined,
  );

const endpointRecord = () =>
  withChecks(
    z.strictObject({ ip: opt(ipOrCidr()), port: opt(port()) }, { error: typeError("expected a record") }),
    [{ at_least_one_of: ["ip", "port"] }],
  );

const SNI_PROTOCOLS = ["grpcs", "https", "tls", "tls_passthrough"];
const STREAM = ["tcp", "tls", "tls_passthrough", "udp"];
const GRPC = ["grpc", "grpcs"];
const streamErr = (f: string) =>
  `cannot set '${f}' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'`;
const grpcErr = (f: string) => `cannot set '${f}' when 'protocols' is 'grpc' or 'grpcs'`;
const httpErr = (f: string) => `cannot set '${f}' when 'protocols' is 'http' or 'https'`;

function forbid(group: readonly string[], field: string, err: string): EntityCheck {
  return {
    conditional: {
      if_field: "protocols",
      if_match: { elements: { one_of: group } },
      then_field: field,
      then_match: { eq: null },
      then_err: err,
      field_only: true,
    },
  };
}

const ROUTE_LISTED_CHECKS: EntityCheck[] = [
  {
    conditional: {
      if_field: "protocols",
      if_match: { elements: { not_one_of: SNI_PROTOCOLS } },
      then_field: "snis",
      then_match: { len_eq: 0 },
      then_err: "'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'",
    },
  },
];

/** Kong's per-protocol route subschemas (http, stream, grpc), as checks on the one route schema. */
const ROUTE_PROTOCOL_CHECKS: EntityCheck[] = [
  forbid(["http", "https"], "sources", httpErr("sources")),
  forbid(["http", "https"], "destinations", httpErr("destinations")),
  {
    conditional_at_least_one_of: {
      if_field: "protocols",
      if_match: { contains: "https" },
      then_at_least_one_of: ["methods", "hosts", "headers", "paths", "snis"],
      then_err: "must set one of %s when 'protocols' is 'https'",
      else_match: { contains: "http" },
      else_then_at_least_one_of: ["methods", "hosts", "headers", "paths"],
      else_then_err: "must set one of %s when 'protocols' is 'http'",
    },
  },
  ...["methods", "hosts", "paths", "headers"].map((f) => forbid(STREAM, f, streamErr(f))),
  {
    conditional_at_least_one_of: {
      if_field: "protocols",
      if_match: { elements: { one_of: ["tcp", "tls", "udp"] } },
      then_at_least_one_of: ["sources", "destinations", "snis"],
      then_err: "must set one of %s when 'protocols' is 'tcp', 'tls' or 'udp'",
    },
  },
  {
    conditional_at_least_one_of: {
      if_field: "protocols",
      if_match: { elements: { one_of: ["tls_passthrough"] } },
      then_at_least_one_of: ["snis"],
      then_err: "must set snis when 'protocols' is 'tls_passthrough'",
    },
  },
  ...["methods", "sources", "destinations"].map((f) => forbid(GRPC, f, grpcErr(f))),
  {
    conditional: {
      if_field: "protocols",
      if_match: { elements: { one_of: GRPC } },
      then_field: "strip_path",
      then_match: { one_of: [false] },
      then_err: grpcErr("strip_path"),
      field_only: true,
    },
  },
  {
    conditional_at_least_one_of: {
      if_field: "protocols",
      if_match: { contains: "grpcs" },
      then_at_least_one_of: ["hosts", "headers", "paths", "snis"],
      then_err: "must set one of %s when 'protocols' is 'grpcs'",
      else_match: { contains: "grpc" },
      else_then_at_least_one_of: ["hosts", "headers", "paths"],
      else_then_err: "must set one of %s when 'protocols' is 'grpc'",
    },
  },
];

export const RouteSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    name: opt(utf8Name()),
    protocols: req(check(set(protocol()).min(1, msg.lenMin(1)), exclusiveGroups).default(["http", "https"])),
    https_redirect_status_code: req(oneOfInt([426, 301, 302, 307, 308]).default(426)),
    strip_path: req(bool().default(true)),
    preserve_host: req(bool().default(false)),
    request_buffering: req(bool().default(true)),
    response_buffering: req(bool().default(true)),
    tags: tags(),
    service: opt(fk("services")),
    snis: opt(set(wildcardHost())),
    sources: opt(set(endpointRecord())),
    destinations: opt(set(endpointRecord())),
    methods: opt(set(method())),
    hosts: opt(array(check(str(), validateRouteHost))),
    paths: opt(array(check(str(), validateRouterPath))),
    headers: opt(map(routeHeaderName(), array(str()))),
    regex_priority: int().default(0),
    path_handling: oneOf(["v0", "v1"]).default("v0"),
  }),
  [...ROUTE_LISTED_CHECKS, ...ROUTE_PROTOCOL_CHECKS],
  ROUTE_LISTED_CHECKS,
);

/** gRPC routes default `strip_path` to false (Kong's grpc subschema), so it is filled before the generic default. */
export function routeInputDefaults(input: Record<string, unknown>): Record<string, unknown> {
  const protocols = input.protocols;
  if (input.strip_path === undefined && Array.isArray(protocols) && protocols.length > 0) {
    if (protocols.every((p) => GRPC.includes(p as string))) return { ...input, strip_path: false };
  }
  return input;
}

// ---------------------------------------------------------------- consumers

export const ConsumerSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    username: opt(meta(str(), { unique: true })),
    custom_id: opt(meta(str(), { unique: true })),
    tags: tags(),
  }),
  [{ at_least_one_of: ["custom_id", "username"] }],
);

// ---------------------------------------------------------------- upstreams

function upstreamNameProblem(name: string): string | undefined {
  const p = parseHostPort(name);
  const label = `Invalid name ('${name}')`;
  if (typeof p === "string") return `${label}; must be a valid hostname`;
  if (p.type !== "name") return `${label}; no ip addresses allowed`;
  if (p.port !== null) return `${label}; no port allowed`;
  return undefined;
}

const HASH_ON = ["none", "consumer", "ip", "header", "cookie", "path", "query_arg", "uri_capture"] as const;
const hashOn = () => oneOf(HASH_ON).default("none");
const seconds = (d: number) => num(0, 65535).default(d);
const oneByte = (d: number) => int(0, 255).default(d);
const statuses = (d: number[]) => array(int(100, 999)).default(d);
const simpleParam = () => str().min(1, msg.lenMin(1));
const record = <S extends z.ZodRawShape>(shape: S) =>
  z.strictObject(shape, { error: typeError("expected a record") }).prefault({} as never);

const healthchecks = () =>
  record({
    active: record({
      type: oneOf(["tcp", "http", "https", "grpc", "grpcs"]).default("http"),
      timeout: seconds(1),
      concurrency: int(1, 2 ** 31).default(10),
      http_path: path().default("/"),
      https_sni: opt(wildcardHost()),
      https_verify_certificate: req(bool().default(true)),
      headers: opt(map(headerName(), array(str()))),
      healthy: record({
        interval: seconds(0),
        http_statuses: statuses([200, 302]),
        successes: oneByte(0),
      }),
      unhealthy: record({
        interval: seconds(0),
        http_statuses: statuses([429, 404, 500, 501, 502, 503, 504, 505]),
        tcp_failures: oneByte(0),
        timeouts: oneByte(0),
        http_failures: oneByte(0),
      }),
    }),
    passive: record({
      type: oneOf(["tcp", "http", "https", "grpc", "grpcs"]).default("http"),
      healthy: record({
        http_statuses: statuses([
          200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
        ]),
        successes: oneByte(0),
      }),
      unhealthy: record({
        http_statuses: statuses([429, 500, 503]),
        tcp_failures: oneByte(0),
        timeouts: oneByte(0),
        http_failures: oneByte(0),
      }),
    }),
    threshold: num(0, 100).default(0),
  });

const requiredWhen = (ifField: string, value: string, thenField: string): EntityCheck => ({
  conditional: {
    if_field: ifField,
    if_match: { match: `^${value}$` },
    then_field: thenField,
    then_match: { required: true },
  },
});
const fallbackOneOf = (value: string, allowed: string[]): EntityCheck => ({
  conditional: {
    if_field: "hash_on",
    if_match: { match: `^${value}$` },
    then_field: "hash_fallback",
    then_match: { one_of: allowed },
  },
});

export const UpstreamSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    name: meta(check(str(), upstreamNameProblem), { unique: true }),
    algorithm: oneOf(["consistent-hashing", "least-connections", "round-robin", "latency"]).default(
      "round-robin",
    ),
    hash_on: hashOn(),
    hash_fallback: hashOn(),
    hash_on_header: opt(headerName()),
    hash_fallback_header: opt(headerName()),
    hash_on_cookie: opt(cookieName()),
    hash_on_cookie_path: path().default("/"),
    hash_on_query_arg: opt(simpleParam()),
    hash_fallback_query_arg: opt(simpleParam()),
    hash_on_uri_capture: opt(simpleParam()),
    hash_fallback_uri_capture: opt(simpleParam()),
    slots: int(10, 2 ** 16).default(10000),
    healthchecks: healthchecks(),
    tags: tags(),
    host_header: opt(check(str(), validateHostWithOptionalPort)),
    client_certificate: opt(fk("certificates")),
    use_srv_name: bool().default(false),
  }),
  [
    requiredWhen("hash_on", "header", "hash_on_header"),
    requiredWhen("hash_fallback", "header", "hash_fallback_header"),
    requiredWhen("hash_on", "cookie", "hash_on_cookie"),
    requiredWhen("hash_fallback", "cookie", "hash_on_cookie"),
    fallbackOneOf("none", ["none"]),
    fallbackOneOf("cookie", ["none"]),
    fallbackOneOf("consumer", ["none", "ip", "header", "cookie", "path", "query_arg", "uri_capture"]),
    fallbackOneOf("ip", ["none", "consumer", "header", "cookie", "path", "query_arg", "uri_capture"]),
    fallbackOneOf("path", ["none", "consumer", "header", "cookie", "query_arg", "ip", "uri_capture"]),
    { distinct: ["hash_on_header", "hash_fallback_header"] },
    requiredWhen("hash_on", "query_arg", "hash_on_query_arg"),
    requiredWhen("hash_fallback", "query_arg", "hash_fallback_query_arg"),
    { distinct: ["hash_on_query_arg", "hash_fallback_query_arg"] },
    requiredWhen("hash_on", "uri_capture", "hash_on_uri_capture"),
    requiredWhen("hash_fallback", "uri_capture", "hash_fallback_uri_capture"),
    { distinct: ["hash_on_uri_capture", "hash_fallback_uri_capture"] },
  ],
);

/** Kong's upstream shorthands: `hash_on` picks the algorithm; least-connections and latency drop hashing. */
export function upstreamShorthands(input: Record<string, unknown>): Record<string, unknown> {
  const out = { ...input };
  if (out.algorithm === "least-connections" || out.algorithm === "latency") out.hash_on = null;
  if ("hash_on" in out) {
    if (out.hash_on === null) out.hash_on = "none";
    else if (out.hash_on === "none") out.algorithm = "round-robin";
    else if (typeof out.hash_on === "string") out.algorithm = "consistent-hashing";
  }
  return out;
}

// ---------------------------------------------------------------- targets

export const TARGET_DEFAULT_PORT = 8000;

function targetProblem(t: string): string | undefined {
  return typeof parseHostPort(t) === "string"
    ? `Invalid target ('${t}'); not a valid hostname or ip address`
    : undefined;
}

export const TargetSchema = z.strictObject({
  id: autoId(),
  created_at: timestampMs(),
  updated_at: timestampMs(),
  upstream: fk("upstreams", "cascade"),
  target: check(str(), targetProblem),
  weight: int(0, 65535).default(100),
  tags: tags(),
});

/** `host[:port]` with Kong's default port 8000 appended (IPv6 bracketed). */
export function formatTarget(target: string): string {
  const p = parseHostPort(target);
  return typeof p === "string" ? target : `${p.host}:${p.port ?? TARGET_DEFAULT_PORT}`;
}

// ---------------------------------------------------------------- plugins

/** Kong Enterprise's dynamic ordering: run before/after the named plugins, per phase (only `access` exists). */
const pluginOrder = () =>
  opt(z.partialRecord(oneOf(["access"]), array(str()), { error: typeError("expected a map") }));

export const PluginSchema = z.strictObject({
  id: autoId(),
  name: str(),
  instance_name: opt(utf8Name()),
  created_at: timestampS(),
  updated_at: timestampS(),
  route: opt(fk("routes", "cascade")),
  service: opt(fk("services", "cascade")),
  consumer: opt(fk("consumers", "cascade")),
  config: opt(
    meta(z.record(z.string(), z.unknown(), { error: typeError("expected a record") }), { abstract: true }),
  ),
  protocols: req(set(protocol()).default([...HTTP_PROTOCOLS])),
  enabled: req(bool().default(true)),
  tags: tags(),
  ordering: opt(
    z.strictObject(
      { before: pluginOrder(), after: pluginOrder() },
      { error: typeError("expected a record") },
    ),
  ),
});

/** What a plugin contributes to validation; the plugin framework builds this map, entities never import it. */
export interface PluginSchemaEntry {
  /** Validates and fills defaults of `config`. */
  schema: z.ZodType;
  /** Protocols the plugin supports; defaults to Kong's http-subsystem list. */
  protocols?: readonly string[];
  /** Kong's `no_consumer`/`no_route`/`no_service` restrictions. */
  noConsumer?: boolean;
  noRoute?: boolean;
  noService?: boolean;
}

export type PluginSchemas = ReadonlyMap<string, PluginSchemaEntry>;

/** A plugin's default `protocols`: Kong's http-subsystem list, narrowed to what the plugin supports. */
export function pluginDefaultProtocols(allowed: readonly string[] | undefined): string[] {
  return HTTP_PROTOCOLS.filter((p) => !allowed || allowed.includes(p));
}

// ---------------------------------------------------------------- certificates, snis, ca_certificates

export const CertificateSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    cert: meta(certificate(), { referenceable: true }),
    key: meta(privateKey(), { referenceable: true, encrypted: true }),
    cert_alt: opt(meta(certificate(), { referenceable: true })),
    key_alt: opt(meta(privateKey(), { referenceable: true, encrypted: true })),
    tags: tags(),
    snis: meta(opt(array(wildcardHost())), { transient: true }),
  }),
  [
    { mutually_required: ["cert_alt", "key_alt"] },
    {
      custom_entity_check: {
        field_sources: ["cert", "key"],
        fn: (e) =>
          certMatchesKey(e.cert as string, e.key as string) ? undefined : "certificate does not match key",
      },
    },
    {
      custom_entity_check: {
        field_sources: ["cert_alt", "key_alt"],
        fn: (e) =>
          typeof e.cert_alt === "string" &&
          typeof e.key_alt === "string" &&
          !certMatchesKey(e.cert_alt, e.key_alt)
            ? "alternative certificate does not match key"
            : undefined,
      },
    },
    {
      custom_entity_check: {
        field_sources: ["cert", "cert_alt"],
        fn: (e) => {
          if (typeof e.cert !== "string" || typeof e.cert_alt !== "string") return undefined;
          const a = parseCert(e.cert);
          const b = parseCert(e.cert_alt);
          if (typeof a === "string" || typeof b === "string") return undefined;
          return a.publicKey.asymmetricKeyType === b.publicKey.asymmetricKeyType
            ? "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type"
            : undefined;
        },
      },
    },
  ],
);

export const SniSchema = z.strictObject({
  id: autoId(),
  name: meta(wildcardHost(), { unique: true, unique_across_ws: true }),
  created_at: timestampS(),
  updated_at: timestampS(),
  tags: tags(),
  certificate: fk("certificates"),
});

export const CaCertificateSchema = withChecks(
  z.strictObject({
    id: autoId(),
    created_at: timestampS(),
    updated_at: timestampS(),
    cert: certificate(),
    cert_digest: opt(meta(str(), { unique: true })),
    tags: tags(),
  }),
  [{ custom_entity_check: { field_sources: ["cert"], fn: (e) => caCertProblem(e.cert as string) } }],
);

// ---------------------------------------------------------------- credentials

export const KeyAuthCredentialSchema = z.strictObject({
  id: autoId(),
  created_at: timestampS(),
  consumer: fk("consumers", "cascade"),
  key: opt(meta(str(), { unique: true, auto: true })),
  tags: tags(),
});

export const BasicAuthCredentialSchema = z.strictObject({
  id: autoId(),
  created_at: timestampS(),
  consumer: fk("consumers", "cascade"),
  username: meta(str(), { unique: true }),
  password: meta(str(), { encrypted: true }),
  tags: tags(),
});

export const AclSchema = z.strictObject({
  id: autoId(),
  created_at: timestampS(),
  consumer: fk("consumers", "cascade"),
  group: str(),
  tags: tags(),
});

/** Kong's basic-auth password storage: sha1 hex of password followed by the consumer id. */
export function hashBasicAuthPassword(password: string, consumerId: string): string {
  return createHash("sha1")
    .update(password + consumerId)
    .digest("hex");
}

// ---------------------------------------------------------------- types

type Entity<T extends z.ZodType> = z.output<T> & { id: string };

export type Service = Entity<typeof ServiceSchema>;
export type Route = Entity<typeof RouteSchema>;
export type Upstream = Entity<typeof UpstreamSchema>;
export type Target = Entity<typeof TargetSchema>;
export type Consumer = Entity<typeof ConsumerSchema>;
export type Plugin = Entity<typeof PluginSchema>;
export type Certificate = Entity<typeof CertificateSchema>;
export type Sni = Entity<typeof SniSchema>;
export type CaCertificate = Entity<typeof CaCertificateSchema>;
export type KeyAuthCredential = Entity<typeof KeyAuthCredentialSchema>;
export type BasicAuthCredential = Entity<typeof BasicAuthCredentialSchema>;
export type Acl = Entity<typeof AclSchema>;

// ---------------------------------------------------------------- registry

export interface ForeignKeyDefinition {
  /** Field holding `{ id }` of the parent, e.g. `service`. */
  field: string;
  /** Parent entity (table) name, e.g. `services`. */
  reference: string;
  /** `cascade` deletes children with the parent; `restrict` refuses to delete a referenced parent (Kong's default). */
  onDelete: "cascade" | "restrict";
  required: boolean;
}

/** Everything the store, the Admin API and declarative config need to handle an entity generically. */
export interface EntityDefinition {
  /** Table name, also the declarative key: `services`, `keyauth_credentials`. */
  name: string;
  schema: z.ZodObject;
  /** Admin API collection: `/services`, `/key-auths`, `/ca_certificates`. */
  adminPath: string;
  /** Collection under the parent for credentials: `/consumers/{c}/key-auth`. */
  nestedAdminPath?: string;
  /** Field the Admin API accepts in place of the id. */
  endpointKey?: string;
  /** Fields unique on their own. */
  unique: string[];
  foreignKeys: ForeignKeyDefinition[];
  /** Fields whose combined values identify the entity (Kong's `cache_key`). */
  cacheKey?: string[];
  /** Values never written to logs (Kong's `encrypted` fields); the Admin API still returns them, as Kong OSS does. */
  secretFields: string[];
  /** Input-only fields (certificates' `snis`) that are never stored. */
  transientFields: string[];
  /** Targets keep timestamps as seconds with millisecond decimals. */
  timestampsMs?: boolean;
  hasUpdatedAt: boolean;
  /** Kong's shorthands, applied to raw input before validation (services `url`, upstream `hash_on`). */
  prepare?: (input: Record<string, unknown>) => Record<string, unknown>;
  /** Canonicalizes a validated entity (targets get their default port). */
  normalize?: (entity: Record<string, unknown>) => Record<string, unknown>;
}

function define(
  name: string,
  schema: z.ZodObject,
  extra: Omit<
    EntityDefinition,
    "name" | "schema" | "unique" | "foreignKeys" | "secretFields" | "transientFields" | "hasUpdatedAt"
  >,
): EntityDefinition {
  const unique: string[] = [];
  const foreignKeys: ForeignKeyDefinition[] = [];
  const secretFields: string[] = [];
  const transientFields: string[] = [];
  for (const [field, fieldSchema] of Object.entries(schema.shape)) {
    const m = fieldMeta(fieldSchema as z.ZodType);
    if (m.unique) unique.push(field);
    if (m.encrypted) secretFields.push(field);
    if (m.transient) transientFields.push(field);
    if (m.type === "foreign" && m.reference) {
      const required = !(fieldSchema as z.ZodType).safeParse(undefined).success;
      foreignKeys.push({ field, reference: m.reference, onDelete: m.on_delete ?? "restrict", required });
    }
  }
  return {
    name,
    schema,
    unique,
    foreignKeys,
    secretFields,
    transientFields,
    hasUpdatedAt: "updated_at" in schema.shape,
    ...extra,
  };
}

/** Every entity, parents before children: the order of DDL, import and export. */
export const ENTITIES: readonly EntityDefinition[] = [
  define("certificates", CertificateSchema, { adminPath: "certificates" }),
  define("ca_certificates", CaCertificateSchema, { adminPath: "ca_certificates" }),
  define("snis", SniSchema, { adminPath: "snis", endpointKey: "name" }),
  define("services", ServiceSchema, {
    adminPath: "services",
    endpointKey: "name",
    prepare: expandServiceUrl,
  }),
  define("routes", RouteSchema, { adminPath: "routes", endpointKey: "name", prepare: routeInputDefaults }),
  define("consumers", ConsumerSchema, { adminPath: "consumers", endpointKey: "username" }),
  define("upstreams", UpstreamSchema, {
    adminPath: "upstreams",
    endpointKey: "name",
    prepare: upstreamShorthands,
  }),
  define("targets", TargetSchema, {
    adminPath: "targets",
    endpointKey: "target",
    cacheKey: ["upstream", "target"],
    timestampsMs: true,
    normalize: (e) => (typeof e.target === "string" ? { ...e, target: formatTarget(e.target) } : e),
  }),
  define("plugins", PluginSchema, {
    adminPath: "plugins",
    endpointKey: "instance_name",
    cacheKey: ["name", "route", "service", "consumer"],
  }),
  define("keyauth_credentials", KeyAuthCredentialSchema, {
    adminPath: "key-auths",
    nestedAdminPath: "key-auth",
    endpointKey: "key",
    cacheKey: ["key"],
  }),
  define("basicauth_credentials", BasicAuthCredentialSchema, {
    adminPath: "basic-auths",
    nestedAdminPath: "basic-auth",
    endpointKey: "username",
    cacheKey: ["username"],
  }),
  define("acls", AclSchema, { adminPath: "acls", nestedAdminPath: "acls", cacheKey: ["consumer", "group"] }),
];

const BY_NAME = new Map(ENTITIES.map((e) => [e.name, e]));
const BY_ADMIN_PATH = new Map(ENTITIES.map((e) => [e.adminPath, e]));

export type EntityName =
  | "certificates"
  | "ca_certificates"
  | "snis"
  | "services"
  | "routes"
  | "consumers"
  | "upstreams"
  | "targets"
  | "plugins"
  | "keyauth_credentials"
  | "basicauth_credentials"
  | "acls";

/** The definition of an entity by table name (`services`); undefined for names gw does not know. */
export function entityDefinition(name: string): EntityDefinition | undefined {
  return BY_NAME.get(name);
}

/** The definition behind an Admin API collection (`key-auths`, `ca_certificates`). */
export function entityByAdminPath(path: string): EntityDefinition | undefined {
  return BY_ADMIN_PATH.get(path);
}
