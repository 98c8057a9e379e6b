/** Starts the Admin API on `admin_listen` (traditional and control plane roles). */
import type { Hono } from "hono";
import { type AdminDeps, adminApp } from "../admin/app";
import { logger } from "../log/logger";
import { publicSettings } from "../settings";
import type { NodeKit } from "./kit";
import { listenerCertificate } from "./listener-cert";

const log = logger("admin");

export async function startAdmin(
  kit: NodeKit,
  deps: Pick<AdminDeps, "store" | "pluginsInUse" | "reader">,
  extend?: (app: Hono) => void,
) {
  const app = adminApp({
    ...deps,
    nodeId: kit.id,
    publicSettings: publicSettings(kit.settings),
    plugins: kit.plugins,
    pluginSchemas: kit.pluginSchemas,
    serverStats: kit.metrics.stats,
    extend,
  });
  const tls = kit.settings.admin_listen.some((l) => l.ssl)
    ? await listenerCertificate(kit.settings, "admin")
    : null;
  for (const listen of kit.settings.admin_listen) {
    const server = Bun.serve({
      hostname: listen.host,
      port: listen.port,
      fetch: app.fetch,
      ...(listen.ssl && tls ? { tls } : {}),
    });
    kit.inFlight.push(() => server.pendingRequests);
    kit.closers.push(() => server.stop(true));
    log.info(`Admin API listening on ${listen.host}:${listen.port}${listen.ssl ? " (ssl)" : ""}`);
  }
}
