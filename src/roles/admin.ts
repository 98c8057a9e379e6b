/** Starts the Admin API on `admin_listen` (traditional and control plane roles). */
import type { Hono } from "hono";
import { type AdminDeps, adminApp } from "../admin/app";
import { publicSettings } from "../settings";
import type { NodeKit } from "./kit";
import { serveApi } from "./listeners";

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
  for (const server of await serveApi(kit.settings, "admin", kit.settings.admin_listen, app.fetch)) {
    kit.inFlight.push(() => server.pendingRequests);
    kit.closers.push(() => server.stop(true));
  }
}
