/** The data plane's config cache, `<prefix>/config.json.gz`: written atomically (0600) after each apply, read at start. */
import { createWriteStream, existsSync, readFileSync } from "node:fs";
import { open, rename, rm } from "node:fs/promises";
import { basename, dirname, join } from "node:path";
import { pipeline } from "node:stream/promises";
import { createGzip } from "node:zlib";
import type { ConfigTable } from "../entities/declarative";
import { logger } from "../log/logger";

const CACHE_FILE = "config.json.gz";
const log = logger("config");

/** What the cache holds: the config as the CP sent it (export shape) and the hash it was applied under. */
export interface CachedConfig {
  config_table: Record<string, unknown>;
  config_hash: string;
  /** Seconds since the epoch, when it was applied. */
  timestamp: number;
}

/**
 * What a validated table depends on besides its input: gw's own schemas (its version) and the plugin set's. A table
 * cached under the same stamp is what validating `config_table` again would give, so a start can skip validation.
 */
export interface CacheStamp {
  gw_version: string;
  plugins_fingerprint: string;
}

export function cacheStamp(
  gwVersion: string,
  plugins: readonly { name: string; version: string }[],
): CacheStamp {
  const names = plugins.map((p) => `${p.name}@${p.version}`).sort();
  return {
    gw_version: gwVersion,
    plugins_fingerprint: new Bun.CryptoHasher("sha256").update(names.join("\n")).digest("hex"),
  };
}

export const cachePath = (prefix: string) => join(prefix, CACHE_FILE);

/**
 * The file ends with `,"sha256":"<hex>"}`, the digest of every byte before it: a hand-edited or tampered file
 * no longer matches and is validated in full, as a cache written by another gw is.
 */
const digestSuffix = (hex: string) => `,"sha256":"${hex}"}`;
const SUFFIX_LENGTH = digestSuffix("0".repeat(64)).length;

export type CacheRead =
  | { found: false }
  /** `validated` is the table to run without validation; when null, `why` says what made it untrusted. */
  | { found: true; entry: CachedConfig; validated: ConfigTable | null; why?: string }
  | { found: true; error: string };

/** A missing cache is normal; a corrupt one is reported (never fatal) so the node falls through to the next source. */
export function readConfigCache(prefix: string, stamp: CacheStamp): CacheRead {
  const path = cachePath(prefix);
  if (!existsSync(path)) return { found: false };
  let bytes: Uint8Array;
  try {
    bytes = Bun.gunzipSync(readFileSync(path));
  } catch {
    return { found: true, error: `${path} is not a complete gzip file (truncated or corrupt); ignoring it` };
  }
  const text = new TextDecoder().decode(bytes);
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch {
    return { found: true, error: `${path} does not hold valid JSON; ignoring it` };
  }
  const e = parsed as (Partial<CachedConfig & CacheStamp> & { table?: unknown; sha256?: unknown }) | null;
  if (!e || typeof e !== "object" || typeof e.config_table !== "object" || e.config_table === null) {
    return { found: true, error: `${path} has no config_table; ignoring it` };
  }
  const entry: CachedConfig = {
    config_table: e.config_table,
    config_hash: String(e.config_hash ?? ""),
    timestamp: Number(e.timestamp ?? 0),
  };
  const why = distrust(e, stamp, bytes, text);
  return why
    ? { found: true, entry, validated: null, why }
    : { found: true, entry, validated: e.table as ConfigTable };
}

/** Why the cached table may not be what this node's validation gives, or undefined when it is. */
function distrust(
  e: Partial<CacheStamp> & { table?: unknown; sha256?: unknown },
  stamp: CacheStamp,
  bytes: Uint8Array,
  text: string,
): string | undefined {
  if (typeof e.table !== "object" || e.table === null || typeof e.sha256 !== "string")
    return "it holds no validated table (written by an older gw)";
  if (e.gw_version !== stamp.gw_version) return `it was written by gw ${String(e.gw_version)}`;
  if (e.plugins_fingerprint !== stamp.plugins_fingerprint) return "it was written with another plugin set";
  const body = bytes.subarray(0, bytes.length - SUFFIX_LENGTH);
  if (
    !text.endsWith(digestSuffix(e.sha256)) ||
    new Bun.CryptoHasher("sha256").update(body).digest("hex") !== e.sha256
  )
    return "its checksum does not match its content";
  return undefined;
}

/** Serializing pauses for the event loop this often, so proxying goes on while a large config is written. */
const SLICE_MS = 5;

const yieldToLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** JSON of a config (an object of entity arrays) a few rows at a time: the text JSON.stringify gives, in pieces. */
async function* configJson(config: object): AsyncGenerator<string> {
  let sliceStart = performance.now();
  let separator = "{";
  for (const [key, value] of Object.entries(config)) {
    if (value === undefined) continue;
    yield `${separator}${JSON.stringify(key)}:`;
    separator = ",";
    if (!Array.isArray(value)) {
      yield JSON.stringify(value) ?? "null";
      continue;
    }
    let rows: string[] = [];
    let opened = false;
    for (const row of value) {
      rows.push(JSON.stringify(row) ?? "null");
      if (performance.now() - sliceStart < SLICE_MS) continue;
      yield `${opened ? "," : "["}${rows.join(",")}`;
      opened = true;
      rows = [];
      await yieldToLoop();
      sliceStart = performance.now();
    }
    const rest = rows.join(",");
    yield opened ? `${rest === "" ? "" : `,${rest}`}]` : `[${rest}]`;
  }
  yield separator === "{" ? "{}" : "}";
}

/** The cache file's bytes before gzip, streamed: stamp and hash, the validated table, the input, the digest. */
async function* entryBytes(
  stamp: CacheStamp,
  entry: CachedConfig,
  table: ConfigTable,
): AsyncGenerator<Buffer> {
  const hasher = new Bun.CryptoHasher("sha256");
  const head = { ...stamp, config_hash: entry.config_hash, timestamp: entry.timestamp };
  async function* texts() {
    yield `${JSON.stringify(head).slice(0, -1)},"table":`;
    yield* configJson(table);
    yield `,"config_table":`;
    yield* configJson(entry.config_table);
  }
  for await (const text of texts()) {
    const bytes = Buffer.from(text);
    hasher.update(bytes);
    yield bytes;
  }
  yield Buffer.from(digestSuffix(hasher.digest("hex")));
}

/** Gzip and the file writes run off the event loop; the rename comes only once the whole file is on disk. */
async function writeEntry(prefix: string, stamp: CacheStamp, entry: CachedConfig, table: ConfigTable) {
  const path = cachePath(prefix);
  const tmp = join(dirname(path), `.${basename(path)}.${process.pid}.${performance.now()}.tmp`);
  try {
    await pipeline(
      entryBytes(stamp, entry, table),
      createGzip({ level: 1 }),
      createWriteStream(tmp, { mode: 0o600 }),
    );
    // fsync on any descriptor of the file flushes its data.
    const file = await open(tmp, "r");
    try {
      await file.sync();
    } finally {
      await file.close();
    }
    await rename(tmp, path);
  } catch (e) {
    await rm(tmp, { force: true });
    throw e;
  }
}

/**
 * Writes cache entries one at a time in the background: a newer entry queued during a write replaces any older
 * one still waiting, so a burst of pushes ends with the newest config on disk and no stale write after it.
 */
export class ConfigCacheWriter {
  private pending: { entry: CachedConfig; table: ConfigTable } | null = null;
  private running: Promise<void> | null = null;

  constructor(
    private readonly prefix: string,
    private readonly stamp: CacheStamp,
  ) {}

  /** `table` is `entry.config_table` as this node validated it. Resolves once it (or a newer one) is written. */
  write(entry: CachedConfig, table: ConfigTable): Promise<void> {
    this.pending = { entry, table };
    this.running ??= this.drain();
    return this.running;
  }

  /** Resolves when nothing is being written: a stopping node waits for the write in flight. */
  idle(): Promise<void> {
    return this.running ?? Promise.resolve();
  }

  private async drain(): Promise<void> {
    for (let next = this.pending; next; next = this.pending) {
      this.pending = null;
      try {
        await writeEntry(this.prefix, this.stamp, next.entry, next.table);
      } catch (e) {
        log.error(`could not write the config cache ${cachePath(this.prefix)}: ${(e as Error).message}`);
      }
    }
    this.running = null;
  }
}
