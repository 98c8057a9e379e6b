import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { cachePath, readConfigCache, writeConfigCache } from "../../src/config/cache";
import { tempDir } from "../helpers/gw";

const entry = {
  config_table: { _format_version: "3.0", services: [{ id: "s1", host: "example.com" }] },
  config_hash: "0123456789abcdef0123456789abcdef",
  timestamp: 1764387665,
};

describe("config cache", () => {
  test("round-trips and is written with mode 0600", () => {
    const prefix = tempDir();
    writeConfigCache(prefix, entry);
    expect(statSync(cachePath(prefix)).mode & 0o777).toBe(0o600);
    expect(readConfigCache(prefix)).toEqual({ found: true, entry });
  });

  test("a missing cache is simply not found", () => {
    expect(readConfigCache(tempDir())).toEqual({ found: false });
  });

  test("truncated, non-JSON and shapeless caches are reported, not thrown", () => {
    const prefix = tempDir();
    writeConfigCache(prefix, entry);
    const full = readFileSync(cachePath(prefix));
    writeFileSync(cachePath(prefix), full.subarray(0, full.length - 10));
    expect(readConfigCache(prefix)).toMatchObject({
      found: true,
      error: expect.stringContaining("truncated"),
    });
    writeFileSync(cachePath(prefix), Bun.gzipSync("{nope"));
    expect(readConfigCache(prefix)).toMatchObject({
      found: true,
      error: expect.stringContaining("valid JSON"),
    });
    writeFileSync(cachePath(prefix), Bun.gzipSync("[1,2]"));
    expect(readConfigCache(prefix)).toMatchObject({
      found: true,
      error: expect.stringContaining("config_table"),
    });
  });
});
