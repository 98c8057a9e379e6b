/** Compiles a validated config table into the snapshot the proxy reads: router, service plans, plugins, lookups. */
import type { ConfigTable } from "../entities/declarative";
import { PluginIterator } from "../plugins/iterator";
import type { ConsumerRef, PluginDefinition, PluginServices } from "../plugins/plugin";
import { compileRouter } from "../proxy/router";
import { buildServicePlans, type ProxySnapshot } from "../proxy/snapshot";

/** Credential lookups by field (`keyauth_credentials` by `key`), indexed once per config. */
function credentialIndex(table: ConfigTable) {
  const indexes = new Map<string, Map<string, Record<string, unknown>>>();
  return <T>(entity: string, field: string, value: string): T | null => {
    const key = `${entity}.${field}`;
    let index = indexes.get(key);
    if (!index) {
      index = new Map();
      for (const row of (table as unknown as Record<string, Record<string, unknown>[]>)[entity] ?? []) {
        index.set(String(row[field]), row);
      }
      indexes.set(key, index);
    }
    return (index.get(value) as T | undefined) ?? null;
  };
}

function pluginServices(table: ConfigTable, nodeId: string): PluginServices {
  const consumers = new Map<string, ConsumerRef>(
    table.consumers.map((c) => [
      c.id,
      { id: c.id, username: c.username ?? null, custom_id: c.custom_id ?? null },
    ]),
  );
  const groups = new Map<string, string[]>();
  for (const acl of table.acls) {
    const list = groups.get(acl.consumer.id) ?? [];
    list.push(acl.group);
    groups.set(acl.consumer.id, list);
  }
  return {
    consumerById: (id) => consumers.get(id) ?? null,
    credentials: credentialIndex(table),
    aclGroups: (consumerId) => groups.get(consumerId) ?? [],
    nodeId,
  };
}

export function compileSnapshot(
  table: ConfigTable,
  hash: string,
  plugins: ReadonlyMap<string, PluginDefinition>,
  nodeId: string,
): ProxySnapshot {
  const services = new Map(table.services.map((s) => [s.id, s]));
  const enabledServices = table.services.filter((s) => s.enabled !== false);
  const routes = table.routes.filter((r) => !r.service || services.get(r.service.id)?.enabled !== false);
  return {
    hash,
    router: compileRouter(routes, (route) => (route.service ? services.get(route.service.id)?.path : null)),
    services: buildServicePlans({
      services: enabledServices,
      upstreams: table.upstreams,
      targets: table.targets,
      certificates: table.certificates,
      caCertificates: table.ca_certificates,
    }),
    plugins: new PluginIterator(table.plugins, plugins),
    pluginServices: pluginServices(table, nodeId),
  };
}
