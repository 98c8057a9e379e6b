/** Proxy benchmark, fair layout: each proxy its own single-worker process before one nginx upstream; wrk rounds; CPU from /proc. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

const ROOT = resolve(import.meta.dir, "..");
const HOST = "127.0.0.1";
const ROUNDS = Number(process.env.ROUNDS ?? 3);
const DURATION = Number(process.env.DURATION ?? 5);
const BIG_ROUNDS = Number(process.env.BIG_ROUNDS ?? 1);
const BIG_DURATION = Number(process.env.BIG_DURATION ?? 4);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const ROUTES = 1000;
/** The route gw's requests match: near the end of the 1,000, so routing cost is not flattered. */
const GW_ROUTE = `/r${String(ROUTES - 10).padStart(4, "0")}`;
const CLK_TCK = Number(Bun.spawnSync(["getconf", "CLK_TCK"]).stdout.toString().trim()) || 100;

const dir = mkdtempSync(join(tmpdir(), "bench-proxy-"));
const procs: Subprocess[] = [];

function freePort(): number {
  const l = Bun.listen({ hostname: HOST, port: 0, socket: { data() {} } });
  const port = l.port;
  l.stop(true);
  return port;
}

function start(cmd: string[], name: string): Subprocess {
  const proc = Bun.spawn(cmd, { cwd: ROOT, stdout: "ignore", stderr: Bun.file(join(dir, `${name}.log`)) });
  procs.push(proc);
  return proc;
}

function cleanup(): void {
  for (const p of procs) p.kill("SIGKILL");
  rmSync(dir, { recursive: true, force: true });
}
process.on("SIGINT", () => {
  cleanup();
  process.exit(130);
});

async function waitReady(url: string, proc: Subprocess, seconds: number): Promise<boolean> {
  for (let i = 0; i < seconds * 20; i++) {
    if (proc.exitCode !== null) return false;
    try {
      const res = await fetch(url, { keepalive: false });
      await res.arrayBuffer();
      if (res.status === 200) return true;
    } catch {}
    await Bun.sleep(50);
  }
  return false;
}

function nginxConf(name: string, server: string, http = ""): string {
  const file = join(dir, `${name}.conf`);
  const temp = join(dir, `${name}-tmp`);
  writeFileSync(
    file,
    `daemon off; master_process off; worker_processes 1; pid ${join(dir, `${name}.pid`)}; error_log ${join(dir, `${name}.err`)} error;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path ${temp}; proxy_temp_path ${temp}; fastcgi_temp_path ${temp}; uwsgi_temp_path ${temp}; scgi_temp_path ${temp};
  keepalive_requests 1000000; ${http}
  server { ${server} } }
`,
  );
  return file;
}

function cpuTicks(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    // Fields after the command's closing paren; utime and stime are the 14th and 15th fields (all threads).
    const fields = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return Number(fields[11]) + Number(fields[12]);
  } catch {
    return Number.NaN;
  }
}

interface Sample {
  rps: number;
  p50: number;
  p99: number;
  cpuUs: number;
  /** Non-2xx answers plus socket errors: a row that has them is not comparable. */
  errors: number;
}

const toMs = (v: string) => {
  const m = v.match(/([\d.]+)(us|ms|s)/);
  if (!m) return Number.NaN;
  const n = Number(m[1]);
  return m[2] === "us" ? n / 1000 : m[2] === "s" ? n * 1000 : n;
};

async function wrk(url: string, seconds: number): Promise<string> {
  // A long timeout: 1 MB answers on a busy 2-CPU box take over wrk's default 2 s, which would count as errors.
  const p = Bun.spawn(
    ["wrk", "-t1", `-c${CONNECTIONS}`, `-d${seconds}s`, "--timeout", "15s", "--latency", url],
    {
      stdout: "pipe",
    },
  );
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}

async function measure(pid: number, url: string, seconds: number): Promise<Sample> {
  await wrk(url, 1); // warm-up: JIT, keep-alive pools
  const before = cpuTicks(pid);
  const out = await wrk(url, seconds);
  const after = cpuTicks(pid);
  const requests = Number(out.match(/(\d+) requests in/)?.[1] ?? 0);
  return {
    rps: Number(out.match(/Requests\/sec:\s*([\d.]+)/)?.[1] ?? 0),
    p50: toMs(out.match(/ 50%\s+(\S+)/)?.[1] ?? ""),
    p99: toMs(out.match(/ 99%\s+(\S+)/)?.[1] ?? ""),
    cpuUs: requests > 0 ? (((after - before) / CLK_TCK) * 1e6) / requests : Number.NaN,
    errors:
      Number(out.match(/Non-2xx or 3xx responses: (\d+)/)?.[1] ?? 0) +
      (out.match(/Socket errors: (.*)/)?.[1]?.match(/\d+/g) ?? []).reduce((a, n) => a + Number(n), 0),
  };
}

interface Row {
  name: string;
  pid: number | null;
  /** Base URL; the body's path is appended. */
  base: string;
  note?: string;
}

const median = (xs: number[]) => {
  const s = xs.filter((x) => !Number.isNaN(x)).sort((a, b) => a - b);
  if (s.length === 0) return Number.NaN;
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};

async function main(): Promise<void> {
  writeFileSync(join(dir, "10k"), Buffer.alloc(10 * 1024, "a"));
  writeFileSync(join(dir, "1m"), Buffer.alloc(1024 * 1024, "b"));

  const upPort = freePort();
  const up = start(
    [
      "nginx",
      "-p",
      dir,
      "-c",
      nginxConf(
        "upstream",
        `listen ${HOST}:${upPort}; location = / { return 200 "ok\\n"; } location / { root ${dir}; }`,
      ),
    ],
    "upstream",
  );
  if (!(await waitReady(`http://${HOST}:${upPort}/`, up, 5)))
    throw new Error(`nginx upstream did not start (see ${dir})`);

  const rows: Row[] = [];
  const add = async (name: string, cmd: string[], port: number, path = "", note?: string, wait = 10) => {
    const proc = start(cmd, name.replace(/\W+/g, "-"));
    const ok = await waitReady(`http://${HOST}:${port}${path}/`, proc, wait);
    if (!ok) {
      const log = await Bun.file(join(dir, `${name.replace(/\W+/g, "-")}.log`)).text();
      process.stderr.write(`${name} did not start:\n${log.split("\n").slice(-15).join("\n")}\n`);
    }
    rows.push({
      name,
      pid: ok ? proc.pid : null,
      base: `http://${HOST}:${port}${path}`,
      note: ok ? undefined : note,
    });
  };

  const nginxPort = freePort();
  await add(
    "nginx `proxy_pass`, upstream keepalive",
    [
      "nginx",
      "-p",
      dir,
      "-c",
      nginxConf(
        "proxy",
        `listen ${HOST}:${nginxPort}; location / { proxy_pass http://up; proxy_http_version 1.1; proxy_set_header Connection ""; }`,
        `upstream up { server ${HOST}:${upPort}; keepalive 64; }`,
      ),
    ],
    nginxPort,
  );

  const haPort = freePort();
  const haCfg = join(dir, "haproxy.cfg");
  writeFileSync(
    haCfg,
    `global\n  nbthread 1\n  maxconn 4096\ndefaults\n  mode http\n  timeout connect 5s\n  timeout client 60s\n  timeout server 60s\n  option http-keep-alive\n  http-reuse always\nfrontend fe\n  bind ${HOST}:${haPort}\n  default_backend be\nbackend be\n  server s1 ${HOST}:${upPort}\n`,
  );
  await add("HAProxy, nbthread 1", ["haproxy", "-db", "-f", haCfg], haPort);

  const bun = process.execPath;
  const servers = join(ROOT, "scripts/bench-proxy.servers.ts");
  for (const [mode, name] of [
    ["pipe", "Bun byte pipe (`Bun.listen`+`Bun.connect`, no HTTP)"],
    ["client", "`Bun.serve` + gw upstream client (src/proxy/upstream)"],
    ["fetch", "`Bun.serve` + `fetch` (naive proxy)"],
  ] as const) {
    const port = freePort();
    await add(name, [bun, servers, mode, String(port), String(upPort)], port);
  }

  const gwBinary = join(ROOT, "dist/gw");
  const gwName = `gw, DB-less, ${ROUTES} routes`;
  if (existsSync(gwBinary)) {
    const gwPort = freePort();
    const config = join(dir, "kong.yml");
    let yaml = `_format_version: "3.0"\nservices:\n- name: bench\n  url: http://${HOST}:${upPort}\n  routes:\n`;
    for (let i = 0; i < ROUTES; i++)
      yaml += `  - name: r${i}\n    paths: ["/r${String(i).padStart(4, "0")}"]\n`;
    writeFileSync(config, yaml);
    const prefix = join(dir, "gw-prefix");
    const args = [
      "start",
      "--database",
      "off",
      "--declarative_config",
      config,
      "--proxy_listen",
      `${HOST}:${gwPort}`,
      "--status_listen",
      "off",
      "--admin_listen",
      "off",
      "--prefix",
      prefix,
      "--proxy_access_log",
      "off",
    ];
    await add(gwName, [gwBinary, ...args], gwPort, GW_ROUTE, "failed to start (see its log)", 20);
  } else {
    rows.push({ name: gwName, pid: null, base: "", note: "not built" });
  }

  const bodies = [
    { label: "2 B", path: "/", rounds: ROUNDS, seconds: DURATION },
    { label: "10 KB", path: "/10k", rounds: BIG_ROUNDS, seconds: BIG_DURATION },
    { label: "1 MB", path: "/1m", rounds: BIG_ROUNDS, seconds: BIG_DURATION },
  ];
  const samples = new Map<string, Sample[]>();
  for (const body of bodies) {
    for (let round = 0; round < body.rounds; round++) {
      for (const row of rows) {
        if (row.pid === null) continue;
        const s = await measure(
          row.pid,
          row.base + (body.path === "/" && row.base.endsWith(GW_ROUTE) ? "" : body.path),
          body.seconds,
        );
        const key = `${body.label}\n${row.name}`;
        samples.set(key, [...(samples.get(key) ?? []), s]);
        process.stderr.write(
          `${body.label} round ${round + 1} ${row.name}: ${s.rps.toFixed(0)} rps, ${s.cpuUs.toFixed(1)} µs CPU/req\n`,
        );
      }
    }
  }

  const loadavg = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  console.log(
    `\nwrk -t1 -c${CONNECTIONS}; ${ROUNDS}×${DURATION}s rounds (2 B), ${BIG_ROUNDS}×${BIG_DURATION}s (10 KB, 1 MB), interleaved, medians; ${cpuModel}, ${navigator.hardwareConcurrency} CPUs, load ${loadavg}; Bun ${Bun.version}\n`,
  );
  console.log("| proxy (one process each) | body | RPS | vs nginx | p50 ms | p99 ms | CPU µs / request |");
  console.log("|---|---|---:|---:|---:|---:|---:|");
  for (const body of bodies) {
    const nginx = median((samples.get(`${body.label}\n${rows[0]?.name}`) ?? []).map((s) => s.rps));
    for (const row of rows) {
      const ss = samples.get(`${body.label}\n${row.name}`) ?? [];
      if (row.pid === null || ss.length === 0) {
        console.log(`| ${row.name} | ${body.label} | ${row.note ?? "n/a"} | | | | |`);
        continue;
      }
      const rps = median(ss.map((s) => s.rps));
      const errors = ss.reduce((a, s) => a + s.errors, 0);
      const flag = errors > 0 ? ` (${errors} errors)` : "";
      console.log(
        `| ${row.name} | ${body.label} | ${rps.toFixed(0)}${flag} | ${(rps / nginx).toFixed(2)}× | ${median(ss.map((s) => s.p50)).toFixed(2)} | ${median(ss.map((s) => s.p99)).toFixed(2)} | ${median(ss.map((s) => s.cpuUs)).toFixed(1)} |`,
      );
    }
  }
}

try {
  await main();
} finally {
  cleanup();
}
