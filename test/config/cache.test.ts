/** The DP config cache file: stamped validated tables trusted only under the same gw, plugins and checksum; atomic background writes. */
import { describe, expect, test } from "bun:test";
import { readdirSync, readFileSync, statSync, writeFileSync } from "node:fs";
import {
  type CachedConfig,
  ConfigCacheWriter,
  cachePath,
  cacheStamp,
  readConfigCache,
} from "../../src/config/cache";
import { exportConfigTable, parseDeclarative } from "../../src/entities/declarative";
import { pluginSchemas, pluginsFor } from "../../src/plugins/registry";
import { tempDir } from "../helpers/gw";
import { writePreStampCache } from "./pre-stamp-cache";

const bundled = pluginsFor(["bundled"]);
const stamp = cacheStamp("1.2.3", bundled);

/** A pushed config of `routes` routes (each with a plugin) and the table this node validates it into. */
function validatedConfig(routes: number, hash = "0123456789abcdef0123456789abcdef") {
  const input = {
    _format_version: "3.0",
    services: [{ name: "svc", url: "http://svc.internal:8080" }],
    routes: Array.from({ length: routes }, (_, i) => ({ name: `r${i}`, paths: [`/r/${i}`], service: "svc" })),
    plugins: Array.from({ length: routes }, (_, i) => ({ name: "cors", route: `r${i}` })),
  };
  const plugins = pluginSchemas(bundled);
  const config_table = exportConfigTable(parseDeclarative(input, { plugins }));
  const entry: CachedConfig = { config_table, config_hash: hash, timestamp: 1764387665 };
  return { entry, table: parseDeclarative(config_table, { plugins }) };
}

const gunzipText = (path: string) => new TextDecoder().decode(Bun.gunzipSync(readFileSync(path)));

describe("config cache", () => {
  test("a written entry reads back with its validated table, mode 0600, no temp file left", async () => {
    const prefix = tempDir();
    const { entry, table } = validatedConfig(3);
    await new ConfigCacheWriter(prefix, stamp).write(entry, table);
    expect(statSync(cachePath(prefix)).mode & 0o777).toBe(0o600);
    expect(readConfigCache(prefix, stamp)).toStrictEqual({ found: true, entry, validated: table });
    expect(readdirSync(prefix)).toEqual(["config.json.gz"]);
  });

  test("a table from another gw version or plugin set is not trusted: its input is to be validated", async () => {
    const prefix = tempDir();
    const { entry, table } = validatedConfig(1);
    await new ConfigCacheWriter(prefix, stamp).write(entry, table);
    expect(readConfigCache(prefix, cacheStamp("1.2.4", bundled))).toStrictEqual({
      found: true,
      entry,
      validated: null,
      why: "it was written by gw 1.2.3",
    });
    expect(readConfigCache(prefix, cacheStamp("1.2.3", pluginsFor(["cors"])))).toMatchObject({
      entry,
      validated: null,
      why: "it was written with another plugin set",
    });
  });

  test("a table edited after it was written fails its checksum and is not trusted", async () => {
    const prefix = tempDir();
    const { entry, table } = validatedConfig(2);
    await new ConfigCacheWriter(prefix, stamp).write(entry, table);
    const edited = gunzipText(cachePath(prefix)).replace('"paths":["/r/1"]', '"paths":["/edited"]');
    expect(edited).toContain("/edited");
    writeFileSync(cachePath(prefix), Bun.gzipSync(edited));
    expect(readConfigCache(prefix, stamp)).toMatchObject({
      entry,
      validated: null,
      why: "its checksum does not match its content",
    });
  });

  test("a cache in the older layout (no validated table) is read and left to validation", () => {
    const prefix = tempDir();
    const { entry } = validatedConfig(1);
    writePreStampCache(prefix, entry);
    expect(statSync(cachePath(prefix)).mode & 0o777).toBe(0o600);
    expect(readConfigCache(prefix, stamp)).toStrictEqual({
      found: true,
      entry,
      validated: null,
      why: "it holds no validated table (written by an older gw)",
    });
  });

  test("a missing cache is simply not found", () => {
    expect(readConfigCache(tempDir(), stamp)).toEqual({ found: false });
  });

  test("truncated, non-JSON and shapeless caches are reported, not thrown", async () => {
    const prefix = tempDir();
    const { entry, table } = validatedConfig(1);
    await new ConfigCacheWriter(prefix, stamp).write(entry, table);
    const full = readFileSync(cachePath(prefix));
    writeFileSync(cachePath(prefix), full.subarray(0, full.length - 10));
    expect(readConfigCache(prefix, stamp)).toMatchObject({
      found: true,
      error: expect.stringContaining("truncated"),
    });
    writeFileSync(cachePath(prefix), Bun.gzipSync("{nope"));
    expect(readConfigCache(prefix, stamp)).toMatchObject({
      found: true,
      error: expect.stringContaining("valid JSON"),
    });
    writeFileSync(cachePath(prefix), Bun.gzipSync("[1,2]"));
    expect(readConfigCache(prefix, stamp)).toMatchObject({
      found: true,
      error: expect.stringContaining("config_table"),
    });
  });

  test("while a large entry is being written, readers see the previous complete entry until the new one is", async () => {
    const prefix = tempDir();
    const writer = new ConfigCacheWriter(prefix, stamp);
    const old = validatedConfig(1, "old");
    await writer.write(old.entry, old.table);
    const next = validatedConfig(3000, "new");
    let done = false;
    const writing = writer.write(next.entry, next.table).then(() => {
      done = true;
    });
    const hashes: string[] = [];
    while (!done) {
      const read = readConfigCache(prefix, stamp);
      if (!("entry" in read) || !read.validated)
        throw new Error(`unreadable mid-write: ${JSON.stringify(read)}`);
      hashes.push(read.entry.config_hash);
      await new Promise((resolve) => setImmediate(resolve));
    }
    await writing;
    // Every read during the write found a complete file: the old one, then (once renamed) the new one.
    expect(hashes.join(",")).toMatch(/^old(,old)*(,new)*$/);
    expect(readConfigCache(prefix, stamp)).toStrictEqual({
      found: true,
      entry: next.entry,
      validated: next.table,
    });
  });

  test("a burst of writes ends with the newest entry on disk", async () => {
    const prefix = tempDir();
    const writer = new ConfigCacheWriter(prefix, stamp);
    const configs = ["a", "b", "c", "d"].map((hash) => validatedConfig(50, hash));
    const writes = configs.map(({ entry, table }) => writer.write(entry, table));
    await Promise.all(writes);
    await writer.idle();
    expect(readConfigCache(prefix, stamp)).toMatchObject({ entry: { config_hash: "d" } });
    expect(readdirSync(prefix)).toEqual(["config.json.gz"]);
  });
});
