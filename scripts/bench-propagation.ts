/**
 * Measures config propagation in hybrid mode: one CP (SQLite) and N DP processes of dist/gw; the time from an Admin
 * API write (a route with a unique path) until every DP proxies it with a 200. Prints p50/p99 per N and memory.
 *
 *   bun scripts/bench-propagation.ts [--dps=10,50,100] [--writes=20] [--poll-ms=2]
 */
import type { GwProcess } from "../test/helpers/gw";
import { admin, genSharedCert, startControlPlane, startDataPlane, untilServed } from "../test/helpers/hybrid";
import {
  cpuMs,
  markdownTable,
  mb,
  ms,
  numbers,
  onCleanup,
  option,
  percentile,
  rssMb,
  runBounded,
  startUpstream,
} from "./lib/bench";

const DPS = numbers(option("dps", "BENCH_DPS", "10,50,100"));
const WRITES = Number(option("writes", "BENCH_WRITES", "20"));
/** Pause between one DP's polls: 0 is a truly tight loop, which on a small machine steals CPU from the DPs. */
const POLL_MS = Number(option("poll-ms", "BENCH_POLL_MS", "2"));
const SERVE_TIMEOUT_MS = 30_000;
/** DPs start this many at a time: each is a full Bun process and a start storm only measures the scheduler. */
const START_BATCH = 10;

async function until200(url: string, deadline: number): Promise<number> {
  while (performance.now() < deadline) {
    const res = await fetch(url);
    await res.arrayBuffer();
    if (res.status === 200) return performance.now();
    if (POLL_MS > 0) await Bun.sleep(POLL_MS);
  }
  throw new Error(`${url} was not served within ${SERVE_TIMEOUT_MS / 1000} s`);
}

/** One write: POST a route, then poll every DP until it serves it; the slowest DP decides. */
async function propagate(cp: GwProcess, dps: GwProcess[], path: string): Promise<number> {
  const started = performance.now();
  const res = await admin(cp, "POST", "/services/bench/routes", { paths: [path] });
  if (res.status !== 201) throw new Error(`POST route: ${res.status} ${JSON.stringify(res.body)}`);
  const deadline = started + SERVE_TIMEOUT_MS;
  const served = await Promise.all(dps.map((dp) => until200(`${dp.proxy}${path}`, deadline)));
  return Math.max(...served) - started;
}

async function growTo(n: number, dps: GwProcess[], start: () => Promise<GwProcess>): Promise<void> {
  // Each DP is tracked as soon as it runs, so one failing start in a batch leaves none of the others behind; a
  // start is retried once because other processes on the machine may take a port between pick and bind.
  const tracked = async () => {
    const dp = await start().catch(() => start());
    onCleanup(() => dp.kill());
    return dp;
  };
  while (dps.length < n) {
    const batch = Math.min(START_BATCH, n - dps.length);
    dps.push(...(await Promise.all(Array.from({ length: batch }, tracked))));
  }
}

await runBounded(15 * 60_000, async () => {
  const upstream = await startUpstream();
  const cert = await genSharedCert();
  const quiet = ["--log_level", "warn"];
  const cp = await startControlPlane(cert, { args: quiet });
  onCleanup(() => cp.kill());
  const svc = await admin(cp, "POST", "/services", { name: "bench", url: upstream });
  if (svc.status !== 201) throw new Error(`POST service: ${svc.status} ${JSON.stringify(svc.body)}`);

  const dps: GwProcess[] = [];
  const rows: (string | number)[][] = [];
  for (const n of DPS) {
    await growTo(n, dps, () => startDataPlane(cert, cp, { args: quiet }));
    // Every DP connected and in sync before timing starts.
    const warm = `/warm-${n}`;
    await admin(cp, "POST", "/services/bench/routes", { paths: [warm] });
    await Promise.all(dps.map((dp) => untilServed(dp, warm, 200, 60_000)));

    const cpuBefore = dps.map((dp) => cpuMs(dp.proc.pid));
    const cpCpuBefore = cpuMs(cp.proc.pid);
    const times: number[] = [];
    for (let i = 0; i < WRITES; i++) {
      times.push(await propagate(cp, dps, `/p-${n}-${i}-${crypto.randomUUID()}`));
    }
    // CPU each DP spent per write (receive, validate, compile, cache, answer polls): on a small machine the DPs
    // share the cores, so N × this bounds how fast the slowest DP can be.
    const dpCpu = dps.reduce((sum, dp, i) => sum + cpuMs(dp.proc.pid) - cpuBefore[i]!, 0) / (n * WRITES);
    const cpCpu = (cpuMs(cp.proc.pid) - cpCpuBefore) / WRITES;
    const rss = dps.map((dp) => rssMb(dp.proc.pid));
    const total = rss.reduce((a, b) => a + b, 0);
    console.error(`N=${n}: ${times.map((t) => t.toFixed(0)).join(" ")} ms`);
    rows.push([
      n,
      WRITES,
      ms(percentile(times, 50)),
      ms(percentile(times, 99)),
      ms(Math.max(...times)),
      ms(dpCpu),
      ms(cpCpu),
      mb(total / n),
      mb(Math.max(...rss)),
      mb(total),
      mb(rssMb(cp.proc.pid)),
    ]);
  }
  console.log(
    `\nConfig propagation: Admin API write → every DP proxies the new route (poll every ${POLL_MS} ms, one CP on SQLite)\n`,
  );
  console.log(
    markdownTable(
      [
        "DPs",
        "writes",
        "p50",
        "p99",
        "max",
        "DP CPU per write (polled)",
        "CP CPU per write",
        "DP RSS avg",
        "DP RSS max",
        "DPs RSS total",
        "CP RSS",
      ],
      rows,
    ),
  );
});
