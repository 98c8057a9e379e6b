/** Listen directives (`proxy_listen`, `admin_listen`, …): `off`, or comma-separated `<ip>:<port> [flags]` entries, as Kong parses them. */
import { isIP } from "node:net";

export interface Listener {
  /** Without brackets, ready for a socket (`::1`, `0.0.0.0`, `localhost`). */
  host: string;
  port: number;
  ssl: boolean;
  http2: boolean;
  reuseport: boolean;
  proxy_protocol: boolean;
  deferred: boolean;
  bind: boolean;
  /** `backlog=N`, or null when not given. */
  backlog: number | null;
  /** Kong's normalized form, `[::1]:8000 ssl reuseport`, as `GET /` shows it. */
  listener: string;
}

type BooleanFlag = "ssl" | "http2" | "reuseport" | "proxy_protocol" | "deferred" | "bind";

const BOOLEAN_FLAGS: readonly BooleanFlag[] = [
  "ssl",
  "http2",
  "proxy_protocol",
  "deferred",
  "bind",
  "reuseport",
];
/** nginx socket options gw accepts so existing kong.conf files load, and does not act on. */
const ACCEPTED_OPTIONS = /^(ipv6only=(on|off)|so_keepalive=(on|off|\w*:\w*:\d*))$/;

const LISTEN_USAGE =
  "[off] | <ip>:<port> [ssl] [http2] [proxy_protocol] [deferred] [bind] [reuseport] [backlog=N], [... next entry ...]";

const HOSTNAME = /^(\*|[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)*)$/;

/** `<ip>:<port>`, `[<ipv6>]:<port>` or `<hostname>:<port>`; null when it is none of these. */
export function parseHostPort(text: string): { host: string; port: number } | null {
  const m = /^(?:\[([^\]]+)\]|([^:\s[\]]+)):(\d{1,5})$/.exec(text);
  if (!m) return null;
  const port = Number(m[3]);
  if (port < 1 || port > 65535) return null;
  if (m[1] !== undefined) return isIP(m[1]) === 6 ? { host: m[1], port } : null;
  const host = m[2]!;
  if (isIP(host) === 4) return { host, port };
  if (!HOSTNAME.test(host)) return null;
  // nginx's `*:port` is every IPv4 address.
  return { host: host === "*" ? "0.0.0.0" : host, port };
}

function parseEntry(entry: string): Listener | null {
  const [address = "", ...words] = entry.split(/\s+/);
  const parsed = parseHostPort(address);
  if (!parsed) return null;
  const out: Listener = {
    ...parsed,
    ssl: false,
    http2: false,
    reuseport: false,
    proxy_protocol: false,
    deferred: false,
    bind: false,
    backlog: null,
    listener: "",
  };
  const kept: string[] = [];
  for (const word of words) {
    const backlog = /^backlog=(\d+)$/.exec(word);
    if (backlog) out.backlog = Number(backlog[1]);
    else if ((BOOLEAN_FLAGS as readonly string[]).includes(word)) out[word as BooleanFlag] = true;
    else if (!ACCEPTED_OPTIONS.test(word)) return null;
    kept.push(word);
  }
  const host = isIP(out.host) === 6 ? `[${out.host}]` : out.host;
  out.listener = [`${host}:${out.port}`, ...kept].join(" ");
  return out;
}

export type ListenResult = { ok: true; listeners: Listener[] } | { ok: false; problem: string };

/** `entries` is the setting already split on commas; `off` first means no listener at all. */
export function parseListen(entries: readonly string[]): ListenResult {
  if (entries.length === 0) return { ok: false, problem: `must be of form: ${LISTEN_USAGE}` };
  if (entries[0]!.trim() === "off") return { ok: true, listeners: [] };
  const listeners: Listener[] = [];
  for (const entry of entries) {
    const listener = parseEntry(entry.trim());
    if (!listener) return { ok: false, problem: `must be of form: ${LISTEN_USAGE}; got '${entry.trim()}'` };
    listeners.push(listener);
  }
  return { ok: true, listeners };
}
