/**
 * Walks through the control-plane outage scenario for a person to watch, against s3rver: a backup node exports the
 * config to a bucket, the CP dies, a new DP without import answers 404, one with import serves the exported routes,
 * and the returning CP's newer config replaces the imported one.
 *
 *   npm run build && bun scripts/demo-resilience.ts
 */
import { openStorage } from "../src/resilience/storage/types";
import { configKey, parseStorageUrl } from "../src/resilience/storage/url";
import { GW_VERSION } from "../src/version";
import { type GwProcess, tempDir, waitFor } from "../test/helpers/gw";
import {
  admin,
  configHashOf,
  genSharedCert,
  startControlPlane,
  startDataPlane,
} from "../test/helpers/hybrid";
import { startS3rver } from "../test/helpers/s3rver";
import { onCleanup, runBounded, startUpstream } from "./lib/bench";

const STORAGE_URL = "s3://gw-backup/prod";
const KEY = configKey(parseStorageUrl(STORAGE_URL).prefix, GW_VERSION);
let failures = 0;
let stepNumber = 0;

const step = (title: string) => console.log(`\n── Step ${++stepNumber}: ${title}`);
const info = (text: string) => console.log(`   ${text}`);

function outcome(expected: string, actual: string): void {
  const ok = expected === actual;
  if (!ok) failures++;
  console.log(`   ${ok ? "✔" : "✘"} expected ${expected}, got ${actual}`);
}

async function get(node: GwProcess, path: string): Promise<{ status: number; body: string }> {
  const res = await fetch(`${node.proxy}${path}`);
  return { status: res.status, body: (await res.text()).replace(/\s+/g, " ").slice(0, 120) };
}

/** Polls until `path` answers `status` (or gives up), then reports what it answered. */
async function expectServed(node: GwProcess, path: string, status: number, timeoutMs: number): Promise<void> {
  const started = performance.now();
  const last = await waitFor(
    `${path} → ${status}`,
    async () => {
      const r = await get(node, path);
      return r.status === status ? r : undefined;
    },
    timeoutMs,
  ).catch(() => get(node, path));
  info(
    `GET ${path} → ${last.status} ${last.body} (after ${((performance.now() - started) / 1000).toFixed(1)} s)`,
  );
  outcome(String(status), String(last.status));
}

await runBounded(5 * 60_000, async () => {
  step("start s3rver with bucket gw-backup, an upstream, and the cluster certificate");
  const s3 = await startS3rver({ buckets: ["gw-backup"] });
  onCleanup(() => s3.stop());
  const upstream = await startUpstream();
  const cert = await genSharedCert();
  info(`s3rver at ${s3.endpoint}; fallback storage ${STORAGE_URL}`);

  step("start a control plane (SQLite) and a pure backup exporter DP (export on, proxy_listen off)");
  const cpPrefix = tempDir("demo-cp");
  const cp = await startControlPlane(cert, { prefix: cpPrefix, env: s3.env });
  onCleanup(() => cp.kill());
  const storage = ["--cluster_fallback_config_storage", STORAGE_URL];
  const backup = await startDataPlane(cert, cp, {
    env: s3.env,
    args: [
      ...storage,
      "--cluster_fallback_config_export",
      "on",
      "--cluster_fallback_config_export_delay",
      "0",
    ].concat(["--proxy_listen", "off"]),
  });
  onCleanup(() => backup.kill());
  info(`control plane: Admin API ${cp.admin}, cluster port ${cp.cluster}`);

  step("create service 'demo' and route /saved through the Admin API");
  info(`POST /services → ${(await admin(cp, "POST", "/services", { name: "demo", url: upstream })).status}`);
  const route = await admin(cp, "POST", "/services/demo/routes", { name: "saved", paths: ["/saved"] });
  info(`POST /services/demo/routes {paths: ["/saved"]} → ${route.status}`);

  step(`wait for the backup node to export ${KEY}`);
  info("(a node never leads in its first election round plus margin, so the first export takes ~15 s)");
  const bucket = await openStorage(STORAGE_URL, s3.env);
  const started = performance.now();
  const exported = await waitFor(
    "the export",
    async () => {
      const object = await bucket.get(KEY);
      return object && new TextDecoder().decode(object.body).includes("/saved") ? object : undefined;
    },
    60_000,
  );
  const body = JSON.parse(new TextDecoder().decode(exported.body)) as { routes: { paths: string[] }[] };
  info(
    `exported after ${((performance.now() - started) / 1000).toFixed(1)} s: ${exported.body.length} bytes`,
  );
  info(`routes in the object: ${body.routes.map((r) => r.paths.join(",")).join(" ")}`);
  for (const [name, value] of Object.entries(exported.metadata))
    info(`metadata ${name}: ${value.slice(0, 60)}`);
  outcome("routes [/saved]", `routes [${body.routes.map((r) => r.paths.join(",")).join(" ")}]`);

  step("stop the control plane");
  const cpPort = cp.cluster;
  await cp.kill();
  info(`control plane killed; its cluster port ${cpPort} now refuses connections`);

  step("start a new DP with cluster_fallback_config_import off");
  const plain = await startDataPlane(cert, cpPort, { env: s3.env });
  onCleanup(() => plain.kill());
  await expectServed(plain, "/saved", 404, 3_000);

  step("start a new DP with cluster_fallback_config_import on");
  const importer = await startDataPlane(cert, cpPort, {
    env: s3.env,
    args: [...storage, "--cluster_fallback_config_import", "on"],
  });
  onCleanup(() => importer.kill());
  await expectServed(importer, "/saved", 200, 30_000);
  const ready = await fetch(`${importer.status}/status/ready`);
  info(`GET /status/ready → ${ready.status}; configuration_hash ${await configHashOf(importer)}`);
  outcome("ready 200", `ready ${ready.status}`);

  step("bring the control plane back (same database, same port) and add route /newer");
  const cp2 = await startControlPlane(cert, {
    prefix: cpPrefix,
    env: s3.env,
    args: ["--cluster_listen", `127.0.0.1:${cpPort}`],
  });
  onCleanup(() => cp2.kill());
  const newer = await admin(cp2, "POST", "/services/demo/routes", { name: "newer", paths: ["/newer"] });
  info(`POST /services/demo/routes {paths: ["/newer"]} → ${newer.status}`);
  info("the importer keeps dialling the CP (with backoff) and takes its config once connected");
  await expectServed(importer, "/newer", 200, 60_000);
  info(`importer configuration_hash now ${await configHashOf(importer)}`);

  console.log(`\n${failures === 0 ? "Every step behaved as expected." : `${failures} step(s) did not.`}`);
  if (failures > 0) throw new Error(`${failures} step(s) did not behave as expected`);
});
