/** What every role starts with: settings applied to logging, the node id, plugins, metrics, the Status API. */
import { mkdirSync } from "node:fs";
import type { ActiveConfig } from "../config/active";
import type { PluginSchemas } from "../entities/schemas";
import { logger, setLogLevel } from "../log/logger";
import type { PluginDefinition } from "../plugins/plugin";
import { attachPluginResources, pluginSchemas, pluginsFor } from "../plugins/registry";
import type { Settings } from "../settings";
import { type StatusSource, statusApp } from "../status/server";
import { upstreamViews } from "../status/upstreams";
import { serveApi } from "./listeners";
import { type NodeMetrics, nodeMetrics } from "./metrics";
import { nodeId } from "./node-id";

const log = logger("kong");

export interface NodeKit {
  settings: Settings;
  id: string;
  plugins: PluginDefinition[];
  pluginSchemas: PluginSchemas;
  metrics: NodeMetrics;
  /** Everything to stop on shutdown, in order. */
  closers: (() => Promise<void> | void)[];
  /** Servers' open requests, for the status counters. */
  inFlight: (() => number)[];
}

export function createKit(settings: Settings): NodeKit {
  setLogLevel(settings.log_level);
  mkdirSync(settings.prefix, { recursive: true, mode: 0o700 });
  const plugins = pluginsFor(settings.plugins);
  const kit: NodeKit = {
    settings,
    id: nodeId(settings.prefix),
    plugins,
    pluginSchemas: pluginSchemas(plugins),
    metrics: undefined as unknown as NodeMetrics,
    closers: [],
    inFlight: [],
  };
  kit.metrics = nodeMetrics(kit.id, () => kit.inFlight.reduce((n, f) => n + f(), 0));
  kit.closers.push(attachPluginResources(kit.metrics.registry));
  return kit;
}

/** Starts the Status API on `status_listen` (all roles) with what the role knows about itself. */
export async function startStatus(
  kit: NodeKit,
  source: Omit<StatusSource, "metrics" | "serverStats">,
): Promise<void> {
  const app = statusApp({ ...source, metrics: kit.metrics.registry, serverStats: kit.metrics.stats });
  for (const server of await serveApi(kit.settings, "status", kit.settings.status_listen, app.fetch))
    kit.closers.push(() => server.stop(true));
}

/** DB-less and data plane nodes report their config hash, and are ready (Kong's rule) once a non-empty config runs. */
export function configStatus(
  active: ActiveConfig,
  nodeId: string,
): Omit<StatusSource, "metrics" | "serverStats"> {
  return {
    upstreams: upstreamViews(() => active.table, nodeId),
    configHash: () => active.hash,
    readiness: async () => {
      if (active.table === null) {
        return {
          ready: false,
          message: "no configuration available (configuration hash is not initialized)",
        };
      }
      if (!active.loaded)
        return { ready: false, message: "no configuration available (empty configuration present)" };
      return { ready: true, message: "ready" };
    },
  };
}

/** Stops everything on SIGTERM/SIGINT (listeners first, so in-flight requests finish); survives stray rejections. */
export function handleSignals(kit: NodeKit): void {
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    log.notice(`received ${signal}, shutting down`);
    for (const close of kit.closers) {
      try {
        await close();
      } catch (e) {
        log.warn(`error while shutting down: ${e instanceof Error ? e.message : String(e)}`);
      }
    }
    process.exit(0);
  };
  process.on("SIGTERM", () => void stop("SIGTERM"));
  process.on("SIGINT", () => void stop("SIGINT"));
  // A node under availability promises must not die of one request's stray rejection: log it and keep serving.
  process.on("unhandledRejection", (reason) => {
    log.error(
      `unhandled rejection (please report it): ${reason instanceof Error ? (reason.stack ?? reason.message) : String(reason)}`,
    );
  });
}
