/** Starts the proxy listeners (`proxy_listen`): one gw HTTP/1.1 server per address, all reading the same running config. */
import { logger } from "../log/logger";
import { HttpServer, type ListenTls } from "./downstream/server";
import type { Reply } from "./downstream/types";
import { createProxyHandler, type ProxyDeps } from "./handler";
import { kongError } from "./kong-response";
import { requestId } from "./request-id";

const log = logger("kong");

export interface ProxyListen {
  host: string;
  port: number;
  ssl: boolean;
  proxy_protocol: boolean;
}

export type ProxyTls = ListenTls;

export interface ProxyServers {
  servers: HttpServer[];
  inFlight(): number;
  stop(): Promise<void>;
}

/** Kong's messages for what the server refuses before routing; the parser's detail goes to the debug log. */
const REFUSALS: Record<number, string> = {
  400: "Bad request",
  500: "An unexpected error occurred",
  501: "Not implemented",
  505: "HTTP version not supported",
};

export function startProxy(
  listens: readonly ProxyListen[],
  deps: ProxyDeps,
  tls: ProxyTls | null,
): ProxyServers {
  const refusal = (status: number, detail: string, kongMessage?: string): Reply => {
    // A 5xx here is gw's own failure, worth an operator's attention; a client's malformed request is not.
    if (status >= 500 && status !== 501 && status !== 505) log.error(`answered ${status}: ${detail}`);
    else log.debug(`refused a request with ${status}: ${detail}`);
    return kongError(status, kongMessage ?? REFUSALS[status] ?? "Bad request", {
      accept: null,
      requestId: requestId(),
      latencyMs: 0,
      serverHeader: deps.headers.server,
    });
  };
  const servers = listens.map((listen) => {
    const protocol = listen.ssl ? "https" : "http";
    const handle = createProxyHandler(deps, { protocol, port: listen.port });
    return new HttpServer(
      {
        host: listen.host,
        port: listen.port,
        tls: listen.ssl ? tls : null,
        proxyProtocol: listen.proxy_protocol,
      },
      { handle, refusal },
    );
  });
  return {
    servers,
    inFlight: () => servers.reduce((n, s) => n + s.inFlight, 0),
    async stop() {
      await Promise.all(servers.map((s) => s.stop()));
    },
  };
}
