/** What the proxy's own HTTP/1.1 server hands the request path, and what it takes back to write to the client. */
import type { UpstreamTunnel } from "../upstream/types";
import type { HeaderList } from "./request-head";

export interface DownstreamRequest {
  readonly method: string;
  /** Origin-form target as the client sent it. */
  readonly target: string;
  readonly path: string;
  /** Without the leading `?`. */
  readonly query: string;
  readonly host: string;
  readonly headers: HeaderList;
  /** Bytes when the whole body came with the head, a stream (locked once read) when it is still arriving, null without one. */
  readonly body: Uint8Array | ReadableStream<Uint8Array> | null;
  /** The announced Content-Length, or -1 (none, or chunked). */
  readonly contentLength: number;
  readonly httpVersion: "1.0" | "1.1";
  readonly clientIp: string;
  /** The TLS server name the client sent; null on a plain connection or when it sent none. */
  readonly sni: string | null;
  /** The client address from the balancer's PROXY protocol header (`proxy_protocol` listeners), else null. */
  readonly proxyAddress: string | null;
  /** Aborts when the client goes away. */
  readonly signal: AbortSignal;
  /** The protocol an upgrade asks for (`websocket`), lowercased, or null. */
  readonly upgrade: string | null;
  /** Tokens of the client's `Connection` header, which name more hop-by-hop headers. */
  readonly connection: string | null;
}

/** A response for the server to write; it adds the framing (Content-Length or chunked) and `Connection` itself. */
export interface Reply {
  status: number;
  /** The reason phrase; the standard one for the status when absent. */
  statusText?: string;
  /** Flat [name, value, …]; no framing or hop-by-hop headers. */
  headers: string[];
  body: Uint8Array | string | ReadableStream<Uint8Array> | null;
  /** A streamed body's length when known (sent as Content-Length), else -1 or absent (chunked). */
  contentLength?: number;
  /** On 101: the upstream byte tunnel the client's connection is joined to. */
  tunnel?: UpstreamTunnel;
}
