/** The node-level metrics every role exports, with Kong's names (`kong_node_info`, `kong_nginx_*`). */
import { Registry } from "../status/metrics";
import { KONG_COMPAT_VERSION } from "../version";

export interface NodeMetrics {
  registry: Registry;
  /** Counts one finished request on a listener of this node. */
  request(): void;
  stats(): {
    connections_active: number;
    connections_accepted: number;
    connections_handled: number;
    total_requests: number;
  };
}

/** `inFlight` reads the servers' open requests (Bun exposes no per-connection events). */
export function nodeMetrics(nodeId: string, inFlight: () => number, subsystem = "http"): NodeMetrics {
  const registry = new Registry();
  registry
    .gauge("kong_node_info", "Kong Node metadata information")
    .set({ node_id: nodeId, version: KONG_COMPAT_VERSION }, 1);
  const requests = registry.gauge("kong_nginx_requests_total", "Number of requests total");
  const connections = registry.gauge("kong_nginx_connections_total", "Number of connections by subsystem");
  const memory = registry.gauge("kong_memory_workers_lua_vms_bytes", "Allocated bytes in worker Lua VM");
  let total = 0;
  registry.onCollect(() => {
    requests.set({ node_id: nodeId, subsystem }, total);
    connections.set({ node_id: nodeId, subsystem, state: "active" }, inFlight());
    connections.set({ node_id: nodeId, subsystem, state: "total" }, total);
    memory.set(
      { node_id: nodeId, pid: String(process.pid), kong_subsystem: subsystem },
      process.memoryUsage().heapUsed,
    );
  });
  return {
    registry,
    request: () => {
      total++;
    },
    stats: () => ({
      connections_active: inFlight(),
      connections_accepted: total,
      connections_handled: total,
      total_requests: total,
    }),
  };
}
