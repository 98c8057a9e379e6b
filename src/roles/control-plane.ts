/** `role = control_plane`: Admin API over the store, cluster listener, config pushed to every data plane. */
import type { Hono } from "hono";
import { ConfigBroadcaster } from "../cluster/cp-broadcast";
import { type DataPlaneRecord, DataPlaneSessions } from "../cluster/cp-sessions";
import { startClusterListener } from "../cluster/tls/listener";
import { configHash } from "../entities/hash";
import { logger } from "../log/logger";
import { ConfigExporter } from "../resilience/exporter";
import { openStorage } from "../resilience/storage/types";
import { parseStorageUrl } from "../resilience/storage/url";
import type { Store } from "../store/store";
import { GW_VERSION } from "../version";
import { startAdmin } from "./admin";
import { clusterCerts } from "./cluster-certs";
import { databaseStatus } from "./database-status";
import { type NodeKit, startStatus } from "./kit";
import { StartupError } from "./startup-error";
import { openNodeStore } from "./store";

const log = logger("clustering");

async function exporterFor(kit: NodeKit, certPem: string, keyPem: string): Promise<ConfigExporter | null> {
  const s = kit.settings;
  if (!s.cluster_fallback_config_export || !s.cluster_fallback_config_storage) return null;
  const storage = await openStorage(s.cluster_fallback_config_storage, process.env, {
    s3Config: s.cluster_fallback_export_s3_config ?? undefined,
  }).catch((e: Error) => {
    throw new StartupError([`cluster_fallback_config_storage: ${e.message}`]);
  });
  return new ConfigExporter({
    storage,
    location: parseStorageUrl(s.cluster_fallback_config_storage),
    version: GW_VERSION,
    nodeId: kit.id,
    certPem,
    keyPem,
    encryptionKey: s.cluster_fallback_config_encryption_key ?? undefined,
    delayMs: s.cluster_fallback_config_export_delay * 1000,
  });
}

/** `/clustering/data-planes` (Kong's shape plus what gw adds) and the deprecated `/clustering/status`. */
function clusteringRoutes(store: Store, sessions: DataPlaneSessions, broadcaster: ConfigBroadcaster) {
  return (app: Hono) => {
    app.get("/clustering/data-planes", async (c) => {
      const page = await store.listDataPlanes({ size: Number(c.req.query("size") ?? 1000) });
      const live = new Map(sessions.connected().map((r) => [r.id, r]));
      const expected = broadcaster.payload()?.hash ?? null;
      const data = page.data.map((row) => {
        const session = live.get(row.id);
        return {
          ...row,
          connected: session !== undefined,
          expected_config_hash: expected,
          rejected_config: session?.rejected_config ?? null,
        };
      });
      return c.json({ data, next: null });
    });
    app.get("/clustering/status", async (c) => {
      const page = await store.listDataPlanes({ size: 1000 });
      const body = Object.fromEntries(
        page.data.map((r) => [
          r.id,
          { config_hash: r.config_hash, hostname: r.hostname, ip: r.ip, last_seen: r.last_seen },
        ]),
      );
      return c.json(body, 200, { Deprecation: "true" });
    });
  };
}

export async function startControlPlane(kit: NodeKit): Promise<void> {
  const s = kit.settings;
  const certs = clusterCerts(s);
  const store = await openNodeStore(kit);
  const exporter = await exporterFor(kit, certs.certPem, certs.keyPem);
  const broadcaster = new ConfigBroadcaster(
    async () => {
      const table = await store.exportAll({ skipDisabled: true });
      const plugins = (table.plugins as { name: string }[] | undefined) ?? [];
      return { table, hashes: configHash(table), pluginsConfigured: new Set(plugins.map((p) => p.name)) };
    },
    (payload, table) => exporter?.offer(JSON.stringify(table), payload.hash),
  );
  const persist = async (r: DataPlaneRecord) =>
    store.upsertDataPlane(
      {
        id: r.id,
        hostname: r.hostname,
        ip: r.ip,
        last_seen: r.last_seen,
        config_hash: r.config_hash,
        version: r.version,
        sync_status: r.sync_status,
        labels: r.labels,
        cert_details:
          r.cert_details.expiry_timestamp === null
            ? null
            : { expiry_timestamp: r.cert_details.expiry_timestamp },
      },
      s.cluster_data_plane_purge_delay,
    );
  const sessions = new DataPlaneSessions({
    cpVersion: GW_VERSION,
    cpPlugins: new Map(kit.plugins.map((p) => [p.name, p.version])),
    broadcaster,
    maxPayload: s.cluster_max_payload,
    persist,
  });
  store.onChange(() => broadcaster.changed());
  broadcaster.changed();

  for (const listen of s.cluster_listen) {
    const listener = await startClusterListener({
      host: listen.host,
      port: listen.port,
      certPem: certs.certPem,
      keyPem: certs.keyPem,
      mode: s.cluster_mtls,
      caPem: certs.caPem,
      ocsp: s.cluster_ocsp,
      allowedCommonNames: s.cluster_allowed_common_names,
      fetch: (req, server, peer) => sessions.upgrade(req, server, peer.ip, { notAfter: peer.notAfter }),
      websocket: sessions.websocket,
    });
    kit.closers.unshift(() => listener.stop());
    log.info(`cluster listener on ${listen.host}:${listen.port} (cluster_mtls = ${s.cluster_mtls})`);
  }
  exporter?.start();
  if (exporter) kit.closers.push(() => exporter.stop());
  const purge = setInterval(
    () =>
      void store
        .purgeDataPlanes(Math.floor(Date.now() / 1000) - s.cluster_data_plane_purge_delay)
        .catch(() => {}),
    60_000,
  );
  kit.closers.push(() => clearInterval(purge));

  registerControlPlaneMetrics(kit, sessions);
  await startStatus(kit, databaseStatus(store));

  await startAdmin(kit, { store }, clusteringRoutes(store, sessions, broadcaster));
}

/** Kong's CP-only metrics, read from the live sessions at scrape time. */
function registerControlPlaneMetrics(kit: NodeKit, sessions: DataPlaneSessions): void {
  const registry = kit.metrics.registry;
  const lastSeen = registry.gauge(
    "kong_data_plane_last_seen",
    "Last time data plane contacted control plane",
  );
  const hash = registry.gauge("kong_data_plane_config_hash", "Config hash numeric value of the data plane");
  const compatible = registry.gauge(
    "kong_data_plane_version_compatible",
    "Version compatible status of the data plane, 0 is incompatible",
  );
  registry.onCollect(() => {
    for (const g of [lastSeen, hash, compatible]) g.reset();
    for (const dp of sessions.connected()) {
      const labels = { node_id: dp.id, hostname: dp.hostname, ip: dp.ip };
      lastSeen.set(labels, dp.last_seen);
      hash.set(labels, Number.parseInt(dp.config_hash.slice(0, 13), 16));
      compatible.set(
        { ...labels, kong_version: dp.version },
        dp.sync_status === "kong_version_incompatible" ? 0 : 1,
      );
    }
  });
}
