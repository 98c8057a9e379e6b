/** The data plane's config cache, `<prefix>/config.json.gz`: written atomically (0600) after each apply, read at start. */
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { writeFileAtomic } from "../support/files";

const CACHE_FILE = "config.json.gz";

/** What the cache holds: the config as the CP sent it (export shape) and the hash it was applied under. */
export interface CachedConfig {
  config_table: Record<string, unknown>;
  config_hash: string;
  /** Seconds since the epoch, when it was applied. */
  timestamp: number;
}

export const cachePath = (prefix: string) => join(prefix, CACHE_FILE);

export function writeConfigCache(prefix: string, entry: CachedConfig): void {
  writeFileAtomic(cachePath(prefix), Bun.gzipSync(JSON.stringify(entry), { level: 1 }));
}

export type CacheRead =
  | { found: false }
  | { found: true; entry: CachedConfig }
  | { found: true; error: string };

/** A missing cache is normal; a corrupt one is reported (never fatal) so the node falls through to the next source. */
export function readConfigCache(prefix: string): CacheRead {
  const path = cachePath(prefix);
  if (!existsSync(path)) return { found: false };
  let text: string;
  try {
    text = new TextDecoder().decode(Bun.gunzipSync(readFileSync(path)));
  } catch {
    return { found: true, error: `${path} is not a complete gzip file (truncated or corrupt); ignoring it` };
  }
  let entry: unknown;
  try {
    entry = JSON.parse(text);
  } catch {
    return { found: true, error: `${path} does not hold valid JSON; ignoring it` };
  }
  const e = entry as Partial<CachedConfig> | null;
  if (!e || typeof e !== "object" || typeof e.config_table !== "object" || e.config_table === null) {
    return { found: true, error: `${path} has no config_table; ignoring it` };
  }
  return {
    found: true,
    entry: {
      config_table: e.config_table,
      config_hash: String(e.config_hash ?? ""),
      timestamp: Number(e.timestamp ?? 0),
    },
  };
}
