/** Every gw setting in one zod schema: Kong's name, type and default, a description, and how to fix a bad value. */
import { z } from "zod";
import { LOG_LEVELS } from "../log/logger";
import { parseStorageUrl } from "../resilience/storage/url";
import { parseBoolean, parseList } from "./kong-conf";
import { parseHostPort, parseListen } from "./listen";

export interface SettingMeta {
  /** One imperative sentence telling the user what to write instead of a bad value. */
  fix: string;
  /** Masked in `GET /` and never logged: passwords, keys, inline configs. */
  sensitive: boolean;
  /** How a relative path resolves: against `prefix` (log files, as nginx does) or the current directory. */
  relativeTo?: "prefix" | "cwd";
  /** Kong's default where gw's differs, for docs. */
  kongDefault?: string;
}

export const settingMeta = z.registry<SettingMeta>();

type Extra = Partial<SettingMeta>;

function define<T extends z.ZodType>(schema: T, description: string, fix: string, extra: Extra = {}): T {
  const described = schema.describe(description);
  settingMeta.add(described as z.ZodType, { sensitive: false, ...extra, fix: extra.fix ?? fix });
  return described;
}

/** Raw values arrive as strings (file, env, flags); already typed values pass through so the schema also parses objects. */
const fromString =
  <T>(convert: (text: string) => T | undefined) =>
  (value: unknown) =>
    typeof value === "string" ? (convert(value) ?? value) : value;

const toNumber = fromString((text) => (/^\s*-?\d+(\.\d+)?\s*$/.test(text) ? Number(text) : undefined));
const toBoolean = fromString(parseBoolean);
const toList = fromString(parseList);

const quoted = (input: unknown) => `'${Array.isArray(input) ? input.join(", ") : String(input)}'`;

const text = (description: string, fallback: string, extra?: Extra) =>
  define(z.string().default(fallback), description, "set a text value", extra);

const optionalText = (description: string, extra?: Extra) =>
  define(z.string().optional(), description, "set a text value or leave it empty", extra);

const flag = (description: string, fallback: boolean, extra?: Extra) =>
  define(
    z
      .preprocess(toBoolean, z.boolean({ error: (iss) => `is not a boolean: ${quoted(iss.input)}` }))
      .default(fallback),
    description,
    "set on or off",
    extra,
  );

interface Bounds {
  min?: number;
  max?: number;
  /** Kong's wording for the lower bound, e.g. "4194304 (4MB)". */
  minText?: string;
  integer?: boolean;
}

function numberSchema({ min, max, minText, integer = true }: Bounds) {
  let schema = z.number({ error: (iss) => `is not a number: ${quoted(iss.input)}` });
  if (integer) schema = schema.int({ error: (iss) => `must be an integer, got ${quoted(iss.input)}` });
  if (min !== undefined) schema = schema.min(min, { error: `must be ${minText ?? min} or greater` });
  if (max !== undefined) schema = schema.max(max, { error: `must be ${max} or less` });
  return z.preprocess(toNumber, schema);
}

function boundsFix({ min, max, minText, integer = true }: Bounds): string {
  const kind = integer ? "a whole number" : "a number";
  if (min !== undefined && max !== undefined) return `set ${kind} from ${min} to ${max}`;
  if (min !== undefined) return `set ${kind} of ${minText ?? min} or greater`;
  return `set ${kind}`;
}

const num = (description: string, fallback: number, bounds: Bounds = {}, extra?: Extra) =>
  define(numberSchema(bounds).default(fallback), description, boundsFix(bounds), extra);

const optionalNum = (description: string, bounds: Bounds = {}) =>
  define(numberSchema(bounds).optional(), description, boundsFix(bounds));

const choice = <const T extends readonly [string, ...string[]]>(
  description: string,
  values: T,
  fallback: T[number],
  extra?: Extra,
) =>
  define(
    z
      .enum(values, { error: (iss) => `has an invalid value: ${quoted(iss.input)} (${values.join(", ")})` })
      .default(fallback as never),
    description,
    `set one of: ${values.join(", ")}`,
    extra,
  );

const list = (description: string, fallback: string[], extra?: Extra) =>
  define(
    z.preprocess(toList, z.array(z.string())).default(fallback),
    description,
    "set a comma-separated list",
    extra,
  );

/** Parsed into listeners; the default is Kong's text so it goes through the same parser. */
const listen = (description: string, fallback: string) =>
  define(
    z
      .preprocess(toList, z.array(z.string()))
      .transform((entries, ctx) => {
        const result = parseListen(entries);
        if (result.ok) return result.listeners;
        ctx.addIssue({ code: "custom", message: result.problem });
        return z.NEVER;
      })
      .prefault(fallback as never),
    description,
    "write entries like '0.0.0.0:8000 reuseport backlog=16384', comma-separated, or off",
  );

const hostPort = (description: string, fallback: string) =>
  define(
    z
      .string()
      .default(fallback)
      .refine((value) => parseHostPort(value) !== null, {
        error: (iss) => `is not a <host>:<port> address: ${quoted(iss.input)}`,
      }),
    description,
    "write <host>:<port>, e.g. cp.example.com:8005",
  );

const storageUrl = (description: string) =>
  define(
    z
      .string()
      .optional()
      .superRefine((value, ctx) => {
        if (value === undefined) return;
        try {
          parseStorageUrl(value);
        } catch (error) {
          // The storage parser's message starts with the setting name, which the caller already shows.
          ctx.addIssue({ code: "custom", message: (error as Error).message.replace(/^[a-z_]+: /, "") });
        }
      }),
    description,
    "write s3://<bucket>/<prefix>, gcs://<bucket>/<prefix> or gs://<bucket>/<prefix>",
  );

const toJson = fromString((value) => {
  try {
    return JSON.parse(value) as unknown;
  } catch {
    return undefined;
  }
});

const jsonObject = (description: string) =>
  define(
    z
      .preprocess(
        toJson,
        z.record(z.string(), z.unknown(), { error: (iss) => `is not a JSON object: ${quoted(iss.input)}` }),
      )
      .optional(),
    description,
    `write a JSON object, e.g. {"ServerSideEncryption":"aws:kms"}`,
  );

const DEFAULT_PROXY_LISTEN =
  "0.0.0.0:8000 reuseport backlog=16384, 0.0.0.0:8443 http2 ssl reuseport backlog=16384";
const DEFAULT_ADMIN_LISTEN =
  "127.0.0.1:8001 reuseport backlog=16384, 127.0.0.1:8444 http2 ssl reuseport backlog=16384";

const logPath = (description: string, fallback: string) =>
  text(description, fallback, {
    relativeTo: "prefix",
    fix: "set a path (relative to prefix), /dev/stdout, or off",
  });

export const SettingsSchema = z.object({
  // General
  prefix: text(
    "Directory for gw's working files (node id, config cache, SQLite store, logs). Kong's default is kept; " +
      "use -p/--prefix or KONG_PREFIX to run without root. A relative path resolves against the current directory.",
    "/usr/local/kong/",
    { relativeTo: "cwd", fix: "set a directory gw may write to, e.g. prefix = ./gw-prefix" },
  ),
  log_level: choice("Error log level.", LOG_LEVELS, "notice"),
  proxy_access_log: logPath(
    "Proxy access log: a path (relative to prefix), /dev/stdout, or off.",
    "logs/access.log",
  ),
  proxy_error_log: logPath("Error log path, relative to prefix, or /dev/stderr.", "logs/error.log"),
  admin_access_log: logPath("Admin API access log, relative to prefix, or off.", "logs/admin_access.log"),
  admin_error_log: logPath("Admin API error log, relative to prefix.", "logs/error.log"),
  status_access_log: logPath("Status API access log, relative to prefix, or off.", "off"),
  status_error_log: logPath("Status API error log, relative to prefix.", "logs/status_error.log"),
  plugins: list("Plugins this node loads: bundled, plugin names, or off.", ["bundled"]),
  nginx_worker_processes: text(
    "Accepted so Kong's kong.conf files load; ignored (gw serves from one process per node).",
    "auto",
  ),
  node_id: define(
    z.uuid({ error: (iss) => `must be a valid UUID, got ${quoted(iss.input)}` }).optional(),
    "This node's id; generated and kept in <prefix>/kong.id when not set.",
    "set a UUID such as 3f1a5c9e-8b0d-4c2e-9f6a-1d2b3c4d5e6f, or leave it empty",
  ),
  error_default_type: choice(
    "Body type of gw's own error responses when the client's Accept header names none.",
    ["application/json", "application/xml", "text/html", "text/plain"],
    "text/plain",
  ),

  // Listeners
  proxy_listen: listen("Proxy listeners (traditional and data_plane roles).", DEFAULT_PROXY_LISTEN),
  admin_listen: listen("Admin API listeners (traditional and control_plane roles).", DEFAULT_ADMIN_LISTEN),
  status_listen: listen(
    "Status API listeners (/status, /status/ready, /metrics); every role.",
    "127.0.0.1:8007 reuseport backlog=16384",
  ),
  cluster_listen: listen("Where a control plane accepts data plane connections (mTLS).", "0.0.0.0:8005"),

  // Hybrid mode
  role: choice(
    "traditional (Admin API and proxy), control_plane (Admin API, pushes config) or data_plane (proxy, config from the CP).",
    ["traditional", "control_plane", "data_plane"],
    "traditional",
  ),
  cluster_control_plane: hostPort(
    "The control plane a data plane connects to, <host>:<port>.",
    "127.0.0.1:8005",
  ),
  cluster_mtls: choice(
    "shared: CP and DP present the same certificate; pki: certificates issued by cluster_ca_cert.",
    ["shared", "pki"],
    "shared",
  ),
  cluster_cert: optionalText("Cluster certificate: a path, PEM text or base64 PEM.", {
    fix: "set a certificate file path (e.g. from `gw hybrid gen_cert`), PEM text or base64 PEM",
  }),
  cluster_cert_key: optionalText("Cluster certificate key: a path, PEM text or base64 PEM.", {
    sensitive: true,
    fix: "set the private key file path (e.g. from `gw hybrid gen_cert`), PEM text or base64 PEM",
  }),
  cluster_ca_cert: optionalText(
    "CA that issued the cluster certificates (pki mode): a path, PEM text or base64 PEM.",
    {
      fix: "set the CA certificate file path, PEM text or base64 PEM",
    },
  ),
  cluster_server_name: optionalText(
    "Server name a data plane expects in the CP certificate (pki mode); defaults to the cluster_control_plane host.",
  ),
  cluster_ocsp: choice(
    "Check DP certificate revocation via OCSP (control plane, pki mode).",
    ["on", "off", "optional"],
    "off",
  ),
  cluster_allowed_common_names: list(
    "DP certificate common names a CP accepts in pki mode; empty means the CP certificate's parent domain.",
    [],
  ),
  cluster_max_payload: num("Largest config payload a data plane accepts, in bytes.", 16777216, {
    min: 4194304,
    minText: "4194304 (4MB)",
  }),
  cluster_data_plane_purge_delay: num(
    "Seconds before a silent data plane is removed from clustering_data_planes.",
    1209600,
    {
      min: 60,
    },
  ),
  cluster_dp_labels: list(
    "Data plane labels, key:value pairs sent to the control plane (data_plane only).",
    [],
  ),
  cluster_use_proxy: flag("Reach the control plane through proxy_server (data_plane only).", false),
  proxy_server: optionalText("Forward proxy URL for data plane to control plane traffic.", {
    sensitive: true,
  }),
  db_update_frequency: num("Seconds between checks for database changes on other nodes.", 5, { min: 1 }),
  declarative_config: optionalText(
    "Declarative config file loaded at start (database = off); a relative path resolves against the current directory.",
    { relativeTo: "cwd" },
  ),
  declarative_config_string: optionalText("Declarative config as a YAML or JSON string (database = off).", {
    sensitive: true,
  }),

  // Datastore
  database: choice(
    "sqlite (gw's embedded store in <prefix>), postgres, or off (declarative config / data plane).",
    ["off", "sqlite", "postgres"],
    "sqlite",
    { kongDefault: "postgres" },
  ),
  pg_host: text("PostgreSQL host.", "127.0.0.1"),
  pg_port: num("PostgreSQL port.", 5432, { min: 1, max: 65535 }),
  pg_user: text("PostgreSQL user.", "kong"),
  pg_password: optionalText("PostgreSQL password.", { sensitive: true }),
  pg_database: text("PostgreSQL database.", "kong"),
  pg_ssl: flag("Connect to PostgreSQL over TLS.", false),
  pg_ssl_verify: flag(
    "Verify the PostgreSQL server certificate (against lua_ssl_trusted_certificate).",
    false,
  ),
  pg_timeout: num("PostgreSQL connect and query timeout, in milliseconds.", 5000, { min: 1 }),
  pg_pool_size: optionalNum("PostgreSQL connections per node.", { min: 1 }),

  // Proxy
  headers: list(
    "Headers gw adds to responses: server_tokens, latency_tokens, x-kong-request-id, …, or off.",
    ["server_tokens", "latency_tokens", "x-kong-request-id"],
  ),
  headers_upstream: list("Headers gw adds to upstream requests: x-kong-request-id, or off.", [
    "x-kong-request-id",
  ]),
  trusted_ips: list("Addresses or CIDR blocks whose X-Forwarded-* and real_ip_header are believed.", []),
  real_ip_header: text("Header holding the client address behind a trusted proxy.", "X-Real-IP"),
  real_ip_recursive: flag(
    "Take the last untrusted address in real_ip_header rather than the last one.",
    false,
  ),
  ssl_cert: list(
    "Proxy TLS certificates (paths, PEM or base64 PEM); a self-signed one is made when empty.",
    [],
  ),
  ssl_cert_key: list("Keys for ssl_cert, in the same order.", [], { sensitive: true }),
  admin_ssl_cert: list(
    "Admin API TLS certificates (paths, PEM or base64 PEM); a self-signed one is made when empty.",
    [],
  ),
  admin_ssl_cert_key: list("Keys for admin_ssl_cert, in the same order.", [], { sensitive: true }),
  status_ssl_cert: list(
    "Status API TLS certificates (paths, PEM or base64 PEM); a self-signed one is made when empty.",
    [],
  ),
  status_ssl_cert_key: list("Keys for status_ssl_cert, in the same order.", [], { sensitive: true }),
  lua_ssl_trusted_certificate: list(
    "CA certificates gw trusts for outgoing TLS: system, paths, PEM or base64 PEM.",
    ["system"],
  ),
  lua_ssl_verify_depth: num("Longest certificate chain gw verifies for outgoing TLS.", 1, { min: 0 }),
  router_flavor: choice(
    "Route matching; gw implements traditional_compatible (traditional is routed the same way).",
    ["traditional_compatible", "traditional", "expressions"],
    "traditional_compatible",
  ),
  upstream_keepalive_pool_size: num("Idle upstream connections kept per upstream.", 512, { min: 0 }),
  upstream_keepalive_max_requests: num("Requests per upstream connection before it is closed.", 10000, {
    min: 0,
  }),
  upstream_keepalive_idle_timeout: num("Seconds an idle upstream connection is kept.", 60, { min: 0 }),

  // Data plane resilience (fallback config)
  cluster_fallback_config_import: flag(
    "Data plane: load config from cluster_fallback_config_storage when the CP is unreachable at first start.",
    false,
  ),
  cluster_fallback_config_export: flag("Export each new config to cluster_fallback_config_storage.", false),
  cluster_fallback_config_storage: storageUrl(
    "Fallback config storage: s3://bucket/prefix, gcs://bucket/prefix or gs://.",
  ),
  cluster_fallback_config_export_delay: num("Minimum seconds between two exports.", 60, { min: 0 }),
  cluster_fallback_export_s3_config: jsonObject("JSON object merged into the S3 PutObject parameters."),
  cluster_fallback_config_encryption_key: define(
    z.string().min(16, { error: "is too short (at least 16 characters)" }).optional(),
    "gw extension: passphrase that encrypts the exported config (AES-256-GCM); the same on exporters and importers.",
    "set a long random passphrase, e.g. the output of `openssl rand -base64 32`",
    { sensitive: true },
  ),
});

export type Settings = z.output<typeof SettingsSchema>;
export type SettingName = keyof Settings;

export const SETTING_NAMES = Object.keys(SettingsSchema.shape) as SettingName[];

export function metaOf(name: SettingName): SettingMeta {
  return settingMeta.get(SettingsSchema.shape[name])!;
}

export const SENSITIVE_SETTINGS: ReadonlySet<SettingName> = new Set(
  SETTING_NAMES.filter((n) => metaOf(n).sensitive),
);

export const isSettingName = (name: string): name is SettingName => Object.hasOwn(SettingsSchema.shape, name);
