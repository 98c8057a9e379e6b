/** Settings as `GET /` shows them (Kong's `configuration`): sensitive values masked, listeners in Kong's two forms. */
import type { Listener } from "./listen";
import { SENSITIVE_SETTINGS, SETTING_NAMES, type Settings } from "./schema";

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
