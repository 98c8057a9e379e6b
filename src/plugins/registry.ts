/** The plugins gw bundles, Kong's `plugins` setting resolved to definitions, and their schemas for entity validation. */
import type { PluginSchemaEntry } from "../entities/schemas";
import type { Registry } from "../status/metrics";
import { acl } from "./acl";
import { basicAuth } from "./basic-auth";
import { correlationId } from "./correlation-id";
import { cors } from "./cors";
import { closeFileLogs, fileLog } from "./file-log";
import { flushHttpLogQueues, httpLog } from "./http-log";
import { ipRestriction } from "./ip-restriction";
import { keyAuth } from "./key-auth";
import type { PluginDefinition } from "./plugin";
import { prometheus, setPrometheusRegistry } from "./prometheus";
import { closeRateLimitingRedis, rateLimiting } from "./rate-limiting";
import { requestSizeLimiting } from "./request-size-limiting";
import { requestTransformer } from "./request-transformer";
import { responseTransformer } from "./response-transformer";

export const BUNDLED_PLUGINS: readonly PluginDefinition[] = [
  acl,
  basicAuth,
  correlationId,
  cors,
  fileLog,
  httpLog,
  ipRestriction,
  keyAuth,
  prometheus,
  rateLimiting,
  requestSizeLimiting,
  requestTransformer,
  responseTransformer,
];

const HTTP = ["grpc", "grpcs", "http", "https"] as const;
const ALL = ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"] as const;

/**
 * Protocols each plugin's Kong schema allows (`typedefs.protocols_http`, `typedefs.protocols`, or ip-restriction's
 * own list). PluginDefinition has no field for it, so the registry keeps it.
 */
const PROTOCOLS: Record<string, readonly string[]> = {
  acl: HTTP,
  "basic-auth": HTTP,
  "correlation-id": HTTP,
  cors: HTTP,
  "file-log": ALL,
  "http-log": ALL,
  "ip-restriction": ["grpc", "grpcs", "http", "https", "tcp", "tls"],
  "key-auth": HTTP,
  prometheus: ALL,
  "rate-limiting": HTTP,
  "request-size-limiting": HTTP,
  "request-transformer": ALL,
  "response-transformer": HTTP,
};

/**
 * Kong's `plugins` setting: `bundled` adds every bundled plugin, names add one each, and an empty list or a
 * leading `off` loads none. A name gw does not bundle is an error naming it, as Kong refuses to start.
 */
export function pluginsFor(settingValue: readonly string[]): PluginDefinition[] {
  const names = settingValue.map((n) => n.trim()).filter((n) => n !== "");
  if (names.length === 0 || names[0] === "off") return [];
  const wanted = new Set<string>();
  for (const name of names) {
    if (name === "off") continue;
    if (name === "bundled") {
      for (const p of BUNDLED_PLUGINS) wanted.add(p.name);
    } else if (BUNDLED_PLUGINS.some((p) => p.name === name)) {
      wanted.add(name);
    } else {
      throw new Error(
        `${name} plugin is enabled but not installed; check the 'plugins' setting (gw bundles: ${BUNDLED_PLUGINS.map((p) => p.name).join(", ")})`,
      );
    }
  }
  return BUNDLED_PLUGINS.filter((p) => wanted.has(p.name));
}

/** Definitions by name, the shape the plugin iterator takes. */
export function pluginsByName(plugins: readonly PluginDefinition[]): Map<string, PluginDefinition> {
  return new Map(plugins.map((p) => [p.name, p]));
}

/** What entity validation and `/schemas/plugins/{name}` need from each loaded plugin. */
export function pluginSchemas(plugins: readonly PluginDefinition[]): Map<string, PluginSchemaEntry> {
  return new Map(
    plugins.map((p) => [
      p.name,
      { schema: p.configSchema, protocols: PROTOCOLS[p.name], noConsumer: p.noConsumer ?? false },
    ]),
  );
}

/**
 * Connects plugins that hold process-wide resources to the node (prometheus records into its registry) and
 * returns what shutdown must run: pending http-log batches, rate-limit counts and open log files.
 */
export function attachPluginResources(registry: Registry): () => Promise<void> {
  setPrometheusRegistry(registry);
  return async () => {
    await flushHttpLogQueues();
    await closeRateLimitingRedis();
    closeFileLogs();
  };
}
