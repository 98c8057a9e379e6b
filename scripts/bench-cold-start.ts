/**
 * Measures a data plane's cold start with its control plane down: time from spawning dist/gw to the first proxied
 * 200, from the local cache (`<prefix>/config.json.gz`) and from an S3 fallback import (s3rver, an object sealed
 * by the exporter's own code). Prints min/median/max over repeated runs.
 *
 *   bun scripts/bench-cold-start.ts [--runs=7] [--cache-routes=100,10000] [--s3-routes=10000]
 */
import { readFileSync } from "node:fs";
import { hostname } from "node:os";
import { ConfigCacheWriter, cacheStamp } from "../src/config/cache";
import { parseDeclarative } from "../src/entities/declarative";
import { configHash } from "../src/entities/hash";
import { pluginSchemas, pluginsFor } from "../src/plugins/registry";
import { sealConfig } from "../src/resilience/signing";
import { openStorage } from "../src/resilience/storage/types";
import { configKey, parseStorageUrl } from "../src/resilience/storage/url";
import { GW_VERSION } from "../src/version";
import { freePort, tempDir } from "../test/helpers/gw";
import { genSharedCert, type SharedCert, startDataPlane } from "../test/helpers/hybrid";
import { startS3rver } from "../test/helpers/s3rver";
import {
  markdownTable,
  ms,
  numbers,
  onCleanup,
  option,
  percentile,
  runBounded,
  startUpstream,
} from "./lib/bench";
import { benchConfig, HOT_PATH } from "./lib/configs";

const RUNS = Number(option("runs", "BENCH_RUNS", "7"));
const CACHE_ROUTES = numbers(option("cache-routes", "BENCH_CACHE_ROUTES", "100,10000"));
const S3_ROUTES = numbers(option("s3-routes", "BENCH_S3_ROUTES", "10000"));
const FIRST_200_TIMEOUT_MS = 30_000;
const STORAGE_URL = "s3://gw-bench/cold";

/** `routes` routes in all, the hot one included. */
const configWith = (routes: number, upstream: string) =>
  benchConfig({ routes: routes - 1, plugins: false, upstream });

/** The status a URL answers with, 0 while nothing listens yet. */
async function statusOf(url: string): Promise<number> {
  try {
    const res = await fetch(url);
    await res.arrayBuffer();
    return res.status;
  } catch {
    return 0;
  }
}

/** Spawns a DP whose CP port has no listener and times spawn → the first `expect` (200) on the hot route. */
async function coldStart(
  cert: SharedCert,
  prefix: string,
  args: string[],
  env: Record<string, string>,
  expect = 200,
) {
  const started = performance.now();
  // Its CP port has no listener.
  const dp = await startDataPlane(cert, freePort(), {
    prefix,
    wait: "none",
    env,
    args: ["--log_level", "warn", ...args],
  });
  try {
    const url = `${dp.proxy}${HOT_PATH}`;
    while (performance.now() - started < FIRST_200_TIMEOUT_MS) {
      if (dp.proc.exitCode !== null) throw new Error(`gw exited: ${dp.output()}`);
      const status = await statusOf(url);
      if (status === expect) return performance.now() - started;
      await Bun.sleep(1);
    }
    throw new Error(
      `no 200 from ${url} within ${FIRST_200_TIMEOUT_MS / 1000} s: ${dp.output().slice(-2000)}`,
    );
  } finally {
    await dp.kill();
  }
}

async function repeat(label: string, run: () => Promise<number>): Promise<(string | number)[]> {
  const times: number[] = [];
  for (let i = 0; i < RUNS; i++) times.push(await run());
  console.error(`${label}: ${times.map((t) => t.toFixed(0)).join(" ")} ms`);
  return [label, RUNS, ms(Math.min(...times)), ms(percentile(times, 50)), ms(Math.max(...times))];
}

/** Seals a config exactly as a backup exporter does and puts it where importers look. */
async function exportToS3(cert: SharedCert, config: Record<string, unknown>, env: Record<string, string>) {
  const json = JSON.stringify(config);
  const sealed = await sealConfig(json, {
    keyPem: readFileSync(cert.key, "utf8"),
    certPem: readFileSync(cert.cert, "utf8"),
    nodeId: crypto.randomUUID(),
    hostname: hostname(),
    version: GW_VERSION,
    hash: configHash(config).config,
  });
  const storage = await openStorage(STORAGE_URL, env);
  await storage.put(configKey(parseStorageUrl(STORAGE_URL).prefix, GW_VERSION), sealed.body, sealed.metadata);
}

await runBounded(10 * 60_000, async () => {
  const upstream = await startUpstream();
  const cert = await genSharedCert();
  // The floor: process start to a listening proxy with no config at all (the router's 404).
  const rows = [
    await repeat("no config (first 404)", () => coldStart(cert, tempDir("bench-cold-empty"), [], {}, 404)),
  ];

  for (const routes of CACHE_ROUTES) {
    const prefix = tempDir("bench-cold-cache");
    const config = configWith(routes, upstream);
    // Written as a DP writes it after applying a config: stamped with this gw and its plugins, so a restart trusts it.
    const plugins = pluginsFor(["bundled"]);
    await new ConfigCacheWriter(prefix, cacheStamp(GW_VERSION, plugins)).write(
      { config_table: config, config_hash: configHash(config).config, timestamp: 0 },
      parseDeclarative(config, { plugins: pluginSchemas(plugins) }),
    );
    rows.push(await repeat(`cache, ${routes} routes`, () => coldStart(cert, prefix, [], {})));
  }

  if (S3_ROUTES.length > 0) {
    const s3 = await startS3rver({ buckets: ["gw-bench"] });
    onCleanup(() => s3.stop());
    const importArgs = [
      "--cluster_fallback_config_import",
      "on",
      "--cluster_fallback_config_storage",
      STORAGE_URL,
    ];
    for (const routes of S3_ROUTES) {
      await exportToS3(cert, configWith(routes, upstream), s3.env);
      // A fresh prefix each run: an import writes the cache, and a cache would win over the bucket.
      const run = () => coldStart(cert, tempDir("bench-cold-s3"), importArgs, s3.env);
      rows.push(await repeat(`S3 fallback import, ${routes} routes`, run));
    }
  }

  console.log("\nCold start of a DP with its CP down: process spawn → first proxied 200\n");
  console.log(markdownTable(["source", "runs", "min", "median", "max"], rows));
});
