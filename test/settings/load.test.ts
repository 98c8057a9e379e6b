import { beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import {
  formatSettingErrors,
  type LoadOptions,
  loadSettings,
  parseCliFlags,
  publicSettings,
  type SettingError,
} from "../../src/settings";
import { tempDir } from "../helpers/gw";
import { makePki, type TestPki } from "../proxy/upstream/pki";

let dir: string;
let pki: TestPki;
let certPath: string;
let keyPath: string;
let caPath: string;

beforeAll(async () => {
  dir = tempDir("settings");
  pki = await makePki();
  certPath = join(dir, "cluster.crt");
  keyPath = join(dir, "cluster.key");
  caPath = join(dir, "ca.crt");
  writeFileSync(certPath, pki.client.cert);
  writeFileSync(keyPath, pki.client.key);
  writeFileSync(caPath, pki.ca);
});

let confCount = 0;
const conf = (text: string) => {
  const path = join(dir, `kong-${confCount++}.conf`);
  writeFileSync(path, text);
  return path;
};

/** No /etc/kong/kong.conf and no process environment leak into a test unless it asks. */
const load = (options: LoadOptions = {}) => loadSettings({ env: {}, confPath: conf(""), ...options });

const loaded = (options: LoadOptions = {}) => {
  const result = load(options);
  if (!result.ok) throw new Error(formatSettingErrors(result.errors));
  return result;
};

const failed = (options: LoadOptions): SettingError[] => {
  const result = load(options);
  if (result.ok) throw new Error("expected the settings to be refused");
  return result.errors;
};

const errorFor = (errors: SettingError[], setting: string) => {
  const found = errors.find((e) => e.setting === setting);
  if (!found) throw new Error(`no error for ${setting}; got:\n${formatSettingErrors(errors)}`);
  return found;
};

const hybrid = (role: string, extra: Record<string, string> = {}) => ({
  KONG_ROLE: role,
  KONG_CLUSTER_CERT: certPath,
  KONG_CLUSTER_CERT_KEY: keyPath,
  ...extra,
});

describe("defaults", () => {
  test("with nothing set gw gets Kong's defaults, except database = sqlite", () => {
    const { settings, sources } = loaded();
    expect(settings.role).toBe("traditional");
    expect(settings.database).toBe("sqlite");
    expect(settings.log_level).toBe("notice");
    expect(settings.cluster_max_payload).toBe(16777216);
    expect(settings.cluster_data_plane_purge_delay).toBe(1209600);
    expect(settings.headers).toEqual(["server_tokens", "latency_tokens", "x-kong-request-id"]);
    expect(settings.admin_listen.map((l) => l.listener)).toEqual([
      "127.0.0.1:8001 reuseport backlog=16384",
      "127.0.0.1:8444 http2 ssl reuseport backlog=16384",
    ]);
    expect(settings.status_listen[0]).toMatchObject({ host: "127.0.0.1", port: 8007 });
    expect(settings.cluster_control_plane).toBe("127.0.0.1:8005");
    expect(settings.prefix).toBe("/usr/local/kong");
    expect(settings.pg_password).toBeUndefined();
    expect(sources.role).toBe("default");
    expect(sources.pg_password).toBe("not set");
  });
});

describe("precedence: defaults < file < KONG_* env < flags", () => {
  const file = () => conf("log_level = info\npg_host = file.example\npg_port = 6432\ndatabase = postgres\n");

  test("the file overrides defaults and types its values", () => {
    const { settings, sources } = loaded({ confPath: file() });
    expect(settings.log_level).toBe("info");
    expect(settings.pg_port).toBe(6432);
    expect(sources.pg_port).toMatch(/kong-\d+\.conf:3$/);
  });

  test("the environment overrides the file, the flags override both", () => {
    const { settings, sources } = loaded({
      confPath: file(),
      env: { KONG_LOG_LEVEL: "warn", KONG_PG_HOST: "env.example" },
      flags: { log_level: "debug" },
    });
    expect(settings.log_level).toBe("debug");
    expect(sources.log_level).toBe("--log_level");
    expect(settings.pg_host).toBe("env.example");
    expect(sources.pg_host).toBe("KONG_PG_HOST");
    expect(settings.database).toBe("postgres");
  });

  test("values are trimmed, as Kong strips them", () => {
    expect(loaded({ env: { KONG_LOG_LEVEL: "  warn " } }).settings.log_level).toBe("warn");
  });

  test("an empty value unsets the setting: the default applies again", () => {
    const { settings } = loaded({ confPath: file(), env: { KONG_PG_HOST: "" } });
    expect(settings.pg_host).toBe("127.0.0.1");
  });

  test("booleans and lists from the environment", () => {
    const { settings } = loaded({ env: { KONG_PG_SSL: "on", KONG_TRUSTED_IPS: "10.0.0.0/8, ::1,," } });
    expect(settings.pg_ssl).toBe(true);
    expect(settings.trusted_ips).toEqual(["10.0.0.0/8", "::1"]);
  });

  test("a missing configuration file is an error naming the path", () => {
    const errors = failed({ confPath: join(dir, "missing.conf") });
    expect(formatSettingErrors(errors)).toContain(
      `could not read configuration file at ${join(dir, "missing.conf")}`,
    );
  });
});

describe("unknown keys", () => {
  test("unknown keys in a file are warnings, with a did-you-mean for typos", () => {
    const result = loaded({ confPath: conf("databse = postgres\nnginx_http_client_max_body_size = 8m\n") });
    const text = formatSettingErrors(result.warnings);
    expect(text).toContain("databse: unknown setting, ignored");
    expect(text).toContain("did you mean 'database'?");
    expect(text).toContain("nginx_http_client_max_body_size: Kong setting that gw does not use, ignored");
    expect(result.settings.database).toBe("sqlite");
  });

  test("an unknown flag is an error", () => {
    const errors = failed({ flags: { rolee: "data_plane" } });
    expect(formatSettingErrors(errors)).toBe(
      "rolee: unknown setting (from --rolee). Fix: did you mean 'role'?",
    );
  });

  test("a malformed line is an error with its line number", () => {
    const path = conf("role = traditional\nrole data_plane\n");
    expect(formatSettingErrors(failed({ confPath: path }))).toContain(`(from ${path}:2)`);
  });
});

describe("bad values name the setting, the source and the fix", () => {
  test("proxy_listen = nonsense", () => {
    const path = conf("proxy_listen = nonsense\n");
    const line = formatSettingErrors([errorFor(failed({ confPath: path }), "proxy_listen")]);
    expect(line).toStartWith("proxy_listen must be of form: [off] | <ip>:<port>");
    expect(line).toContain(`(from ${path}:1)`);
    expect(line).toContain("Fix: write entries like '0.0.0.0:8000 reuseport backlog=16384'");
  });

  test("cluster_mtls = bogus, with Kong's wording", () => {
    const e = errorFor(failed({ env: { KONG_CLUSTER_MTLS: "bogus" } }), "cluster_mtls");
    expect(formatSettingErrors([e])).toBe(
      "cluster_mtls has an invalid value: 'bogus' (shared, pki) (from KONG_CLUSTER_MTLS). Fix: set one of: shared, pki",
    );
  });

  test("cluster_max_payload = 10 is under Kong's 4 MB minimum", () => {
    const e = errorFor(failed({ flags: { cluster_max_payload: "10" } }), "cluster_max_payload");
    expect(e.problem).toBe("cluster_max_payload must be 4194304 (4MB) or greater");
    expect(e.source).toBe("--cluster_max_payload");
    expect(e.fix).toContain("4194304");
  });

  test("cluster_data_plane_purge_delay under 60, a word for a number, a word for a boolean", () => {
    const errors = failed({
      env: { KONG_CLUSTER_DATA_PLANE_PURGE_DELAY: "30", KONG_PG_PORT: "five", KONG_PG_SSL: "yes" },
    });
    expect(errorFor(errors, "cluster_data_plane_purge_delay").problem).toBe(
      "cluster_data_plane_purge_delay must be 60 or greater",
    );
    expect(errorFor(errors, "pg_port").problem).toBe("pg_port is not a number: 'five'");
    expect(errorFor(errors, "pg_ssl").problem).toBe("pg_ssl is not a boolean: 'yes'");
  });

  test("headers, trusted_ips and node_id with Kong's messages", () => {
    const errors = failed({
      env: { KONG_HEADERS: "server_tokens, x-bogus", KONG_TRUSTED_IPS: "10.0.0.300", KONG_NODE_ID: "nope" },
    });
    expect(errorFor(errors, "headers").problem).toBe("invalid entry 'x-bogus'");
    expect(errorFor(errors, "trusted_ips").problem).toContain("got '10.0.0.300'");
    expect(errorFor(errors, "node_id").problem).toContain("must be a valid UUID");
  });

  test("router_flavor = expressions is refused; traditional is a warning", () => {
    expect(errorFor(failed({ env: { KONG_ROUTER_FLAVOR: "expressions" } }), "router_flavor").fix).toContain(
      "traditional_compatible",
    );
    const result = loaded({ env: { KONG_ROUTER_FLAVOR: "traditional" } });
    expect(result.warnings.map((w) => w.setting)).toContain("router_flavor");
  });

  test("every problem is reported at once, one line each", () => {
    const path = conf("cluster_mtls = bogus\nlog_level = loud\n");
    const errors = failed({
      confPath: path,
      env: { KONG_CLUSTER_MAX_PAYLOAD: "10" },
      flags: { proxy_listen: "nonsense" },
    });
    const lines = formatSettingErrors(errors).split("\n");
    expect(lines).toHaveLength(4);
    expect(lines.map((l) => l.split(" ")[0])).toEqual(
      expect.arrayContaining(["cluster_mtls", "log_level", "cluster_max_payload", "proxy_listen"]),
    );
    for (const line of lines) expect(line).toMatch(/\(from [^)]+\)\. Fix: \S/);
  });
});

describe("role constraints, with Kong's messages", () => {
  test("data_plane needs database = off, with Kong's hint as the fix", () => {
    const errors = failed({ env: hybrid("data_plane") });
    const e = errorFor(errors, "database");
    expect(e.problem).toBe('only in-memory storage can be used when role = "data_plane"');
    expect(formatSettingErrors([e])).toBe(
      'database: only in-memory storage can be used when role = "data_plane" (default). Fix: set database = off in your kong.conf',
    );
  });

  test("control_plane refuses database = off", () => {
    const e = errorFor(failed({ env: hybrid("control_plane", { KONG_DATABASE: "off" }) }), "database");
    expect(e.problem).toBe('in-memory storage can not be used when role = "control_plane"');
    expect(e.source).toBe("KONG_DATABASE");
  });

  test("control_plane and data_plane need the cluster certificate and key", () => {
    for (const role of ["control_plane", "data_plane"]) {
      const errors = failed({
        env: { KONG_ROLE: role, KONG_DATABASE: role === "data_plane" ? "off" : "sqlite" },
      });
      expect(errorFor(errors, "cluster_cert").problem).toBe(
        "cluster certificate and key must be provided to use Hybrid mode",
      );
    }
    const keyOnly = failed({ env: { KONG_ROLE: "control_plane", KONG_CLUSTER_CERT: certPath } });
    expect(errorFor(keyOnly, "cluster_cert_key").fix).toContain("gw hybrid gen_cert");
  });

  test("control_plane needs admin_listen and cluster_listen, and refuses cluster_use_proxy", () => {
    const errors = failed({
      env: hybrid("control_plane", {
        KONG_ADMIN_LISTEN: "off",
        KONG_CLUSTER_LISTEN: "off",
        KONG_CLUSTER_USE_PROXY: "on",
      }),
    });
    expect(errorFor(errors, "admin_listen").problem).toBe(
      'admin_listen must be specified when role = "control_plane"',
    );
    expect(errorFor(errors, "cluster_listen").problem).toBe(
      'cluster_listen must be specified when role = "control_plane"',
    );
    expect(errorFor(errors, "cluster_use_proxy").problem).toBe(
      'cluster_use_proxy can not be used when role = "control_plane"',
    );
  });

  test("data_plane needs proxy_listen, and cluster_use_proxy needs proxy_server", () => {
    const errors = failed({
      env: hybrid("data_plane", {
        KONG_DATABASE: "off",
        KONG_PROXY_LISTEN: "off",
        KONG_CLUSTER_USE_PROXY: "on",
      }),
    });
    expect(errorFor(errors, "proxy_listen").problem).toBe(
      'proxy_listen must be specified when role = "data_plane"',
    );
    expect(errorFor(errors, "cluster_use_proxy").problem).toBe(
      "cluster_use_proxy is turned on but no proxy_server is configured",
    );
  });

  test("a pure backup exporter is a data plane with export on and proxy_listen off", () => {
    const r = loadSettings({
      confPath: undefined,
      env: hybrid("data_plane", {
        KONG_DATABASE: "off",
        KONG_PROXY_LISTEN: "off",
        KONG_CLUSTER_FALLBACK_CONFIG_EXPORT: "on",
        KONG_CLUSTER_FALLBACK_CONFIG_STORAGE: "s3://backups/prod",
      }),
    });
    expect(r.ok).toBe(true);
  });

  test("pki needs cluster_ca_cert", () => {
    const e = errorFor(
      failed({ env: hybrid("control_plane", { KONG_CLUSTER_MTLS: "pki" }) }),
      "cluster_ca_cert",
    );
    expect(e.problem).toBe('cluster_ca_cert must be specified when cluster_mtls = "pki"');
  });

  test("labels only on data_plane, and Kong's label rules", () => {
    expect(
      errorFor(
        failed({ env: hybrid("control_plane", { KONG_CLUSTER_DP_LABELS: "env:prod" }) }),
        "cluster_dp_labels",
      ).problem,
    ).toBe('cluster_dp_labels can not be used when role = "control_plane"');
    expect(
      errorFor(failed({ env: { KONG_CLUSTER_DP_LABELS: "env:prod" } }), "cluster_dp_labels").problem,
    ).toBe('cluster_dp_labels can only be used when role = "data_plane"');
    const dp = (labels: string) =>
      load({ env: hybrid("data_plane", { KONG_DATABASE: "off", KONG_CLUSTER_DP_LABELS: labels }) });
    const ok = dp("env:prod,deployment:eu-west.1");
    expect(ok.ok && ok.settings.cluster_dp_labels).toEqual(["env:prod", "deployment:eu-west.1"]);
    const problem = (labels: string) => {
      const r = dp(labels);
      return r.ok ? "" : errorFor(r.errors, "cluster_dp_labels").problem;
    };
    expect(problem("kong_env:prod")).toStartWith("label key validation failed: kong_env is invalid");
    expect(problem("env:")).toBe("label value validation failed:  must have between 1 and 63 characters");
    expect(problem("noseparator")).toBe(
      "label key validation failed:  must have between 1 and 63 characters",
    );
    expect(problem(Array.from({ length: 11 }, (_, i) => `k${i}:v`).join(","))).toBe(
      "labels validation failed: count exceeded 10 max elements",
    );
  });

  test("a valid data plane and a valid control plane load", () => {
    const dp = loaded({ env: hybrid("data_plane", { KONG_DATABASE: "off" }) });
    expect(dp.settings.role).toBe("data_plane");
    const cp = loaded({
      env: hybrid("control_plane", { KONG_CLUSTER_MTLS: "pki", KONG_CLUSTER_CA_CERT: caPath }),
    });
    expect(cp.settings.cluster_ca_cert).toBe(caPath);
  });
});

describe("cluster certificates: path, PEM text or base64 PEM", () => {
  test("a path stays an absolute path; PEM and base64 PEM become PEM text", () => {
    const base64 = Buffer.from(pki.client.key).toString("base64");
    const { settings } = loaded({
      env: hybrid("data_plane", {
        KONG_DATABASE: "off",
        KONG_CLUSTER_CERT: pki.client.cert,
        KONG_CLUSTER_CERT_KEY: base64,
      }),
    });
    expect(settings.cluster_cert).toBe(pki.client.cert);
    expect(settings.cluster_cert_key).toBe(pki.client.key);
    const fromFile = loaded({ env: hybrid("data_plane", { KONG_DATABASE: "off" }) });
    expect(fromFile.settings.cluster_cert).toBe(certPath);
  });

  test("a missing file and a non-certificate are errors; key material never appears in the message", () => {
    const garbageKey = "-----BEGIN PRIVATE KEY-----\nc2VjcmV0LWJ1dC1icm9rZW4=\n-----END PRIVATE KEY-----\n";
    const errors = failed({
      env: hybrid("control_plane", {
        KONG_CLUSTER_CERT: join(dir, "nope.crt"),
        KONG_CLUSTER_CERT_KEY: garbageKey,
      }),
    });
    expect(errorFor(errors, "cluster_cert").problem).toBe(`no such file at ${join(dir, "nope.crt")}`);
    const keyLine = formatSettingErrors([errorFor(errors, "cluster_cert_key")]);
    expect(keyLine).toContain("failed loading key from the inline value");
    expect(keyLine).not.toContain("c2VjcmV0");
  });

  test("a traditional node ignores the cluster certificates, as Kong does", () => {
    const { settings } = loaded({ env: { KONG_CLUSTER_CERT: join(dir, "stale.crt") } });
    expect(settings.role).toBe("traditional");
  });

  test("a key file given as cluster_cert is refused", () => {
    const errors = failed({ env: hybrid("control_plane", { KONG_CLUSTER_CERT: keyPath }) });
    expect(errorFor(errors, "cluster_cert").problem).toStartWith(
      `failed loading certificate from ${keyPath}`,
    );
  });
});

describe("proxy certificates", () => {
  test("ssl_cert without ssl_cert_key, mismatched counts, and a bad trusted CA are refused with Kong's messages", () => {
    const missingKey = failed({ env: { KONG_SSL_CERT: certPath } });
    expect(errorFor(missingKey, "ssl_cert_key").problem).toBe("ssl_cert_key must be specified");
    const mismatch = failed({ env: { KONG_SSL_CERT: `${certPath},${caPath}`, KONG_SSL_CERT_KEY: keyPath } });
    expect(errorFor(mismatch, "ssl_cert").problem).toBe(
      "ssl_cert was specified 2 times while ssl_cert_key was specified 1 times",
    );
    const trusted = failed({ env: { KONG_LUA_SSL_TRUSTED_CERTIFICATE: `system,${keyPath}` } });
    expect(errorFor(trusted, "lua_ssl_trusted_certificate").problem).toStartWith(
      `failed loading certificate from ${keyPath}`,
    );
  });

  test("matching certificate and key lists load, and system stays in the trusted list", () => {
    const { settings } = loaded({
      env: {
        KONG_SSL_CERT: certPath,
        KONG_SSL_CERT_KEY: keyPath,
        KONG_LUA_SSL_TRUSTED_CERTIFICATE: `system, ${caPath}`,
      },
    });
    expect(settings.ssl_cert).toEqual([certPath]);
    expect(settings.lua_ssl_trusted_certificate).toEqual(["system", caPath]);
  });
});

describe("fallback config settings", () => {
  const dp = (extra: Record<string, string>) => hybrid("data_plane", { KONG_DATABASE: "off", ...extra });

  test("a malformed storage URL is refused with the accepted forms", () => {
    const e = errorFor(
      failed({ env: dp({ KONG_CLUSTER_FALLBACK_CONFIG_STORAGE: "ftp://bucket/x" }) }),
      "cluster_fallback_config_storage",
    );
    expect(e.problem).toContain('unknown scheme "ftp://"');
    expect(e.fix).toContain("s3://<bucket>/<prefix>");
  });

  test("import on a non data plane, and import or export without storage, are refused", () => {
    const cp = failed({ env: hybrid("control_plane", { KONG_CLUSTER_FALLBACK_CONFIG_IMPORT: "on" }) });
    expect(errorFor(cp, "cluster_fallback_config_import").problem).toBe(
      'cluster_fallback_config_import can only be used when role = "data_plane"',
    );
    expect(errorFor(cp, "cluster_fallback_config_storage").problem).toContain("must be set");
    const exporter = failed({ env: dp({ KONG_CLUSTER_FALLBACK_CONFIG_EXPORT: "on" }) });
    expect(errorFor(exporter, "cluster_fallback_config_storage").source).toBe("not set");
  });

  test("a working importer: storage, S3 parameters as a JSON object, an encryption key", () => {
    const { settings } = loaded({
      env: dp({
        KONG_CLUSTER_FALLBACK_CONFIG_IMPORT: "on",
        KONG_CLUSTER_FALLBACK_CONFIG_STORAGE: "s3://my-bucket/gw",
        KONG_CLUSTER_FALLBACK_EXPORT_S3_CONFIG: '{"ServerSideEncryption":"aws:kms"}',
        KONG_CLUSTER_FALLBACK_CONFIG_ENCRYPTION_KEY: "correct horse battery staple",
      }),
    });
    expect(settings.cluster_fallback_config_import).toBe(true);
    expect(settings.cluster_fallback_export_s3_config).toEqual({ ServerSideEncryption: "aws:kms" });
    expect(settings.cluster_fallback_config_export_delay).toBe(60);
  });

  test("S3 parameters that are not a JSON object are refused", () => {
    const e = errorFor(
      failed({ env: { KONG_CLUSTER_FALLBACK_EXPORT_S3_CONFIG: "[1,2]" } }),
      "cluster_fallback_export_s3_config",
    );
    expect(e.problem).toContain("is not a JSON object");
  });
});

describe("paths", () => {
  test("prefix resolves against the working directory, log files against prefix, /dev/stdout and off stay", () => {
    const { settings } = loaded({
      cwd: dir,
      env: { KONG_PREFIX: "run", KONG_ADMIN_ACCESS_LOG: "/dev/stdout", KONG_PROXY_ACCESS_LOG: "off" },
    });
    expect(settings.prefix).toBe(join(dir, "run"));
    expect(settings.proxy_error_log).toBe(join(dir, "run", "logs/error.log"));
    expect(settings.admin_access_log).toBe("/dev/stdout");
    expect(settings.proxy_access_log).toBe("off");
  });

  test("declarative_config resolves against the working directory and must exist when database = off", () => {
    writeFileSync(join(dir, "kong.yml"), '_format_version: "3.0"\n');
    const { settings } = loaded({
      cwd: dir,
      env: { KONG_DATABASE: "off", KONG_DECLARATIVE_CONFIG: "kong.yml" },
    });
    expect(settings.declarative_config).toBe(join(dir, "kong.yml"));
    const e = errorFor(
      failed({ cwd: dir, env: { KONG_DATABASE: "off", KONG_DECLARATIVE_CONFIG: "gone.yml" } }),
      "declarative_config",
    );
    expect(e.problem).toBe(`no such file at ${join(dir, "gone.yml")}`);
  });
});

describe("publicSettings", () => {
  test("sensitive values are masked, others shown, listeners in Kong's two forms", () => {
    const { settings } = loaded({
      env: hybrid("data_plane", {
        KONG_DATABASE: "off",
        KONG_PG_PASSWORD: "hunter2",
        KONG_CLUSTER_CERT_KEY: pki.client.key,
        KONG_CLUSTER_FALLBACK_CONFIG_ENCRYPTION_KEY: "a passphrase long enough",
      }),
    });
    const shown = publicSettings(settings);
    expect(shown.pg_password).toBe("******");
    expect(shown.cluster_cert_key).toBe("******");
    expect(shown.cluster_fallback_config_encryption_key).toBe("******");
    expect(JSON.stringify(shown)).not.toContain("hunter2");
    expect(JSON.stringify(shown)).not.toContain("PRIVATE KEY");
    expect(shown.role).toBe("data_plane");
    expect(shown.cluster_cert).toBe(certPath);
    expect(shown.proxy_listen).toEqual([
      "0.0.0.0:8000 reuseport backlog=16384",
      "0.0.0.0:8443 http2 ssl reuseport backlog=16384",
    ]);
    expect((shown.proxy_listeners as { ip: string; port: number; ssl: boolean }[])[1]).toMatchObject({
      ip: "0.0.0.0",
      port: 8443,
      ssl: true,
    });
  });

  test("unset sensitive settings are not invented", () => {
    expect(publicSettings(loaded().settings).pg_password).toBeUndefined();
  });
});

describe("parseCliFlags", () => {
  test("-c/--conf, --name value, --name=value, dashes as underscores, positionals in order", () => {
    expect(
      parseCliFlags([
        "-c",
        "/etc/gw.conf",
        "--role",
        "data_plane",
        "--cluster-mtls=pki",
        "kong.yml",
        "--database=off",
      ]),
    ).toEqual({
      confPath: "/etc/gw.conf",
      flags: { role: "data_plane", cluster_mtls: "pki", database: "off" },
      rest: ["kong.yml"],
    });
    expect(parseCliFlags(["--conf=/x.conf", "-p", "./run"]).confPath).toBe("/x.conf");
    expect(parseCliFlags(["-p", "./run"]).flags).toEqual({ prefix: "./run" });
  });

  test("a flag with no value is a switch, and -- ends the options", () => {
    expect(
      parseCliFlags(["--cluster_fallback_config_import", "--role", "data_plane", "--", "--not-a-flag"]),
    ).toEqual({
      flags: { cluster_fallback_config_import: "on", role: "data_plane" },
      rest: ["--not-a-flag"],
    });
  });

  test("flags feed loadSettings at the highest precedence", () => {
    const { confPath, flags } = parseCliFlags(["-c", conf("log_level = info\n"), "--log_level", "error"]);
    expect(loaded({ confPath, flags }).settings.log_level).toBe("error");
  });
});
