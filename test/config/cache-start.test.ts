/** dist/gw data planes starting from their config cache with the CP down: which caches are trusted, validated or refused. */
import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync, writeFileSync } from "node:fs";
import {
  type CachedConfig,
  ConfigCacheWriter,
  cachePath,
  cacheStamp,
  readConfigCache,
} from "../../src/config/cache";
import { type ConfigTable, exportConfigTable, parseDeclarative } from "../../src/entities/declarative";
import { pluginSchemas, pluginsFor } from "../../src/plugins/registry";
import { GW_VERSION } from "../../src/version";
import { freePort, type GwProcess, tempDir, waitFor } from "../helpers/gw";
import { genSharedCert, startDataPlane } from "../helpers/hybrid";
import { startEchoUpstream } from "../helpers/upstream";
import { writePreStampCache } from "./pre-stamp-cache";

const upstream = startEchoUpstream("cached");
const cert = await genSharedCert();
const bundled = pluginsFor(["bundled"]);
/** What a DP of this build with the default plugin set stamps its cache with. */
const ownStamp = cacheStamp(GW_VERSION, bundled);
const nodes: GwProcess[] = [];
afterAll(async () => {
  for (const node of nodes) await node.kill();
  await upstream.stop();
});

/** `/hot` to the echo upstream with a cors plugin, as pushed (export shape) and as this gw validates it. */
function hotConfig(): { entry: CachedConfig; table: ConfigTable } {
  const input = {
    _format_version: "3.0",
    services: [{ name: "hot", url: upstream.url, routes: [{ name: "hot", paths: ["/hot"] }] }],
    plugins: [{ name: "cors", route: "hot" }],
  };
  const plugins = pluginSchemas(bundled);
  const config_table = exportConfigTable(parseDeclarative(input, { plugins }));
  const entry = { config_table, config_hash: "5f5e100a5f5e100a5f5e100a5f5e100a", timestamp: 1764387665 };
  return { entry, table: parseDeclarative(config_table, { plugins }) };
}

/** A DP whose CP port has no listener, so only its cache can configure it. */
async function startFromCache(prefix: string, args: string[] = []) {
  // Its CP port has no listener.
  const dp = await startDataPlane(cert, freePort(), { prefix, args: ["--log_level", "info", ...args] });
  nodes.push(dp);
  return dp;
}

const statusOf = async (dp: GwProcess, path: string) => (await fetch(`${dp.proxy}${path}`)).status;

/** The cached entry with `/hot` broken in its input only: served means the table was trusted, 404 that it was validated. */
function withInvalidInput({ entry, table }: ReturnType<typeof hotConfig>) {
  const config_table = structuredClone(entry.config_table);
  (config_table.routes as Record<string, unknown>[])[0]!.paths = ["no-leading-slash"];
  return { entry: { ...entry, config_table }, table };
}

describe("data plane start from its config cache", () => {
  test("a cache stamped by this gw and plugin set runs its validated table as is", async () => {
    const prefix = tempDir("dp-cache");
    const { entry, table } = withInvalidInput(hotConfig());
    await new ConfigCacheWriter(prefix, ownStamp).write(entry, table);
    const dp = await startFromCache(prefix);
    await waitFor("/hot served from the cache", async () => (await statusOf(dp, "/hot")) === 200);
    expect(dp.output()).not.toContain("validating the cached config");
  });

  test("a cache from another gw version is validated in full: an invalid one is refused", async () => {
    const prefix = tempDir("dp-cache");
    const { entry, table } = withInvalidInput(hotConfig());
    await new ConfigCacheWriter(prefix, cacheStamp("0.0.1", bundled)).write(entry, table);
    const dp = await startFromCache(prefix);
    await waitFor("the refusal", () => dp.output().includes("failed validation, ignoring it"));
    expect(dp.output()).toContain("it was written by gw 0.0.1");
    expect(dp.output()).toContain("routes[0].paths[0]");
    expect(await statusOf(dp, "/hot")).toBe(404);
  });

  test("after the plugin set changed, the cache is validated against the new one", async () => {
    const prefix = tempDir("dp-cache");
    const { entry, table } = hotConfig();
    await new ConfigCacheWriter(prefix, ownStamp).write(entry, table);
    const dp = await startFromCache(prefix, ["--plugins", "rate-limiting"]);
    await waitFor("the refusal", () => dp.output().includes("failed validation, ignoring it"));
    expect(dp.output()).toContain("it was written with another plugin set");
    expect(dp.output()).toContain("plugin 'cors' not enabled");
    expect(await statusOf(dp, "/hot")).toBe(404);
  });

  test("a table edited after it was written is not trusted: the node runs its validated input", async () => {
    const prefix = tempDir("dp-cache");
    const { entry, table } = hotConfig();
    await new ConfigCacheWriter(prefix, ownStamp).write(entry, table);
    const text = new TextDecoder().decode(Bun.gunzipSync(readFileSync(cachePath(prefix))));
    writeFileSync(cachePath(prefix), Bun.gzipSync(text.replace('"paths":["/hot"]', '"paths":["/edited"]')));
    const dp = await startFromCache(prefix);
    await waitFor("/hot served from the validated input", async () => (await statusOf(dp, "/hot")) === 200);
    expect(dp.output()).toContain("its checksum does not match its content");
    expect(await statusOf(dp, "/edited")).toBe(404);
  });

  test("a cache in the older layout is validated, served, and rewritten so the next start can trust it", async () => {
    const prefix = tempDir("dp-cache");
    const { entry, table } = hotConfig();
    writePreStampCache(prefix, entry);
    const dp = await startFromCache(prefix);
    await waitFor("/hot served", async () => (await statusOf(dp, "/hot")) === 200);
    expect(dp.output()).toContain("it holds no validated table");
    const rewritten = await waitFor("the rewritten cache", () => {
      const read = readConfigCache(prefix, ownStamp);
      return "entry" in read && read.validated ? read : undefined;
    });
    expect(rewritten).toStrictEqual({ found: true, entry, validated: table });
  });
});
