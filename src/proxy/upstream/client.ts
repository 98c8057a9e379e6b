/** Pooled HTTP/1.1 upstream client on Bun.connect: keep-alive pools per endpoint, a connection cap with a queue, timeouts. */
import type { TCPSocketConnectOptions } from "bun";
import { Connection, type ConnectionHost, PLAIN_HANDLERS, TLS_HANDLERS } from "./connection";
import { Exchange, type ExchangeHost } from "./exchange";
import {
  type PoolOptions,
  type UpstreamEndpoint,
  UpstreamError,
  type UpstreamRequest,
  type UpstreamResponse,
  type UpstreamTimeouts,
  type UpstreamTls,
  type UpstreamUpgrade,
} from "./types";

export type {
  PoolOptions,
  TunnelHandlers,
  UpstreamEndpoint,
  UpstreamErrorKind,
  UpstreamRequest,
  UpstreamResponse,
  UpstreamTimeouts,
  UpstreamTls,
  UpstreamTunnel,
  UpstreamUpgrade,
} from "./types";
export { UpstreamError } from "./types";

/** Deadlines are checked on this tick rather than with a timer per request. */
const SWEEP_MS = 25;
/** A tick this much later than the previous one means the event loop was stalled (GC, a large config compile). */
const STALLED_TICK_MS = 4 * SWEEP_MS;
/** Idle sockets are checked against upstream_keepalive_idle_timeout every this many ticks. */
const IDLE_SWEEP_TICKS = 20;

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;
const isIp = (host: string) => IPV4.test(host) || host.includes(":");

/** Connections to one endpoint (host, port and TLS identity). */
class Pool implements ConnectionHost, ExchangeHost {
  readonly idle: Connection[] = [];
  readonly waiters: Exchange[] = [];
  total = 0;
  readonly tls: UpstreamTls | null;
  readonly pooling: boolean;
  private readonly tlsOptions: TCPSocketConnectOptions<Connection>["tls"];

  constructor(
    private readonly client: UpstreamClient,
    private readonly endpoint: UpstreamEndpoint,
    private readonly opts: Required<PoolOptions>,
  ) {
    this.tls = endpoint.tls;
    this.pooling = opts.poolSize > 0;
    const tls = endpoint.tls;
    this.tlsOptions =
      tls === null
        ? undefined
        : {
            serverName: tls.servername ?? (isIp(endpoint.host) ? undefined : endpoint.host),
            rejectUnauthorized: tls.verify,
            ca: tls.ca,
            cert: tls.cert,
            key: tls.key,
          };
  }

  dispatch(ex: Exchange): void {
    const conn = this.idle.pop();
    if (conn !== undefined) conn.start(ex, true);
    else if (this.total < this.opts.maxConnections) this.open(ex);
    else {
      this.waiters.push(ex);
      ex.watchAbort();
    }
  }

  private open(ex: Exchange): void {
    this.total++;
    new Connection(this).connect(ex);
  }

  connectOptions(conn: Connection): TCPSocketConnectOptions<Connection> {
    return {
      hostname: this.endpoint.host,
      port: this.endpoint.port,
      tls: this.tlsOptions,
      socket: this.tls === null ? PLAIN_HANDLERS : TLS_HANDLERS,
      data: conn,
    };
  }

  release(conn: Connection): void {
    if (this.client.closing || conn.requests >= this.opts.maxRequests) {
      // closed() hands the freed slot to a waiter, on a fresh socket.
      conn.destroy();
      return;
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) {
      conn.start(waiter, true);
      return;
    }
    if (this.idle.length >= this.opts.poolSize) {
      conn.destroy();
      return;
    }
    conn.idleSince = performance.now();
    this.idle.push(conn);
    this.client.ensureSweep();
  }

  closed(conn: Connection, wasIdle: boolean): void {
    this.total--;
    if (wasIdle) {
      const at = this.idle.indexOf(conn);
      if (at !== -1) this.idle.splice(at, 1);
    }
    const waiter = this.waiters.shift();
    if (waiter !== undefined) this.open(waiter);
  }

  retry(ex: Exchange): void {
    // A fresh socket, not another idle one: the idle ones may be just as stale.
    this.open(ex);
  }

  dequeue(ex: Exchange): void {
    const at = this.waiters.indexOf(ex);
    if (at !== -1) this.waiters.splice(at, 1);
  }

  watch(conn: Connection): void {
    this.client.watch(conn);
  }

  unwatch(conn: Connection): void {
    this.client.unwatch(conn);
  }

  /** Closes idle sockets older than the idle timeout (oldest first in the array, since reuse pops the newest). */
  expireIdle(now: number): void {
    const limit = now - this.opts.idleTimeoutMs;
    for (
      let oldest = this.idle[0];
      oldest !== undefined && oldest.idleSince <= limit;
      oldest = this.idle[0]
    ) {
      oldest.destroy();
    }
  }

  shutdown(err: UpstreamError): void {
    for (const ex of this.waiters.splice(0)) ex.fail(err);
    while (this.idle.length > 0) (this.idle[this.idle.length - 1] as Connection).destroy();
  }
}

function checkOptions(opts: PoolOptions): Required<PoolOptions> {
  const count = (name: string, value: number | undefined, fallback: number) => {
    const v = value ?? fallback;
    if (!(v >= 0) || (Number.isFinite(v) && !Number.isInteger(v))) {
      throw new Error(`${name} must be an integer >= 0 (got ${value})`);
    }
    return v;
  };
  return {
    poolSize: count("upstream_keepalive_pool_size", opts.poolSize, 512),
    maxRequests:
      count("upstream_keepalive_max_requests", opts.maxRequests, 10000) || Number.POSITIVE_INFINITY,
    idleTimeoutMs:
      count("upstream_keepalive_idle_timeout", opts.idleTimeoutMs, 60000) || Number.POSITIVE_INFINITY,
    maxConnections:
      count("maxConnections", opts.maxConnections, Number.POSITIVE_INFINITY) || Number.POSITIVE_INFINITY,
  };
}

function endpointError(endpoint: UpstreamEndpoint): string | null {
  if (typeof endpoint.host !== "string" || endpoint.host === "")
    return "upstream host must be a non-empty string";
  if (!Number.isInteger(endpoint.port) || endpoint.port < 1 || endpoint.port > 65535) {
    return `upstream port must be an integer between 1 and 65535 (got ${endpoint.port})`;
  }
  return null;
}

function poolKey(e: UpstreamEndpoint): string {
  const t = e.tls;
  if (t === null) return `${e.host}\n${e.port}`;
  return [e.host, e.port, "tls", t.servername, t.verify, t.verifyDepth, t.ca?.join(""), t.cert, t.key].join(
    "\n",
  );
}

export class UpstreamClient {
  private readonly opts: Required<PoolOptions>;
  private readonly pools = new Map<string, Pool>();
  private readonly byEndpoint = new WeakMap<UpstreamEndpoint, Pool>();
  private readonly watched = new Set<Connection>();
  private sweepTimer: ReturnType<typeof setInterval> | null = null;
  private ticks = 0;
  private lastTick = 0;
  private deferredTick = false;
  closing = false;

  /** Throws when an option is out of range, naming Kong's setting. */
  constructor(opts: PoolOptions) {
    this.opts = checkOptions(opts);
  }

  request(
    endpoint: UpstreamEndpoint,
    req: UpstreamRequest,
    timeouts: UpstreamTimeouts,
  ): Promise<UpstreamResponse> {
    return this.run(endpoint, req, timeouts, false);
  }

  /**
   * Sends a request that asks to switch protocols (the caller includes `Upgrade`; the client adds `Connection: Upgrade`).
   * On 101 the result carries a byte tunnel that has left the pool; any other status is an ordinary response.
   */
  upgrade(
    endpoint: UpstreamEndpoint,
    req: UpstreamRequest,
    timeouts: UpstreamTimeouts,
  ): Promise<UpstreamUpgrade> {
    return this.run(endpoint, req, timeouts, true);
  }

  /** Closes idle sockets and fails queued requests; exchanges in flight finish, then their sockets close. */
  close(): void {
    this.closing = true;
    const err = new UpstreamError("connect", "the upstream client was closed", false);
    for (const pool of this.pools.values()) pool.shutdown(err);
    this.pools.clear();
    this.stopSweep();
  }

  private run(
    endpoint: UpstreamEndpoint,
    req: UpstreamRequest,
    timeouts: UpstreamTimeouts,
    upgrade: boolean,
  ) {
    const pool = this.closing
      ? "the upstream client was closed"
      : (this.byEndpoint.get(endpoint) ?? this.poolFor(endpoint));
    if (typeof pool === "string") return Promise.reject(new UpstreamError("connect", pool, false));
    const ex = new Exchange(pool, req, timeouts, upgrade);
    if (!ex.settled) pool.dispatch(ex);
    return ex.promise;
  }

  private poolFor(endpoint: UpstreamEndpoint): Pool | string {
    const problem = endpointError(endpoint);
    if (problem !== null) return problem;
    const key = poolKey(endpoint);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(this, endpoint, this.opts);
      this.pools.set(key, pool);
    }
    this.byEndpoint.set(endpoint, pool);
    return pool;
  }

  watch(conn: Connection): void {
    conn.watched = true;
    if (!conn.inSweep) {
      conn.inSweep = true;
      this.watched.add(conn);
    }
    this.ensureSweep();
  }

  /** Only a flag: a busy socket is watched again many times per tick, so the sweep leaves the set lazily. */
  unwatch(conn: Connection): void {
    conn.watched = false;
  }

  ensureSweep(): void {
    if (this.sweepTimer !== null) return;
    this.lastTick = performance.now();
    this.sweepTimer = setInterval(() => this.sweep(), SWEEP_MS);
    this.sweepTimer.unref();
  }

  private stopSweep(): void {
    if (this.sweepTimer === null) return;
    clearInterval(this.sweepTimer);
    this.sweepTimer = null;
  }

  private sweep(): void {
    const now = performance.now();
    // Bun runs due timers before it reads sockets: after a stall, bytes that arrived meanwhile are still unread, so
    // deadlines wait one tick rather than time out an upstream that did answer. Never two ticks in a row.
    const defer = now - this.lastTick > STALLED_TICK_MS && !this.deferredTick;
    this.deferredTick = defer;
    this.lastTick = now;
    for (const conn of this.watched) {
      if (!conn.watched) {
        this.watched.delete(conn);
        conn.inSweep = false;
      } else if (!defer && conn.deadline !== 0 && conn.deadline <= now) conn.onDeadline();
      else conn.ex?.watchAbort();
    }
    if (++this.ticks % IDLE_SWEEP_TICKS !== 0) return;
    let idle = 0;
    for (const pool of this.pools.values()) {
      pool.expireIdle(now);
      idle += pool.idle.length;
    }
    if (idle === 0 && this.watched.size === 0) this.stopSweep();
  }
}
