/** Test helpers for the cluster TLS tests: dial like a data plane does, capture the clustering log, run a listener. */
import { afterEach, beforeEach } from "bun:test";
import {
  type ClusterListenerOptions,
  type PeerInfo,
  startClusterListener,
} from "../../../src/cluster/tls/listener";
import { setLogSink } from "../../../src/log/logger";

export interface DialOutcome {
  /** The first message the CP sent after the upgrade (the peer info the inner handler saw, as JSON). */
  message: string | null;
  /** The WebSocket error message when the link failed. */
  error: string;
}

/** Opens `wss://127.0.0.1:port/v1/outlet` with `new WebSocket(url, { tls })`, as the DP does, and waits for the outcome. */
export function dial(port: number, tls: object): Promise<DialOutcome> {
  return new Promise((resolve) => {
    const ws = new WebSocket(`wss://127.0.0.1:${port}/v1/outlet?node_id=x`, { tls } as unknown as string[]);
    let message: string | null = null;
    let error = "";
    ws.addEventListener("message", (ev) => {
      message = String(ev.data);
      ws.close();
    });
    ws.addEventListener("error", (ev) => {
      error = (ev as ErrorEvent).message ?? "error";
    });
    ws.addEventListener("close", () => resolve({ message, error }));
  });
}

/** Collects log lines for the duration of each test of the calling file. */
export function captureLog(): string[] {
  const lines: string[] = [];
  beforeEach(() => {
    lines.length = 0;
    setLogSink((line) => lines.push(line));
  });
  afterEach(() => setLogSink((line) => process.stderr.write(line)));
  return lines;
}

/** A cluster listener whose inner handler upgrades every DP and sends it the peer info it was handed. */
export function echoPeerListener(
  opts: Omit<ClusterListenerOptions<PeerInfo>, "host" | "port" | "fetch" | "websocket">,
) {
  return startClusterListener<PeerInfo>({
    ...opts,
    host: "127.0.0.1",
    port: 0,
    fetch: (req, server, peer) =>
      server.upgrade(req, { data: peer }) ? undefined : new Response("upgrade failed", { status: 400 }),
    websocket: {
      open(ws) {
        ws.send(JSON.stringify(ws.data));
      },
      message() {},
    },
  });
}
