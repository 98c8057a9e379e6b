/** Starts the proxy listeners (`proxy_listen`): one Bun server per address, all reading the same running config. */
import type { Server } from "bun";
import { createProxyHandler, type ProxyDeps } from "./handler";
import { relayHandlers } from "./websocket";

export interface ProxyListen {
  host: string;
  port: number;
  ssl: boolean;
}

export interface ProxyTls {
  cert: string;
  key: string;
}

export interface ProxyServers {
  servers: Server<unknown>[];
  inFlight(): number;
  stop(): Promise<void>;
}

export function startProxy(
  listens: readonly ProxyListen[],
  deps: ProxyDeps,
  tls: ProxyTls | null,
): ProxyServers {
  const servers = listens.map((listen) => {
    const protocol = listen.ssl ? "https" : "http";
    const handler = createProxyHandler(deps, { protocol, port: listen.port });
    return Bun.serve({
      hostname: listen.host,
      port: listen.port,
      reusePort: true,
      // Upstream read timeouts are the service's business (up to Kong's 60 s default): Bun's idle limit must not cut first.
      idleTimeout: 0,
      maxRequestBodySize: Number.MAX_SAFE_INTEGER,
      ...(listen.ssl && tls ? { tls: { cert: tls.cert, key: tls.key } } : {}),
      fetch: handler,
      websocket: relayHandlers,
    });
  });
  return {
    servers,
    inFlight: () => servers.reduce((n, s) => n + s.pendingRequests, 0),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
