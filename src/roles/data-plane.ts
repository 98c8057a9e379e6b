/** `role = data_plane`: proxy from cache, declarative_config or fallback storage, then whatever the CP pushes. */
import { hostname } from "node:os";
import { DataPlaneLink } from "../cluster/dp-link";
import { certInfo } from "../cluster/tls/certs";
import { clusterClientTls, explainClusterError } from "../cluster/tls/client";
import { ActiveConfig, type AppliedConfig } from "../config/active";
import { type CacheStamp, ConfigCacheWriter, cacheStamp, readConfigCache } from "../config/cache";
import { ConfigValidator } from "../config/validator";
import { DeclarativeError } from "../entities/declarative";
import { logger } from "../log/logger";
import { ConfigExporter } from "../resilience/exporter";
import { importFallbackConfig } from "../resilience/importer";
import { openStorage } from "../resilience/storage/types";
import { parseStorageUrl } from "../resilience/storage/url";
import { GW_VERSION } from "../version";
import { clusterCerts } from "./cluster-certs";
import { readDeclarativeSource } from "./declarative-source";
import { configStatus, type NodeKit, startStatus } from "./kit";
import { startNodeProxy } from "./proxy";
import { StartupError } from "./startup-error";

const log = logger("clustering");

/** The start sequence: cache, else declarative_config; fallback storage comes later, once the CP proves unreachable. */
function loadLocalConfig(
  kit: NodeKit,
  active: ActiveConfig,
  stamp: CacheStamp,
  cacheWriter: ConfigCacheWriter,
): void {
  const cache = readConfigCache(kit.settings.prefix, stamp);
  if (cache.found && "entry" in cache) {
    const { entry, validated, why } = cache;
    // This gw validated it under the same schemas and plugins, and the checksum says it is as written.
    if (validated) {
      active.apply(validated, entry.config_hash, "cache");
      return;
    }
    log.info(`validating the cached config in ${kit.settings.prefix}: ${why}`);
    try {
      const applied = active.applyInput(entry.config_table, entry.config_hash, "cache");
      // Rewritten with this node's stamp, so the next start skips validation.
      void cacheWriter.write(entry, applied.table);
      return;
    } catch (e) {
      const why = e instanceof DeclarativeError ? e.lines.slice(0, 5).join("; ") : String(e);
      log.error(`cached config in ${kit.settings.prefix} failed validation, ignoring it: ${why}`);
    }
  } else if (cache.found && "error" in cache) {
    log.error(cache.error);
  }
  try {
    const source = readDeclarativeSource(kit.settings, kit.pluginSchemas);
    if (source) active.apply(source.table, source.hash, source.origin);
  } catch (e) {
    if (e instanceof StartupError) log.error(e.message);
    else throw e;
  }
}

export async function startDataPlane(kit: NodeKit): Promise<void> {
  const s = kit.settings;
  const certs = clusterCerts(s);
  const active = new ActiveConfig(kit.plugins, kit.pluginSchemas, kit.id);
  const stamp = cacheStamp(GW_VERSION, kit.plugins);
  const cacheWriter = new ConfigCacheWriter(s.prefix, stamp);
  kit.closers.push(() => cacheWriter.idle());
  loadLocalConfig(kit, active, stamp, cacheWriter);
  // Pushes are validated in a worker: the proxy keeps answering while a large config is checked.
  const validator = new ConfigValidator(kit.plugins.map((p) => p.name));
  kit.closers.push(() => validator.close());

  const storage = s.cluster_fallback_config_storage
    ? await openStorage(s.cluster_fallback_config_storage, process.env, {
        s3Config: s.cluster_fallback_export_s3_config ?? undefined,
      }).catch((e: Error) => {
        throw new StartupError([`cluster_fallback_config_storage: ${e.message}`]);
      })
    : null;
  const location = s.cluster_fallback_config_storage
    ? parseStorageUrl(s.cluster_fallback_config_storage)
    : null;
  const exporter =
    s.cluster_fallback_config_export && storage && location
      ? new ConfigExporter({
          storage,
          location,
          version: GW_VERSION,
          nodeId: kit.id,
          certPem: certs.certPem,
          keyPem: certs.keyPem,
          encryptionKey: s.cluster_fallback_config_encryption_key ?? undefined,
          delayMs: s.cluster_fallback_config_export_delay * 1000,
        })
      : null;

  const registry = kit.metrics.registry;
  const connected = registry.gauge(
    "kong_control_plane_connected",
    "Kong connected to control plane, 0 is unconnected",
  );
  connected.set({}, 0);
  registry
    .gauge(
      "kong_data_plane_cluster_cert_expiry_timestamp",
      "Unix timestamp of Data Plane's cluster_cert expiry time",
    )
    .set({}, certInfo(certs.certPem).notAfter);

  const tlsInput = {
    cluster_mtls: s.cluster_mtls,
    cluster_cert: certs.certPem,
    cluster_cert_key: certs.keyPem,
    cluster_ca_cert: certs.caPem,
    cluster_server_name: s.cluster_server_name,
    cluster_control_plane: s.cluster_control_plane,
  };
  const clusterTls = clusterClientTls(tlsInput);
  let fromControlPlane = false;
  const link = new DataPlaneLink({
    controlPlane: s.cluster_control_plane,
    nodeId: kit.id,
    hostname: hostname(),
    version: GW_VERSION,
    plugins: kit.plugins.map((p) => ({ name: p.name, version: p.version })),
    labels: Object.fromEntries(
      s.cluster_dp_labels.map((l: string) => [l.slice(0, l.indexOf(":")), l.slice(l.indexOf(":") + 1)]),
    ),
    maxPayload: s.cluster_max_payload,
    tls: clusterTls as unknown as Record<string, unknown>,
    explainError: (message) => explainClusterError(message, tlsInput),
    currentHash: () => active.hash,
    onStateChange: (up) => connected.set({}, up ? 1 : 0),
    apply: async (msg) => {
      // A backup node exports what it received before applying it, as Kong's DP exporter does.
      exporter?.offer(JSON.stringify(msg.config_table), msg.config_hash);
      let applied: AppliedConfig;
      try {
        applied = await active.applyInputInBackground(
          msg.config_table,
          msg.config_hash,
          "control plane",
          validator,
        );
      } catch (e) {
        if (e instanceof DeclarativeError) return { ok: false, errors: e.lines };
        return { ok: false, errors: [e instanceof Error ? e.message : String(e)] };
      }
      fromControlPlane = true;
      const entry = {
        config_table: msg.config_table,
        config_hash: msg.config_hash,
        timestamp: Date.now() / 1000,
      };
      void cacheWriter.write(entry, applied.table);
      return { ok: true };
    },
  });

  // Kong binds every listener before it answers anything: /status only once the proxy listens.
  await startNodeProxy(kit, active);
  await startStatus(kit, configStatus(active, kit.id));
  link.start();
  exporter?.start();
  kit.closers.push(() => link.stop());
  if (exporter) kit.closers.push(() => exporter.stop());

  if (s.cluster_fallback_config_import && storage && location && !active.loaded) {
    void link.firstAttempt().then(async (reached) => {
      if (reached) return;
      log.notice("control plane unreachable and no local config: importing the fallback config");
      await importFallbackConfig({
        storage,
        location,
        version: GW_VERSION,
        mode: s.cluster_mtls,
        certPem: certs.certPem,
        caPem: certs.caPem,
        encryptionKey: s.cluster_fallback_config_encryption_key ?? undefined,
        satisfied: () => fromControlPlane,
        apply: (opened) => {
          const applied = active.applyInput(opened.config, opened.hash, "fallback storage");
          const entry = {
            config_table: opened.config,
            config_hash: opened.hash,
            timestamp: Date.now() / 1000,
          };
          void cacheWriter.write(entry, applied.table);
        },
      });
    });
  }
}
