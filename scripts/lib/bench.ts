/** Shared bits of the hybrid benchmarks: a child-process upstream, RSS, percentiles, markdown tables, bounded runs. */
import { readFileSync } from "node:fs";
import { readListeningPort } from "../../test/helpers/s3rver";

const cleanups: (() => Promise<unknown> | unknown)[] = [];

/** Runs `fn` after the script ends, fails, overruns or is interrupted, so no gw process outlives a benchmark. */
export function onCleanup(fn: () => Promise<unknown> | unknown): void {
  cleanups.push(fn);
}

let cleaning: Promise<void> | null = null;

/** One cleanup however many ways the run ends at once (a signal while a probe fails must not exit half-way). */
function cleanup(): Promise<void> {
  cleaning ??= (async () => {
    for (const fn of cleanups.splice(0).reverse()) await Promise.resolve(fn()).catch(() => {});
  })();
  return cleaning;
}

/** Runs a benchmark body with a hard time limit; everything registered with `onCleanup` is stopped either way. */
export async function runBounded(limitMs: number, body: () => Promise<void>): Promise<never> {
  const abort = async (why: string) => {
    console.error(why);
    await cleanup();
    process.exit(1);
  };
  const timer = setTimeout(() => void abort(`gave up after ${limitMs / 1000} s`), limitMs);
  process.on("SIGINT", () => void abort("interrupted"));
  process.on("SIGTERM", () => void abort("terminated"));
  try {
    await body();
  } catch (e) {
    await abort(e instanceof Error ? (e.stack ?? e.message) : String(e));
  }
  clearTimeout(timer);
  await cleanup();
  process.exit(0);
}

const UPSTREAM_READY = "upstream listening on port ";
const UPSTREAM_CODE = `
const s = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("ok") });
console.log(${JSON.stringify(UPSTREAM_READY)} + s.port);
process.stdin.on("close", () => process.exit(0)).resume();`;

/** A minimal HTTP upstream in its own process, so the proxy's backend never competes with the benchmark's loop. */
export async function startUpstream(): Promise<string> {
  const proc = Bun.spawn([process.execPath, "-e", UPSTREAM_CODE], { stdin: "pipe", stdout: "pipe" });
  onCleanup(() => proc.kill());
  const port = await readListeningPort(proc.stdout, UPSTREAM_READY);
  return `http://127.0.0.1:${port}`;
}

/** Resident memory of a process in MB, from /proc (0 once it is gone). */
export function rssMb(pid: number): number {
  try {
    const line = readFileSync(`/proc/${pid}/status`, "utf8").match(/^VmRSS:\s+(\d+) kB/m);
    return line ? Number(line[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** CPU time (user + system) a process has used so far, in ms, from /proc (0 once it is gone). */
export function cpuMs(pid: number): number {
  try {
    // Fields after the parenthesised command name; utime and stime are the 12th and 13th of them, in clock ticks.
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLOCK_TICKS;
  } catch {
    return 0;
  }
}

/** Linux's USER_HZ, fixed at 100 on every mainstream architecture. */
const CLOCK_TICKS = 100;

/** Nearest-rank percentile of unsorted values. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.min(sorted.length - 1, Math.max(0, Math.ceil((p / 100) * sorted.length) - 1));
  return sorted[rank] ?? Number.NaN;
}

export const ms = (n: number) => `${n.toFixed(n < 10 ? 1 : 0)} ms`;
export const mb = (n: number) => `${n.toFixed(0)} MB`;

export function markdownTable(headers: string[], rows: (string | number)[][]): string {
  const line = (cells: (string | number)[]) => `| ${cells.join(" | ")} |`;
  return [line(headers), line(headers.map(() => "---")), ...rows.map(line)].join("\n");
}

/** `--name=value` from argv, else the env variable, else the default. */
export function option(name: string, env: string, fallback: string): string {
  const flag = process.argv.find((a) => a.startsWith(`--${name}=`));
  return flag ? flag.slice(name.length + 3) : (process.env[env] ?? fallback);
}

export const numbers = (csv: string) => csv.split(",").filter(Boolean).map(Number);
