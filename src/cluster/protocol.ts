/** Kong's sync v1 wire format (`/v1/outlet`): frame shapes, gzip'd reconfigure payloads, limits and timings. */
import type { ConfigHashes } from "../entities/hash";

export type { ConfigHashes };

export const PING_INTERVAL_MS = 30_000;
/** Kong drops a link after 1.5 ping intervals without traffic. */
export const PING_WAIT_MS = 45_000;
export const OUTLET_PATH = "/v1/outlet";

export interface PluginInfo {
  name: string;
  version: string;
}

/** The DP's first frame: plain JSON in a binary frame. */
export interface BasicInfo {
  type: "basic_info";
  plugins: PluginInfo[];
  process_conf?: Record<string, unknown>;
  filters?: Record<string, unknown>;
  labels?: Record<string, string>;
}

/** CP → DP: the whole config, gzip'd JSON in a binary frame. */
export interface Reconfigure {
  type: "reconfigure";
  timestamp: number;
  config_table: Record<string, unknown>;
  config_hash: string;
  hashes: ConfigHashes;
}

/**
 * gw's addition, CP → DP: sent once after basic_info so a gw DP knows it may report rejected configs.
 * Kong DPs ignore frames whose type is not `reconfigure`, so this is safe to send to them.
 */
export interface GwHello {
  type: "gw_hello";
  version: string;
}

/**
 * gw's addition, DP → CP: a config the DP refused, and why. Sent only to gw control planes (see GwHello),
 * since Kong's CP closes the link on any data frame.
 */
export interface ConfigRejected {
  type: "config_rejected";
  config_hash: string;
  errors: string[];
}

export class ProtocolError extends Error {}

export type CpMessage = Reconfigure | GwHello;

export function encodeCpMessage(msg: CpMessage): Uint8Array {
  return Bun.gzipSync(JSON.stringify(msg), { level: 1 });
}

/**
 * Inflates and checks a CP frame; null for message types this DP does not know (ignored, as Kong does).
 * The size limit is on the frame, as Kong's; the sender is an mTLS-authenticated CP.
 */
export function decodeCpMessage(frame: Uint8Array<ArrayBuffer>, maxPayload: number): CpMessage | null {
  if (frame.byteLength > maxPayload) {
    throw new ProtocolError(`frame of ${frame.byteLength} bytes exceeds cluster_max_payload (${maxPayload})`);
  }
  let text: string;
  try {
    text = new TextDecoder().decode(Bun.gunzipSync(frame));
  } catch {
    throw new ProtocolError("frame is not gzip data (expected a gzip'd reconfigure message)");
  }
  let msg: unknown;
  try {
    msg = JSON.parse(text);
  } catch {
    throw new ProtocolError("frame is not valid JSON after gunzip");
  }
  if (!isObject(msg)) throw new ProtocolError("message is not a JSON object");
  if (msg.type === "gw_hello") return { type: "gw_hello", version: String(msg.version) };
  if (msg.type !== "reconfigure") return null;
  if (!isObject(msg.config_table)) throw new ProtocolError("reconfigure message has no config_table object");
  if (msg.config_hash !== undefined && !isHash(msg.config_hash)) {
    throw new ProtocolError("reconfigure message has a config_hash that is not 32 hex characters");
  }
  return msg as unknown as Reconfigure;
}

/** Checks the DP's first frame as Kong's CP does: binary JSON, `type = basic_info`, a plugins array. */
export function decodeBasicInfo(frame: string | Uint8Array): BasicInfo {
  let msg: unknown;
  try {
    msg = JSON.parse(typeof frame === "string" ? frame : new TextDecoder().decode(frame));
  } catch {
    throw new ProtocolError("first frame from data plane is not JSON (expected basic_info)");
  }
  if (!isObject(msg) || msg.type !== "basic_info") {
    throw new ProtocolError("first frame from data plane is not basic_info");
  }
  if (!Array.isArray(msg.plugins)) throw new ProtocolError("basic_info has no plugins array");
  for (const p of msg.plugins) {
    if (!isObject(p) || typeof p.name !== "string")
      throw new ProtocolError("basic_info plugins entry without a name");
  }
  return msg as unknown as BasicInfo;
}

export function decodeConfigRejected(frame: string | Uint8Array): ConfigRejected | null {
  try {
    const msg = JSON.parse(typeof frame === "string" ? frame : new TextDecoder().decode(frame));
    if (isObject(msg) && msg.type === "config_rejected" && Array.isArray(msg.errors)) {
      return {
        type: "config_rejected",
        config_hash: String(msg.config_hash ?? ""),
        errors: msg.errors.map(String),
      };
    }
  } catch {
    // Not ours: the caller treats it as an invalid frame.
  }
  return null;
}

const isHash = (v: unknown): v is string => typeof v === "string" && /^[0-9a-f]{32}$/.test(v);

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

const majorMinor = (v: string) => {
  const m = /^(\d+)\.(\d+)\.\d+/.exec(v);
  return m ? { major: Number(m[1]), minor: Number(m[2]) } : null;
};

export type SyncStatus =
  | "unknown"
  | "normal"
  | "kong_version_incompatible"
  | "plugin_set_incompatible"
  | "plugin_version_incompatible";

export interface Incompatibility {
  status: SyncStatus;
  message: string;
}

/** Kong's rule, with Kong's wording: same major, DP minor not newer than the CP's; patch ignored. */
export function checkVersionCompatibility(cpVersion: string, dpVersion: string): Incompatibility | null {
  const cp = majorMinor(cpVersion);
  const dp = majorMinor(dpVersion);
  const status = "kong_version_incompatible";
  if (!cp)
    return { status, message: `data plane version ${dpVersion} is incompatible with control plane version` };
  if (!dp || dp.major !== cp.major) {
    const shown = dp ? `data plane version ${dpVersion}` : "data plane version";
    return {
      status,
      message: `${shown} is incompatible with control plane version ${cpVersion} (${cp.major}.x.y are accepted)`,
    };
  }
  if (dp.minor > cp.minor) {
    return {
      status,
      message: `data plane version ${dpVersion} is incompatible with older control plane version ${cpVersion}`,
    };
  }
  return null;
}

/**
 * Kong's per-push plugin check: every plugin configured on the CP must exist on the DP with the same major
 * and a minor no newer than the CP's. A DP that fails it gets no new config and keeps its current one.
 */
export function checkPluginCompatibility(
  configured: Iterable<string>,
  cpPlugins: ReadonlyMap<string, string>,
  dpPlugins: ReadonlyMap<string, string>,
): Incompatibility | null {
  for (const name of configured) {
    const cpVersion = cpPlugins.get(name) ?? "";
    const dpVersion = dpPlugins.get(name);
    if (dpVersion === undefined) {
      const version = cpVersion ? ` ${cpVersion}` : "";
      return {
        status: "plugin_set_incompatible",
        message: `configured ${name} plugin${version} is missing from data plane`,
      };
    }
    const cp = majorMinor(cpVersion);
    const dp = majorMinor(dpVersion);
    if (cp && dp && (cp.major !== dp.major || cp.minor < dp.minor)) {
      return {
        status: "plugin_version_incompatible",
        message: `configured data plane ${name} plugin version ${dpVersion} is different to control plane plugin version ${cpVersion}`,
      };
    }
  }
  return null;
}

/** Kong's reconnect delay is a flat 5–10 s; gw starts faster and backs off to that with jitter. */
export function reconnectDelayMs(attempt: number): number {
  const base = Math.min(10_000, 500 * 2 ** Math.min(attempt, 5));
  return Math.round(base / 2 + Math.random() * (base / 2));
}
