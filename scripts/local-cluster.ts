/** `npm start`: a local hybrid cluster — one control plane on the embedded SQLite store and one data plane. */
import { existsSync, mkdirSync } from "node:fs";
import { join, resolve } from "node:path";
import { writeClusterCertFiles } from "../src/cluster/tls/certs";

const root = resolve(import.meta.dir, "..");
const dir = join(root, ".gw-local");
const cert = join(dir, "cluster.crt");
const key = join(dir, "cluster.key");
mkdirSync(dir, { recursive: true, mode: 0o700 });
if (!existsSync(cert)) {
  await writeClusterCertFiles(cert, key);
  console.log(`generated the shared cluster certificate in ${dir}`);
}

const gw = [process.execPath, join(root, "src/cli/main.ts"), "start"];
const common = ["--cluster_cert", cert, "--cluster_cert_key", key, "--log_level", "notice"];
const nodes = [
  {
    name: "control plane",
    args: [
      ...common,
      "--role",
      "control_plane",
      "--prefix",
      join(dir, "cp"),
      "--admin_listen",
      "127.0.0.1:8001",
      "--status_listen",
      "127.0.0.1:8100",
      "--cluster_listen",
      "127.0.0.1:8005",
    ],
  },
  {
    name: "data plane",
    args: [
      ...common,
      "--role",
      "data_plane",
      "--database",
      "off",
      "--prefix",
      join(dir, "dp"),
      "--proxy_listen",
      "127.0.0.1:8000",
      "--status_listen",
      "127.0.0.1:8007",
      "--cluster_control_plane",
      "127.0.0.1:8005",
      "--proxy_access_log",
      "off",
    ],
  },
];

const procs = nodes.map((n) => Bun.spawn([...gw, ...n.args], { stdout: "inherit", stderr: "inherit" }));
console.log(`
gw local cluster
  Admin API (control plane)  http://127.0.0.1:8001
  Proxy (data plane)         http://127.0.0.1:8000
  Status API (data plane)    http://127.0.0.1:8007/status
  Cluster listener           127.0.0.1:8005 (mutual TLS, shared certificate in ${dir})

Try:
  curl -X POST http://127.0.0.1:8001/services --data name=example --data url=http://httpbin.org
  curl -X POST http://127.0.0.1:8001/services/example/routes --data 'paths[]=/example'
  curl -i http://127.0.0.1:8000/example/anything
Ctrl-C stops both nodes.
`);

const stop = () => {
  for (const p of procs) p.kill("SIGTERM");
};
process.on("SIGINT", stop);
process.on("SIGTERM", stop);
const codes = await Promise.all(procs.map((p) => p.exited));
process.exit(codes.some((c) => c !== 0 && c !== 143) ? 1 : 0);
