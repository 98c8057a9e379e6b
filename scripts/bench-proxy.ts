/** Proxy benchmark, fair layout: each proxy its own single-worker process before one nginx upstream; wrk rounds; CPU from /proc. `SCENARIO=plugins` instead weighs gw's key-auth + rate-limiting against gw without plugins. */
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import type { Subprocess } from "bun";

const ROOT = resolve(import.meta.dir, "..");
const HOST = "127.0.0.1";
const SCENARIO = process.env.SCENARIO ?? "proxy";
if (SCENARIO !== "proxy" && SCENARIO !== "plugins") {
  console.error(`SCENARIO must be "proxy" (the default) or "plugins", got "${SCENARIO}"`);
  process.exit(2);
}
// The plugin scenario has two rows, so longer rounds fit the same ~2 minutes and steady the ratio.
const ROUNDS = Number(process.env.ROUNDS ?? (SCENARIO === "plugins" ? 5 : 3));
const DURATION = Number(process.env.DURATION ?? (SCENARIO === "plugins" ? 8 : 5));
const BIG_ROUNDS = Number(process.env.BIG_ROUNDS ?? 1);
const BIG_DURATION = Number(process.env.BIG_DURATION ?? 4);
const CONNECTIONS = Number(process.env.CONNECTIONS ?? 50);
const ROUTES = 1000;
const routePath = (i: number) => `/r${String(i).padStart(4, "0")}`;
/** The route gw's requests match: near the end of the 1,000, so routing cost is not flattered. */
const GW_ROUTE = routePath(ROUTES - 10);
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

async function waitReady(
  url: string,
  proc: Subprocess,
  seconds: number,
  headers: Record<string, string> = {},
): Promise<boolean> {
  for (let i = 0; i < seconds * 20; i++) {
    if (proc.exitCode !== null) return false;
    try {
      const res = await fetch(url, { keepalive: false, headers });
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

/** `script` is a wrk Lua file that writes the requests (the plugin scenario's rotating routes and keys). */
async function wrk(url: string, seconds: number, script?: string): Promise<string> {
  // A long timeout: 1 MB answers on a busy 2-CPU box take over wrk's default 2 s, which would count as errors.
  const p = Bun.spawn(
    [
      "wrk",
      "-t1",
      `-c${CONNECTIONS}`,
      `-d${seconds}s`,
      "--timeout",
      "15s",
      "--latency",
      ...(script ? ["-s", script] : []),
      url,
    ],
    {
      stdout: "pipe",
    },
  );
  const out = await new Response(p.stdout).text();
  await p.exited;
  return out;
}

async function measure(pid: number, url: string, seconds: number, script?: string): Promise<Sample> {
  await wrk(url, 1, script); // warm-up: JIT, keep-alive pools
  const before = cpuTicks(pid);
  const out = await wrk(url, seconds, script);
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

/** The nginx upstream every proxy forwards to: `ok\n` at `/`, files of the scratch directory elsewhere. */
async function startUpstream(): Promise<number> {
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
  return upPort;
}

/** `dist/gw start` DB-less on `config`, every listener but the proxy off, no access log. */
function gwCommand(name: string, config: string, port: number): string[] {
  return [
    join(ROOT, "dist/gw"),
    "start",
    "--database",
    "off",
    "--declarative_config",
    config,
    "--proxy_listen",
    `${HOST}:${port}`,
    "--status_listen",
    "off",
    "--admin_listen",
    "off",
    "--prefix",
    join(dir, `${name}-prefix`),
    "--proxy_access_log",
    "off",
  ];
}

async function main(): Promise<void> {
  writeFileSync(join(dir, "10k"), Buffer.alloc(10 * 1024, "a"));
  writeFileSync(join(dir, "1m"), Buffer.alloc(1024 * 1024, "b"));

  const upPort = await startUpstream();

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
    ["server", "gw HTTP/1.1 server + upstream client, no routing (src/proxy/downstream)"],
    ["fetch", "`Bun.serve` + `fetch` (naive proxy)"],
  ] as const) {
    const port = freePort();
    await add(name, [bun, servers, mode, String(port), String(upPort)], port);
  }

  const gwName = `gw, DB-less, ${ROUTES} routes`;
  if (existsSync(join(ROOT, "dist/gw"))) {
    const gwPort = freePort();
    const config = join(dir, "kong.yml");
    let yaml = `_format_version: "3.0"\nservices:\n- name: bench\n  url: http://${HOST}:${upPort}\n  routes:\n`;
    for (let i = 0; i < ROUTES; i++) yaml += `  - name: r${i}\n    paths: ["${routePath(i)}"]\n`;
    writeFileSync(config, yaml);
    await add(gwName, gwCommand("gw", config, gwPort), gwPort, GW_ROUTE, "failed to start (see its log)", 20);
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

/** Routes and consumers of the plugin scenario (Kong's published "100 routes, 100 consumers" case). */
const PLUGIN_ROUTES = 100;
const CONSUMERS = 100;
/** Far above what one process serves, so rate-limiting counts and sets headers but never answers 429. */
const RATE_LIMIT_PER_SECOND = 1_000_000;
const apiKey = (i: number) => `bench-key-${i}`;

/** One service with PLUGIN_ROUTES routes, each with key-auth and rate-limiting when `plugins`; consumers either way. */
function pluginScenarioConfig(upPort: number, plugins: boolean): string {
  let yaml = `_format_version: "3.0"\nservices:\n- name: bench\n  url: http://${HOST}:${upPort}\n  routes:\n`;
  for (let i = 0; i < PLUGIN_ROUTES; i++) {
    yaml += `  - name: r${i}\n    paths: ["${routePath(i)}"]\n`;
    if (plugins)
      yaml += `    plugins:\n    - name: key-auth\n    - name: rate-limiting\n      config: { second: ${RATE_LIMIT_PER_SECOND}, policy: local }\n`;
  }
  yaml += "consumers:\n";
  for (let i = 0; i < CONSUMERS; i++)
    yaml += `- username: c${i}\n  keyauth_credentials: [{ key: "${apiKey(i)}" }]\n`;
  return yaml;
}

/**
 * wrk requests that walk every (route, consumer) pair: the route changes each request, the key every PLUGIN_ROUTES
 * requests. Built once in `init` so wrk's own cost stays a table lookup.
 */
function rotationScript(): string {
  return `local reqs, n, i = {}, 0, 0
function init(args)
  for k = 0, ${CONSUMERS - 1} do
    for r = 0, ${PLUGIN_ROUTES - 1} do
      n = n + 1
      reqs[n] = wrk.format("GET", string.format("/r%04d", r), { apikey = "bench-key-" .. k })
    end
  end
end
function request()
  i = i % n + 1
  return reqs[i]
end
`;
}

/** Refuses to measure a gw that would answer 401 or skip the limit: the ratio would be meaningless. */
async function checkPluginsActive(base: string): Promise<void> {
  const anonymous = await fetch(`${base}${routePath(0)}`);
  await anonymous.arrayBuffer();
  const keyed = await fetch(`${base}${routePath(PLUGIN_ROUTES - 1)}`, {
    headers: { apikey: apiKey(CONSUMERS - 1) },
  });
  await keyed.arrayBuffer();
  const limit = keyed.headers.get("x-ratelimit-limit-second");
  if (anonymous.status !== 401 || keyed.status !== 200 || limit !== String(RATE_LIMIT_PER_SECOND))
    throw new Error(
      `gw with plugins is not enforcing them: no key gave ${anonymous.status} (want 401), a key gave ${keyed.status} (want 200) with X-RateLimit-Limit-Second ${limit} (want ${RATE_LIMIT_PER_SECOND})`,
    );
}

async function startGw(name: string, yaml: string): Promise<{ pid: number; base: string }> {
  const config = join(dir, `${name}.yml`);
  writeFileSync(config, yaml);
  const port = freePort();
  const proc = start(gwCommand(name, config, port), name);
  const base = `http://${HOST}:${port}`;
  if (!(await waitReady(`${base}${routePath(0)}`, proc, 20, { apikey: apiKey(0) }))) {
    const log = await Bun.file(join(dir, `${name}.log`)).text();
    throw new Error(`${name} did not start:\n${log.split("\n").slice(-15).join("\n")}`);
  }
  return { pid: proc.pid, base };
}

async function pluginScenario(): Promise<void> {
  if (!existsSync(join(ROOT, "dist/gw")))
    throw new Error("dist/gw is missing: run `npm run build` (or pass --build)");
  const upPort = await startUpstream();
  const script = join(dir, "rotate.lua");
  writeFileSync(script, rotationScript());
  const bare = await startGw("gw-bare", pluginScenarioConfig(upPort, false));
  const plugged = await startGw("gw-plugins", pluginScenarioConfig(upPort, true));
  await checkPluginsActive(plugged.base);
  const rows = [
    { name: "no plugins", ...bare, samples: [] as Sample[] },
    { name: "key-auth + rate-limiting (local) on every route", ...plugged, samples: [] as Sample[] },
  ];

  for (let round = 0; round < ROUNDS; round++) {
    for (const row of rows) {
      const s = await measure(row.pid, row.base, DURATION, script);
      row.samples.push(s);
      process.stderr.write(
        `round ${round + 1} ${row.name}: ${s.rps.toFixed(0)} rps, ${s.cpuUs.toFixed(1)} µs CPU/req\n`,
      );
    }
  }

  const [bareSamples, pluggedSamples] = rows.map((r) => r.samples) as [Sample[], Sample[]];
  const baseRps = median(bareSamples.map((s) => s.rps));
  const ratio = median(pluggedSamples.map((s) => s.rps)) / baseRps;
  const roundRatios = pluggedSamples.map((s, i) => s.rps / (bareSamples[i]?.rps ?? Number.NaN));
  // On a shared box RPS swings with the neighbours' load; CPU per request mostly does not, so it is shown beside.
  const cpuRatio = median(bareSamples.map((s) => s.cpuUs)) / median(pluggedSamples.map((s) => s.cpuUs));
  const loadavg = readFileSync("/proc/loadavg", "utf8").split(" ").slice(0, 3).join(" ");
  const cpuModel = readFileSync("/proc/cpuinfo", "utf8").match(/model name\s*:\s*(.*)/)?.[1] ?? "unknown CPU";
  console.log(
    `\ngw DB-less, ${PLUGIN_ROUTES} routes, ${CONSUMERS} consumers; wrk -t1 -c${CONNECTIONS} rotating routes and apikey headers; ${ROUNDS}×${DURATION}s rounds, interleaved, medians; ${cpuModel}, ${navigator.hardwareConcurrency} CPUs, load ${loadavg}; Bun ${Bun.version}\n`,
  );
  console.log("| gw (one process each) | RPS | vs no plugins | p50 ms | p99 ms | CPU µs / request |");
  console.log("|---|---:|---:|---:|---:|---:|");
  for (const row of rows) {
    const ss = row.samples;
    const rps = median(ss.map((s) => s.rps));
    const errors = ss.reduce((a, s) => a + s.errors, 0);
    const flag = errors > 0 ? ` (${errors} errors)` : "";
    console.log(
      `| ${row.name} | ${rps.toFixed(0)}${flag} | ${(rps / baseRps).toFixed(2)}× | ${median(ss.map((s) => s.p50)).toFixed(2)} | ${median(ss.map((s) => s.p99)).toFixed(2)} | ${median(ss.map((s) => s.cpuUs)).toFixed(1)} |`,
    );
  }
  console.log(
    `\nplugins / no plugins: ${ratio.toFixed(2)} (per round ${Math.min(...roundRatios).toFixed(2)}–${Math.max(...roundRatios).toFixed(2)}; by CPU per request ${cpuRatio.toFixed(2)}); goal ≥ 0.72, Kong's published ratio 0.71: ${ratio >= 0.72 ? "met" : "NOT met"}`,
  );
}

try {
  await (SCENARIO === "plugins" ? pluginScenario() : main());
} finally {
  cleanup();
}
