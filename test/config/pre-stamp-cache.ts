/** Writes a DP cache in the layout before stamps (no validated table), as an older gw left it, for compatibility tests. */
import { writeFileSync } from "node:fs";
import { type CachedConfig, cachePath } from "../../src/config/cache";

export function writePreStampCache(prefix: string, entry: CachedConfig): void {
  writeFileSync(cachePath(prefix), Bun.gzipSync(JSON.stringify(entry), { level: 1 }), { mode: 0o600 });
}
