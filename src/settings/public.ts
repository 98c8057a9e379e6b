/** Settings as `GET /` shows them (Kong's `configuration`): sensitive values masked, listeners in Kong's two forms. */
import type { Listener } from "./listen";
import {
  metaOf,
  SENSITIVE_SETTINGS,
  SETTING_NAMES,
  type SettingName,
  type Settings,
  SettingsSchema,
} from "./schema";

/** Kong's CONF_SENSITIVE_PLACEHOLDER. */
export const SENSITIVE_PLACEHOLDER = "******";

const LISTEN_SETTINGS = ["proxy_listen", "admin_listen", "status_listen", "cluster_listen"] as const;

/** A copy safe to serve and log: sensitive values that are set become `******`. */
export function publicSettings(settings: Settings): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const name of SETTING_NAMES) {
    const value = settings[name];
    if (value === undefined) continue;
    const empty = Array.isArray(value) && value.length === 0;
    out[name] = SENSITIVE_SETTINGS.has(name) && !empty ? SENSITIVE_PLACEHOLDER : value;
  }
  // Kong shows `proxy_listen` as the directive strings and `proxy_listeners` as the parsed entries.
  for (const name of LISTEN_SETTINGS) {
    const listeners = settings[name] as Listener[];
    out[name] = listeners.map((l) => l.listener);
    out[`${name}ers`] = listeners.map(({ listener, host, ...flags }) => ({
      ...flags,
      ip: host.includes(":") ? `[${host}]` : host,
      listener,
    }));
  }
  return out;
}

export interface SettingReference {
  name: SettingName;
  /** In kong.conf form (`on`, `a, b`, `NONE` when unset), as kong.conf.default shows defaults. */
  default: string;
  description: string;
  sensitive: boolean;
  /** Kong's default where gw's differs. */
  kongDefault?: string;
}

function confText(value: unknown): string {
  if (value === undefined) return "NONE";
  if (typeof value === "boolean") return value ? "on" : "off";
  if (Array.isArray(value))
    return value.map((item) => (typeof item === "string" ? item : (item as Listener).listener)).join(", ");
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

/** Every setting with its default and description, for `gw check --help` style listings and docs. */
export function settingsReference(): SettingReference[] {
  return SETTING_NAMES.map((name) => {
    const schema = SettingsSchema.shape[name];
    const { sensitive, kongDefault } = metaOf(name);
    return {
      name,
      default: confText(schema.safeParse(undefined).data),
      description: schema.description ?? "",
      sensitive,
      ...(kongDefault ? { kongDefault } : {}),
    };
  });
}
