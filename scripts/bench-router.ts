/** Router benchmark: compile time and ns per match for 10 to 100k routes of a realistic mix (`npx bun scripts/bench-router.ts`). */
import { compileRouter, type RouterRequest, type RouterRoute } from "../src/proxy/router";

const SIZES = [10, 1_000, 10_000, 100_000];
const ITERATIONS = 200_000;

const uuid = (i: number) => `00000000-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

/**
 * One route in the shape real configs have: most by host + path prefix, some by wildcard host, some by path
 * only, a tenth by regex, some restricted to methods or a header.
 */
function route(i: number): RouterRoute {
  const r: RouterRoute = { id: uuid(i), protocols: ["http", "https"], strip_path: true };
  const kind = i % 10;
  if (kind < 5) r.hosts = [`svc${Math.floor(i / 10)}.example.com`];
  else if (kind === 5) r.hosts = [`*.tenant${i}.example.net`];
  r.paths =
    kind === 9
      ? [`~/items${i}/(?<id>\\d+)/detail$`]
      : [`/api/v${i % 3}/resource${i}`, `/legacy/resource${i}`];
  if (i % 4 === 0) r.methods = ["GET", "POST"];
  if (i % 7 === 0) r.headers = { "x-tenant": [`t${i}`] };
  return r;
}

/** A request that route `i` matches. */
function requestFor(i: number): RouterRequest {
  const r = route(i);
  const host = r.hosts?.[0]?.replace("*", "www") ?? "anything.example.org";
  const path = r.paths![0]!.startsWith("~") ? `/items${i}/42/detail` : `${r.paths![0]}/sub/x`;
  const headers = new Headers({ "x-tenant": `t${i}` });
  return { method: "GET", host, port: 8000, path, headers, protocol: "http" };
}

/**
 * CPU nanoseconds per match, best of five runs after a collection: CPU time rather than wall time because the
 * machine is shared, and the best run so a GC pause or JIT tier-up does not pass for routing cost.
 */
function nsPerMatch(match: () => unknown): number {
  Bun.gc(true);
  let best = Number.POSITIVE_INFINITY;
  for (let round = 0; round < 5; round++) {
    const start = process.cpuUsage();
    for (let i = 0; i < ITERATIONS; i++) match();
    const used = process.cpuUsage(start);
    best = Math.min(best, ((used.user + used.system) * 1000) / ITERATIONS);
  }
  return best;
}

const rows: { n: number; compileMs: number; heapMb: number; prefix: number; regex: number; miss: number }[] =
  [];
const heapMb = () => {
  Bun.gc(true);
  return process.memoryUsage().heapUsed / 1e6;
};
for (const n of SIZES) {
  const routes = Array.from({ length: n }, (_, i) => route(i));
  const heapBefore = heapMb();
  const start = process.cpuUsage();
  const router = compileRouter(routes, () => "/upstream");
  const compiled = process.cpuUsage(start);
  const compileMs = (compiled.user + compiled.system) / 1000;
  const routerMb = heapMb() - heapBefore;
  // near the end of the list: a host + prefix route and a (hostless) regex route
  const prefixHit = requestFor(n - 9);
  const regexHit = requestFor(n - 1);
  // a known host, a path nobody routes
  const miss = { ...prefixHit, path: "/nothing/here" };
  for (const [req, i] of [
    [prefixHit, n - 9],
    [regexHit, n - 1],
  ] as const) {
    const found = router.match(req)?.route.id;
    if (found !== uuid(i)) throw new Error(`the request for route ${i} matched ${found}`);
  }
  if (router.match(miss)) throw new Error("the miss request matched");
  rows.push({
    n,
    compileMs,
    heapMb: routerMb,
    prefix: nsPerMatch(() => router.match(prefixHit)),
    regex: nsPerMatch(() => router.match(regexHit)),
    miss: nsPerMatch(() => router.match(miss)),
  });
}

const cell = (v: number, w: number) => v.toFixed(v < 100 && v % 1 ? 1 : 0).padStart(w);
console.log("CPU time, best of 5 runs of 200k matches");
console.log("routes  compile ms  heap MB  prefix hit ns  regex hit ns  miss ns");
for (const r of rows) {
  console.log(
    `${String(r.n).padStart(6)}  ${cell(r.compileMs, 10)}  ${cell(r.heapMb, 7)}  ${cell(r.prefix, 13)}  ${cell(r.regex, 12)}  ${cell(r.miss, 7)}`,
  );
}
const first = rows[0]!;
const last = rows[rows.length - 1]!;
const ratio = (k: "prefix" | "regex" | "miss") => (last[k] / first[k]).toFixed(2);
console.log(
  `ratio ${last.n}/${first.n}: prefix hit ${ratio("prefix")}x, regex hit ${ratio("regex")}x, miss ${ratio("miss")}x`,
);
