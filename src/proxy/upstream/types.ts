/** The upstream client's public types: endpoints, requests, responses, tunnels and the errors the forwarder maps to 502/504. */

export interface UpstreamTls {
  /** SNI and the name verified; defaults to the host when it is not an IP address. */
  servername?: string;
  verify: boolean;
  /**
   * Kong's tls_verify_depth: most intermediates allowed between the leaf and the trust anchor (OpenSSL's count), checked
   * after the handshake when `verify` is on (chain-depth.ts). Unset means no limit, as in Kong (OpenSSL's default 100).
   */
  verifyDepth?: number;
  /** PEM CA certificates trusted instead of the system store. */
  ca?: string[];
  /** Client certificate and key (PEM) presented to the upstream. */
  cert?: string;
  key?: string;
}

export interface UpstreamEndpoint {
  host: string;
  port: number;
  tls: null | UpstreamTls;
}

/** Kong's service connect_timeout / write_timeout / read_timeout, in ms. */
export interface UpstreamTimeouts {
  connect: number;
  write: number;
  read: number;
}

export interface UpstreamRequest {
  method: string;
  /** Origin-form "/path?query", already encoded. */
  target: string;
  /** Flat [name, value, …] sent verbatim (Host included); hop-by-hop and framing headers already removed. */
  headers: string[];
  /** The client adds Content-Length or chunked framing. */
  body: ReadableStream<Uint8Array> | Uint8Array | null;
  /** Length of a streamed body when the client announced one: sent as Content-Length instead of chunking. */
  bodyLength?: number;
  /** The client disconnected: cancel the exchange and destroy the socket (noticed within one 25 ms sweep tick). */
  signal?: AbortSignal;
}

export interface UpstreamResponse {
  status: number;
  statusText: string;
  /** Flat pairs; hop-by-hop, Connection-named and framing headers removed. */
  headers: string[];
  /** Uint8Array when the whole body arrived with the head (or was small and announced), a stream otherwise. */
  body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** The upstream's Content-Length, or -1 (chunked, until-close). Kept out of `headers` because the body is re-framed. */
  contentLength: number;
  /** 0 when a pooled connection was reused. */
  connectMs: number;
  /** From the request's start (after connecting) to the first response byte. */
  firstByteMs: number;
}

/** An upgraded (101) connection handed to the forwarder as a byte tunnel. */
export interface UpstreamTunnel {
  /** Writes bytes to the upstream; false means they were queued: wait for `drain` before writing more. */
  write(bytes: Uint8Array): boolean;
  /** Starts delivering upstream bytes (including any that arrived with the 101 head) to these handlers. */
  attach(handlers: TunnelHandlers): void;
  pause(): void;
  resume(): void;
  /** Half-closes (FIN) once queued bytes are out. */
  end(): void;
  destroy(): void;
}

export interface TunnelHandlers {
  data(bytes: Uint8Array): void;
  drain(): void;
  close(error: UpstreamError | null): void;
}

export interface UpstreamUpgrade extends UpstreamResponse {
  /** Set when the upstream answered 101; otherwise this is an ordinary response and `body` holds it. */
  tunnel: UpstreamTunnel | null;
}

export type UpstreamErrorKind = "connect" | "tls" | "timeout" | "reset" | "protocol";

/** The forwarder maps timeout → 504 and the rest → 502; it may retry only if !requestSent or the method is idempotent. */
export class UpstreamError extends Error {
  constructor(
    readonly kind: UpstreamErrorKind,
    message: string,
    readonly requestSent: boolean,
  ) {
    super(message);
    this.name = "UpstreamError";
  }
}

export interface PoolOptions {
  /** upstream_keepalive_pool_size: idle connections kept per endpoint; 0 disables pooling. */
  poolSize: number;
  /** upstream_keepalive_max_requests: a connection is closed after this many exchanges. */
  maxRequests: number;
  /** upstream_keepalive_idle_timeout in ms. */
  idleTimeoutMs: number;
  /** Open connections per endpoint beyond which requests wait in a queue; default unlimited, as in Kong. */
  maxConnections?: number;
}
