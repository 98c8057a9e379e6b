/**
 * Measures a data plane applying large configs under load: a CP (SQLite) receives 10k- and 100k-entity configs via
 * `gw config db_import` while wrk drives the DP's hot route; reports apply time, errors and worst latency during the
 * swap, the DP's longest event-loop stall, and DP memory before/after.
 *
 *   bun scripts/bench-apply.ts [--entities=10000,100000] [--connections=16]
 */
import { join } from "node:path";
import { type GwProcess, runGw, tempDir, waitFor } from "../test/helpers/gw";
import {
  configHashOf,
  genSharedCert,
  startControlPlane,
  startDataPlane,
  untilServed,
} from "../test/helpers/hybrid";
import {
  cpuMs,
  markdownTable,
  mb,
  ms,
  numbers,
  onCleanup,
  option,
  rssMb,
  runBounded,
  startUpstream,
} from "./lib/bench";
import { benchConfig, entityCount, HOT_PATH, routesFor } from "./lib/configs";

const SIZES = numbers(option("entities", "BENCH_ENTITIES", "10000,100000"));
const CONNECTIONS = Number(option("connections", "BENCH_CONNECTIONS", "16"));
const APPLY_TIMEOUT_MS = 180_000;

interface WrkResult {
  requests: number;
  non2xx: number;
  /** wrk's "Socket errors" line as printed (connect, read, write, timeout). */
  socketErrors: string;
  maxLatencyMs: number;
  p99Ms: number;
}

const WRK_UNITS: Record<string, number> = { us: 0.001, ms: 1, s: 1000, m: 60_000 };
const toMs = (text: string) => {
  const m = text.match(/^([\d.]+)(us|ms|s|m)$/);
  return m ? Number(m[1]) * WRK_UNITS[m[2]!]! : Number.NaN;
};

function parseWrk(out: string): WrkResult {
  const latency = out.match(/Latency\s+(\S+)\s+(\S+)\s+(\S+)/);
  const errors = out.match(/Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)/);
  return {
    requests: Number(out.match(/(\d+) requests in/)?.[1] ?? 0),
    non2xx: Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0),
    socketErrors: errors ? errors[0].replace("Socket errors: ", "") : "none",
    maxLatencyMs: latency ? toMs(latency[3]!) : Number.NaN,
    p99Ms: toMs(out.match(/99%\s+(\S+)/)?.[1] ?? ""),
  };
}

/**
 * wrk until stopped: SIGINT makes it print its summary for the whole window, which brackets the swap. The long
 * timeout keeps a request stalled by the swap in the latency figures instead of among wrk's timeouts.
 */
function startWrk(url: string) {
  const proc = Bun.spawn(["wrk", "-t1", `-c${CONNECTIONS}`, "-d600s", "--timeout", "60s", "--latency", url], {
    stdout: "pipe",
  });
  onCleanup(() => proc.kill());
  return async (): Promise<WrkResult> => {
    proc.kill("SIGINT");
    const out = await new Response(proc.stdout).text();
    await proc.exited;
    return parseWrk(out);
  };
}

/**
 * Sequential requests in a loop, recording the longest gap between answers: while the DP's event loop is blocked
 * (validating and compiling a config) no request completes, so the gap is the stall as a client sees it.
 */
function startStallProbe(url: string) {
  let running = true;
  let maxGap = 0;
  const done = (async () => {
    let last = performance.now();
    while (running) {
      const res = await fetch(url);
      await res.arrayBuffer();
      const now = performance.now();
      maxGap = Math.max(maxGap, now - last);
      last = now;
    }
  })();
  return async () => {
    running = false;
    await done;
    return maxGap;
  };
}

const APPLIED =
  /configuration (\w+) from control plane applied: (\d+) services, (\d+) routes, (\d+) plugins \((\d+) ms\)/g;

/** The DP's own figure for the swap (compile), from its log line for the config with `services` services. */
function loggedApplyMs(dp: GwProcess, services: number): number | undefined {
  for (const m of dp.output().matchAll(APPLIED)) if (Number(m[2]) === services) return Number(m[5]);
  return undefined;
}

async function importInto(cpPrefix: string, file: string): Promise<number> {
  const started = performance.now();
  const r = await runGw(["config", "db_import", file, "--prefix", cpPrefix, "--log_level", "warn"]);
  if (r.code !== 0) throw new Error(`db_import ${file}: ${r.output}`);
  return performance.now() - started;
}

await runBounded(15 * 60_000, async () => {
  const upstream = await startUpstream();
  const cert = await genSharedCert();
  const cpPrefix = tempDir("bench-apply-cp");
  const cp = await startControlPlane(cert, { prefix: cpPrefix, args: ["--log_level", "warn"] });
  onCleanup(() => cp.kill());
  const dp = await startDataPlane(cert, cp, { args: ["--log_level", "info"] });
  onCleanup(() => dp.kill());
  const small = join(cpPrefix, "small.json");
  await Bun.write(small, JSON.stringify(benchConfig({ routes: 0, plugins: true, upstream })));
  await importInto(cpPrefix, small);
  await untilServed(dp, HOT_PATH, 200, 30_000);

  const rows: (string | number)[][] = [];
  for (const size of SIZES) {
    const routes = routesFor(size, true);
    const file = join(cpPrefix, `config-${size}.json`);
    await Bun.write(file, JSON.stringify(benchConfig({ routes, plugins: true, upstream })));
    Bun.gc(true);
    await Bun.sleep(500);
    const rssBefore = rssMb(dp.proc.pid);
    const cpuBefore = cpuMs(dp.proc.pid);
    const hashBefore = await configHashOf(dp);

    const stopWrk = startWrk(`${dp.proxy}${HOT_PATH}`);
    const stopProbe = startStallProbe(`${dp.proxy}${HOT_PATH}`);
    await Bun.sleep(1000);
    const importMs = await importInto(cpPrefix, file);
    const imported = performance.now();
    const appliedMs = await waitFor(
      `the DP to apply the ${size}-entity config`,
      () => loggedApplyMs(dp, routes + 1),
      APPLY_TIMEOUT_MS,
    );
    const visible = performance.now() - imported;
    await Bun.sleep(1000);
    const maxGap = await stopProbe();
    const wrk = await stopWrk();
    if ((await configHashOf(dp)) === hashBefore)
      throw new Error("the DP's configuration_hash did not change");
    // The newest route is routed (its backend does not resolve, so anything but the router's 404 will do).
    const newest = await fetch(`${dp.proxy}/svc/${routes}`);
    if (newest.status === 404) throw new Error(`/svc/${routes} is not routed after the apply`);
    const rssAfter = rssMb(dp.proc.pid);
    console.error(`${size}: ${JSON.stringify(wrk)} stall ${maxGap.toFixed(0)} ms`);
    rows.push([
      entityCount({ routes, plugins: true }).toLocaleString("en"),
      ms(importMs),
      ms(visible),
      ms(appliedMs),
      ms(maxGap),
      wrk.requests,
      wrk.non2xx,
      wrk.socketErrors,
      ms(wrk.p99Ms),
      ms(wrk.maxLatencyMs),
      ms(cpuMs(dp.proc.pid) - cpuBefore),
      `${mb(rssBefore)} → ${mb(rssAfter)}`,
    ]);
  }
  console.log(
    `\nConfig apply on a DP under wrk load (${CONNECTIONS} connections on the hot route; db_import into the CP's SQLite)\n`,
  );
  console.log(
    markdownTable(
      [
        "entities",
        "db_import",
        "import done → DP applied",
        "DP compile (log)",
        "longest DP stall",
        "requests",
        "non-2xx",
        "socket errors",
        "p99",
        "max latency",
        "DP CPU",
        "DP RSS",
      ],
      rows,
    ),
  );
});
