/** Loads settings with Kong's precedence (defaults < kong.conf < KONG_* env < flags) and reports every problem at once. */
import { existsSync, readFileSync } from "node:fs";
import { isAbsolute, join, resolve } from "node:path";
import { checkSettings } from "./constraints";
import { closestName, type SettingError, type SettingWarning } from "./errors";
import { parseKongConf } from "./kong-conf";
import {
  isSettingName,
  metaOf,
  SETTING_NAMES,
  type SettingName,
  type Settings,
  SettingsSchema,
} from "./schema";

/** Kong's search path when no `-c` is given (conf_loader/constants.lua DEFAULT_PATHS). */
export const DEFAULT_CONF_PATHS = ["/etc/kong/kong.conf", "/etc/kong.conf"];

export interface LoadOptions {
  /** A kong.conf; when absent the first of DEFAULT_CONF_PATHS that exists is read. */
  confPath?: string;
  /** Defaults to process.env; only `KONG_<SETTING>` names are read. */
  env?: Record<string, string | undefined>;
  /** Setting name to raw value, from parseCliFlags; highest precedence. */
  flags?: Record<string, string>;
  /** Where relative paths (prefix, declarative_config) resolve; defaults to process.cwd(). */
  cwd?: string;
}

export type LoadResult =
  | {
      ok: true;
      settings: Settings;
      /** Where each value came from: `path:line`, `KONG_X`, `--x`, `default` or `not set`. */
      sources: Record<SettingName, string>;
      confPath: string | null;
      warnings: SettingWarning[];
    }
  | { ok: false; errors: SettingError[]; warnings: SettingWarning[] };

interface RawValue {
  value: string;
  source: string;
}

interface Collected {
  raw: Map<SettingName, RawValue>;
  confPath: string | null;
  errors: SettingError[];
  warnings: SettingWarning[];
}

const suggestion = (name: string) => {
  const close = closestName(name, SETTING_NAMES);
  return close ? `did you mean '${close}'?` : "check the name against Kong's kong.conf.default";
};

/** Kong settings (and nginx directive namespaces) gw has no use for; files written for Kong carry them. */
const KONG_ONLY =
  /^(nginx_|lua_|pg_ro_|pg_(schema|max_concurrent_queries|semaphore_timeout|keepalive_timeout|backlog)$|dns_|resolver_|vault_|admin_gui_|pluginserver_|wasm|tracing_|stream_|mem_cache_size|lmdb_|worker_|db_(cache|resurrect|update_propagation)|cluster_(rpc|cjson)|client_ssl|admin_ssl|status_ssl|ssl_(cipher|protocols|prefer|session|dhparam)|anonymous_reports|port_maps|untrusted_lua|proxy_server_ssl_verify|allow_debug_header|request_debug|dedicated_config_processing|error_template_|max_queued_batches|debug_)/;

function unknownKeyWarning(key: string, source: string): SettingWarning {
  if (KONG_ONLY.test(key))
    return {
      setting: key,
      problem: "Kong setting that gw does not use, ignored",
      source,
      fix: "none needed; remove it to silence this warning",
    };
  return { setting: key, problem: "unknown setting, ignored", source, fix: suggestion(key) };
}

/** An empty value unsets the setting at every lower layer too, so the built-in default applies. */
function put(raw: Map<SettingName, RawValue>, name: SettingName, value: string, source: string): void {
  const trimmed = value.trim();
  if (trimmed === "") raw.delete(name);
  else raw.set(name, { value: trimmed, source });
}

function readFile(path: string, out: Collected): void {
  let text: string;
  try {
    text = readFileSync(path, "utf8");
  } catch (error) {
    out.errors.push({
      setting: "conf",
      problem: `could not read configuration file at ${path} (${(error as NodeJS.ErrnoException).code ?? error})`,
      source: "-c",
      fix: "pass an existing, readable kong.conf with -c/--conf",
    });
    return;
  }
  const parsed = parseKongConf(text);
  for (const { line, text: bad } of parsed.malformed)
    out.errors.push({
      setting: "conf",
      problem: `line is not 'key = value': ${bad}`,
      source: `${path}:${line}`,
      fix: "write one 'name = value' per line; start comments with #",
    });
  for (const [key, entry] of parsed.entries) {
    const source = `${path}:${entry.line}`;
    // Kong users' files carry nginx_* and other keys gw has no use for: say so, but keep going.
    if (isSettingName(key)) put(out.raw, key, entry.value, source);
    else out.warnings.push(unknownKeyWarning(key, source));
  }
}

function collect(options: LoadOptions): Collected {
  const out: Collected = { raw: new Map(), confPath: null, errors: [], warnings: [] };
  out.confPath = options.confPath ?? DEFAULT_CONF_PATHS.find((path) => existsSync(path)) ?? null;
  if (out.confPath) readFile(out.confPath, out);
  const env = options.env ?? process.env;
  for (const name of SETTING_NAMES) {
    const variable = `KONG_${name.toUpperCase()}`;
    const value = env[variable];
    if (value !== undefined) put(out.raw, name, value, variable);
  }
  for (const [name, value] of Object.entries(options.flags ?? {})) {
    if (isSettingName(name)) put(out.raw, name, value, `--${name}`);
    else
      out.errors.push({
        setting: name,
        problem: "unknown setting",
        source: `--${name}`,
        fix: suggestion(name),
      });
  }
  return out;
}

function parseValues(out: Collected): {
  values: Record<string, unknown>;
  sources: Record<SettingName, string>;
} {
  const values: Record<string, unknown> = {};
  const sources = {} as Record<SettingName, string>;
  for (const name of SETTING_NAMES) {
    const schema = SettingsSchema.shape[name];
    const given = out.raw.get(name);
    let result = schema.safeParse(given?.value);
    if (!result.success && given) {
      const issue = result.error.issues[0]!;
      out.errors.push({
        setting: name,
        problem: `${name} ${issue.message}`,
        source: given.source,
        fix: metaOf(name).fix,
      });
      // Later checks run on the default so one bad value does not hide the other problems.
      result = schema.safeParse(undefined);
    }
    values[name] = result.data;
    sources[name] = given?.source ?? (result.data === undefined ? "not set" : "default");
  }
  return { values, sources };
}

/** Log files resolve against prefix as nginx does; prefix and declarative_config against the working directory. */
function resolvePaths(settings: Settings, cwd: string): void {
  settings.prefix = resolve(cwd, settings.prefix);
  for (const name of SETTING_NAMES) {
    const value = settings[name];
    if (typeof value !== "string" || name === "prefix") continue;
    const relativeTo = metaOf(name).relativeTo;
    if (!relativeTo || value === "off" || isAbsolute(value)) continue;
    (settings as Record<string, unknown>)[name] =
      relativeTo === "prefix" ? join(settings.prefix, value) : resolve(cwd, value);
  }
}

export function loadSettings(options: LoadOptions = {}): LoadResult {
  const out = collect(options);
  const { values, sources } = parseValues(out);
  const settings = values as Settings;
  resolvePaths(settings, options.cwd ?? process.cwd());
  const checked = checkSettings(settings, (name) => sources[name]);
  const errors = [...out.errors, ...checked.errors];
  const warnings = [...out.warnings, ...checked.warnings];
  if (errors.length > 0) return { ok: false, errors, warnings };
  return {
    ok: true,
    settings: { ...settings, ...checked.resolved },
    sources,
    confPath: out.confPath,
    warnings,
  };
}
