/** The proxy's own HTTP/1.1 server on Bun.listen (`proxy_listen`): connections, keep-alive timeouts and graceful stop. */
import type { Socket, SocketHandler, TCPSocketListener, TCPSocketListenOptions } from "bun";
import { ClientConnection, type ConnectionHost } from "./connection";
import type { DownstreamRequest, Reply } from "./types";

export interface ListenTls {
  /** The default certificate: for clients that send no server name, or one no certificate is chosen for. */
  cert: string;
  key: string;
  /** The native context (`tls.createSecureContext(…).context`) to present for the server name a client sent, if not the default. */
  forServerName?: (servername: string) => object | undefined;
}

export interface ListenOptions {
  host: string;
  port: number;
  tls: ListenTls | null;
  /** Each connection starts with a PROXY protocol header from a load balancer. */
  proxyProtocol: boolean;
}

export interface ServerHandlers {
  handle(req: DownstreamRequest): Promise<Reply>;
  refusal(status: number, detail: string, message?: string): Reply;
}

/** nginx's keepalive_timeout, client_header_timeout, client_body_timeout and send_timeout as Kong ships them (60 s). */
const IDLE_TIMEOUT_MS = 60_000;
const SWEEP_MS = 1_000;
/** Kong's nginx worker_shutdown_timeout: requests still running after this are cut at shutdown. */
const SHUTDOWN_GRACE_MS = 10_000;

const HANDLERS: SocketHandler<ClientConnection> = {
  data: (socket, bytes) => socket.data.onData(bytes),
  drain: (socket) => socket.data.onDrain(),
  handshake: (socket) => socket.data.onHandshake(),
  close: (socket) => socket.data?.onClose(),
  error: (socket) => socket.data?.onClose(),
};

export class HttpServer implements ConnectionHost {
  private readonly listener: TCPSocketListener<ClientConnection>;
  private readonly connections = new Set<ClientConnection>();
  private sweepTimer: ReturnType<typeof setInterval>;
  private active = 0;
  draining = false;
  private allClosed: (() => void) | null = null;
  private readonly proxyProtocol: boolean;

  constructor(
    opts: ListenOptions,
    private readonly handlers: ServerHandlers,
  ) {
    this.proxyProtocol = opts.proxyProtocol;
    const socket: SocketHandler<ClientConnection> = { ...HANDLERS, open: (s) => this.open(s) };
    const options: TCPSocketListenOptions<ClientConnection> = {
      hostname: opts.host,
      port: opts.port,
      socket,
    };
    if (opts.tls) {
      options.tls = { cert: opts.tls.cert, key: opts.tls.key };
      const forServerName = opts.tls.forServerName;
      // Bun's listener asks its `serverName` handler for the context to present (undocumented: node:tls's SNICallback
      // is built on it); undefined keeps the default certificate.
      if (forServerName)
        Object.assign(socket, { serverName: (_listener: unknown, name: string) => forServerName(name) });
    }
    this.listener = Bun.listen(options);
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  get port(): number {
    return this.listener.port;
  }

  /** Requests being handled or answered right now. */
  get inFlight(): number {
    return this.active;
  }

  private open(socket: Socket<ClientConnection>): void {
    const conn = new ClientConnection(socket, this, socket.remoteAddress, this.proxyProtocol);
    socket.data = conn;
    this.connections.add(conn);
    if (this.draining) conn.close();
  }

  handle(req: DownstreamRequest): Promise<Reply> {
    return this.handlers.handle(req);
  }

  refusal(status: number, detail: string, message?: string): Reply {
    return this.handlers.refusal(status, detail, message);
  }

  requestStarted(): void {
    this.active++;
  }

  requestEnded(): void {
    this.active--;
  }

  closed(conn: ClientConnection): void {
    this.connections.delete(conn);
    if (this.draining && this.connections.size === 0) this.allClosed?.();
  }

  /** Drops connections whose client has kept gw waiting that long: idle, mid-head, mid-body or not reading. */
  private sweep(): void {
    const cutoff = performance.now() - IDLE_TIMEOUT_MS;
    for (const conn of this.connections) {
      if (conn.lastActive >= cutoff) continue;
      if (conn.idle) conn.close();
      else if (conn.waitingForClient) conn.terminate();
    }
  }

  /** Stops accepting, closes idle connections, lets requests in flight finish (up to Kong's shutdown grace). */
  async stop(): Promise<void> {
    this.draining = true;
    this.listener.stop(false);
    clearInterval(this.sweepTimer);
    for (const conn of this.connections) if (conn.idle) conn.close();
    if (this.connections.size === 0) return;
    await new Promise<void>((resolve) => {
      this.allClosed = resolve;
      setTimeout(resolve, SHUTDOWN_GRACE_MS).unref();
    });
  }
}
