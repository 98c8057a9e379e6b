/** WebSocket through gw: Bun.serve accepts the client's upgrade, and messages are relayed to a WebSocket gw opens upstream. */
import type { Server, ServerWebSocket, WebSocketHandler } from "bun";
import type { Attempt } from "./snapshot";

type Message = string | ArrayBuffer | Uint8Array;

export interface RelayData {
  upstream: WebSocket;
  /** Upstream messages that arrived before the client side finished opening. */
  early: Message[] | null;
}

/** Headers the WebSocket client makes itself, or that never cross a hop. */
const NOT_FORWARDED = new Set([
  "host",
  "connection",
  "upgrade",
  "sec-websocket-key",
  "sec-websocket-version",
  "sec-websocket-extensions",
  "sec-websocket-protocol",
  "content-length",
  "transfer-encoding",
]);

export const isWebSocketUpgrade = (req: Request) => req.headers.get("upgrade")?.toLowerCase() === "websocket";

/** Opens the upstream side; resolves once it is open, rejects when it cannot be (the caller answers 502/504). */
function openUpstream(url: string, headers: Record<string, string>, protocols: string[], timeoutMs: number) {
  return new Promise<WebSocket>((resolve, reject) => {
    const ws = new WebSocket(url, { headers, protocols } as unknown as string[]);
    ws.binaryType = "arraybuffer";
    const timer = setTimeout(() => {
      ws.close();
      reject(new Error("timeout"));
    }, timeoutMs);
    ws.addEventListener("open", () => {
      clearTimeout(timer);
      resolve(ws);
    });
    ws.addEventListener("error", () => {
      clearTimeout(timer);
      reject(new Error("upstream refused the WebSocket"));
    });
  });
}

/**
 * Upgrades the client after the upstream accepted; returns undefined when the client was upgraded, as Bun.serve wants.
 * `headers` is the flat upstream header block the proxy built (X-Forwarded-*, Via, request id included).
 */
export async function relayWebSocket(
  req: Request,
  server: Server<unknown>,
  attempt: Attempt,
  target: string,
  headers: string[],
  connectTimeoutMs: number,
): Promise<Response | undefined> {
  const scheme = attempt.endpoint.tls ? "wss" : "ws";
  const forwarded: Record<string, string> = {};
  for (let i = 0; i < headers.length; i += 2) {
    if (!NOT_FORWARDED.has(headers[i]!)) forwarded[headers[i]!] = headers[i + 1]!;
  }
  const protocols = (req.headers.get("sec-websocket-protocol") ?? "")
    .split(",")
    .map((p) => p.trim())
    .filter(Boolean);
  const host = attempt.endpoint.host.includes(":") ? `[${attempt.endpoint.host}]` : attempt.endpoint.host;
  const upstream = await openUpstream(
    `${scheme}://${host}:${attempt.endpoint.port}${target}`,
    forwarded,
    protocols,
    connectTimeoutMs,
  );
  const data: RelayData = { upstream, early: [] };
  upstream.addEventListener("message", (ev) => data.early?.push(ev.data as Message));
  const upgraded = (server as Server<RelayData>).upgrade(req, {
    data,
    headers: upstream.protocol ? { "sec-websocket-protocol": upstream.protocol } : undefined,
  });
  if (!upgraded) {
    upstream.close();
    return new Response("WebSocket upgrade failed", { status: 400 });
  }
  return undefined;
}

/** Bun.serve's WebSocket handlers for relayed connections. */
export const relayHandlers: WebSocketHandler<RelayData> = {
  idleTimeout: 0,
  open(ws: ServerWebSocket<RelayData>) {
    const { upstream } = ws.data;
    for (const m of ws.data.early ?? []) ws.send(m);
    ws.data.early = null;
    upstream.addEventListener("message", (ev) => ws.send(ev.data as Message));
    upstream.addEventListener("close", (ev) => ws.close(ev.code === 1005 ? 1000 : ev.code, ev.reason));
  },
  message(ws, message) {
    ws.data.upstream.send(message);
  },
  close(ws, code, reason) {
    ws.data.upstream.close(code === 1005 || code === 1006 ? 1000 : code, reason);
  },
};
