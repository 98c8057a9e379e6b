/** Starts the compiled `dist/gw` binary for end-to-end tests, on free loopback ports, in a temporary prefix. */
import { existsSync, mkdtempSync, readdirSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

export const GW_BINARY = resolve(import.meta.dir, "../../dist/gw");

export function requireBinary(): string {
  if (!existsSync(GW_BINARY)) throw new Error(`${GW_BINARY} is missing: run \`npm run build\` first`);
  return GW_BINARY;
}

/** A port the kernel just handed out and released; good enough on loopback where nothing else races for it. */
export function freePort(): number {
  const listener = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
  const port = listener.port;
  listener.stop(true);
  return port;
}

export function tempDir(label = "gw"): string {
  return mkdtempSync(join(tmpdir(), `${label}-`));
}

export async function waitFor<T>(
  what: string,
  probe: () => Promise<T | undefined | false> | T | undefined | false,
  timeoutMs = 15_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let lastError: unknown;
  while (Date.now() < deadline) {
    try {
      const value = await probe();
      if (value !== undefined && value !== false) return value;
    } catch (e) {
      lastError = e;
    }
    await Bun.sleep(50);
  }
  throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ""}`);
}

export interface GwProcess {
  proc: Subprocess;
  prefix: string;
  proxy: string;
  status: string;
  admin: string;
  cluster: number;
  /** Everything the process wrote to stdout and stderr so far. */
  output(): string;
  stop(): Promise<number>;
  kill(): Promise<void>;
}

export interface GwOptions {
  args?: string[];
  env?: Record<string, string>;
  prefix?: string;
  /** Wait until the Status API answers (default) or not at all. */
  wait?: "status" | "none";
}

/** Starts `gw start` with ports chosen here; callers add role/database flags in `args`. */
export async function startGw(opts: GwOptions = {}): Promise<GwProcess> {
  const prefix = opts.prefix ?? tempDir("gw-prefix");
  const proxyPort = freePort();
  const statusPort = freePort();
  const adminPort = freePort();
  const clusterPort = freePort();
  const args = [
    "start",
    "--prefix",
    prefix,
    "--proxy_listen",
    `127.0.0.1:${proxyPort}`,
    "--status_listen",
    `127.0.0.1:${statusPort}`,
    "--admin_listen",
    `127.0.0.1:${adminPort}`,
    "--cluster_listen",
    `127.0.0.1:${clusterPort}`,
    "--proxy_access_log",
    "off",
    ...(opts.args ?? []),
  ];
  const proc = Bun.spawn([requireBinary(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: prefix, ...opts.env },
    stdout: "pipe",
    stderr: "pipe",
  });
  let out = "";
  const drain = async (stream: ReadableStream<Uint8Array>) => {
    const decoder = new TextDecoder();
    for await (const chunk of stream) out += decoder.decode(chunk, { stream: true });
  };
  void drain(proc.stdout as ReadableStream<Uint8Array>);
  void drain(proc.stderr as ReadableStream<Uint8Array>);
  const gw: GwProcess = {
    proc,
    prefix,
    proxy: `http://127.0.0.1:${proxyPort}`,
    status: `http://127.0.0.1:${statusPort}`,
    admin: `http://127.0.0.1:${adminPort}`,
    cluster: clusterPort,
    output: () => out,
    async stop() {
      proc.kill("SIGTERM");
      return await proc.exited;
    },
    async kill() {
      proc.kill("SIGKILL");
      await proc.exited;
    },
  };
  if (opts.wait !== "none") {
    await waitFor(`gw status API (output so far: ${out.slice(-2000)})`, async () => {
      if (proc.exitCode !== null) throw new Error(`gw exited with ${proc.exitCode}: ${out}`);
      const res = await fetch(`${gw.status}/status`);
      return res.ok;
    });
  }
  return gw;
}

/** Starts gw DB-less (`--database off`) serving the declarative config given as YAML text. */
export function startDbless(yaml: string, opts: GwOptions = {}): Promise<GwProcess> {
  const file = join(tempDir("gw-dbless"), "kong.yml");
  writeFileSync(file, yaml);
  return startGw({
    ...opts,
    args: ["--database", "off", "--declarative_config", file, ...(opts.args ?? [])],
  });
}

/** File descriptors a process holds open, read from /proc. */
export function openFds(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** A process's resident memory in bytes (VmRSS from /proc). */
export function rssBytes(pid: number): number {
  const kb = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, "utf8"))?.[1];
  if (kb === undefined) throw new Error(`no VmRSS for process ${pid}`);
  return Number(kb) * 1024;
}

/** Runs a gw command to completion and returns its exit code and output. */
export async function runGw(args: string[], env: Record<string, string> = {}, cwd?: string) {
  const proc = Bun.spawn([requireBinary(), ...args], {
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", ...env },
    stdout: "pipe",
    stderr: "pipe",
    cwd,
  });
  const [stdout, stderr, code] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { code, stdout, stderr, output: stdout + stderr };
}
