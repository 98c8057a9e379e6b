/** One request/response exchange: its promise, abort wiring, timing, request head encoding and retry eligibility. */
import type { Connection } from "./connection";
import type { UpstreamRequest, UpstreamTimeouts, UpstreamUpgrade } from "./types";
import { UpstreamError } from "./types";

/** What an exchange needs from its pool; implemented by the pool in client.ts. */
export interface ExchangeHost {
  readonly pooling: boolean;
  dequeue(ex: Exchange): void;
}

const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "TRACE", "PUT", "DELETE"]);
/** Methods whose empty body must still be announced, or some upstreams wait for one. */
const EMPTY_BODY_ANNOUNCED = new Set(["POST", "PUT", "PATCH"]);

/** Bodies up to this size are written in the same buffer (one syscall) as the head. */
const COALESCE_LIMIT = 16 * 1024;

export class Exchange {
  readonly promise: Promise<UpstreamUpgrade>;
  private resolve!: (res: UpstreamUpgrade) => void;
  private reject!: (err: UpstreamError) => void;
  settled = false;
  aborted = false;
  /** Some request bytes reached the socket. */
  sent = false;
  /** A chunk was taken from a streamed body, so the body cannot be replayed. */
  bodyTaken = false;
  reused = false;
  retried = false;
  conn: Connection | null = null;
  readonly startedAt = performance.now();
  sendAt = 0;
  connectMs = 0;
  firstByteMs = 0;
  readonly expectContinue: boolean;
  /** Set by encodeHead: the body went out in the head's buffer. */
  bodyInline = false;
  /** Set by encodeHead: the streamed body is sent chunked. */
  chunked = false;
  /** An abort listener is on the request's signal. */
  private listening = false;

  constructor(
    readonly host: ExchangeHost,
    readonly req: UpstreamRequest,
    readonly timeouts: UpstreamTimeouts,
    readonly upgrade: boolean,
  ) {
    this.promise = new Promise<UpstreamUpgrade>((resolve, reject) => {
      this.resolve = resolve;
      this.reject = reject;
    });
    this.expectContinue = req.body !== null && wantsContinue(req.headers);
    if (req.signal?.aborted) this.handleEvent();
  }

  /**
   * Starts listening for the client going away. Called by the deadline sweep and for queued exchanges, not per
   * request: most exchanges end within one sweep tick, and add/removeEventListener cost more than the rest of an
   * exchange's bookkeeping. A client that leaves is thus noticed within one tick.
   */
  watchAbort(): void {
    const signal = this.req.signal;
    if (this.listening || !signal || (this.settled && this.conn === null)) return;
    if (signal.aborted) {
      this.handleEvent();
      return;
    }
    this.listening = true;
    signal.addEventListener("abort", this);
  }

  /** AbortSignal listener (an object listener, so no closure per request). */
  handleEvent(): void {
    if (this.settled && this.conn === null) return;
    this.aborted = true;
    const err = new UpstreamError("reset", "the client aborted the request", this.sent);
    if (this.conn !== null) this.conn.abort(err);
    else {
      this.host.dequeue(this);
      this.fail(err);
    }
  }

  succeed(res: UpstreamUpgrade): void {
    this.settled = true;
    this.resolve(res);
  }

  fail(err: UpstreamError): void {
    this.done();
    if (this.settled) return;
    this.settled = true;
    this.reject(err);
  }

  /** The exchange no longer needs to hear about the client going away. */
  done(): void {
    this.conn = null;
    if (!this.listening) return;
    this.listening = false;
    this.req.signal?.removeEventListener("abort", this);
  }

  /** A reused socket that died before answering may be replaced by a fresh one, if the request can be replayed. */
  canRetry(gotResponseByte: boolean): boolean {
    if (!this.reused || gotResponseByte || this.retried || this.aborted || this.settled) return false;
    return !this.sent || (IDEMPOTENT.has(this.req.method) && !this.bodyTaken);
  }

  /** The request head with framing, and the body too when it is small enough to share one write. */
  encodeHead(): Buffer {
    const req = this.req;
    const body = req.body;
    let head = `${req.method} ${req.target} HTTP/1.1\r\n`;
    const h = req.headers;
    for (let i = 0; i < h.length; i += 2) {
      const name = h[i] as string;
      // The client owns framing: a stray Content-Length or Transfer-Encoding from the caller would smuggle.
      if ((name.length === 14 || name.length === 17) && isFramingHeader(name)) continue;
      head += `${name}: ${h[i + 1]}\r\n`;
    }
    let chunked = false;
    if (body === null) {
      if (EMPTY_BODY_ANNOUNCED.has(req.method)) head += "Content-Length: 0\r\n";
    } else if (body instanceof Uint8Array) {
      head += `Content-Length: ${body.length}\r\n`;
    } else if (req.bodyLength !== undefined && req.bodyLength >= 0) {
      head += `Content-Length: ${req.bodyLength}\r\n`;
    } else {
      head += "Transfer-Encoding: chunked\r\n";
      chunked = true;
    }
    if (this.upgrade) head += "Connection: Upgrade\r\n";
    else if (!this.host.pooling) head += "Connection: close\r\n";
    head += "\r\n";
    const inline = body instanceof Uint8Array && body.length <= COALESCE_LIMIT && !this.expectContinue;
    const bytes = Buffer.allocUnsafe(head.length + (inline ? (body as Uint8Array).length : 0));
    // latin1 keeps one byte per char, the inverse of how response heads are decoded.
    bytes.write(head, 0, "latin1");
    if (inline) bytes.set(body as Uint8Array, head.length);
    this.bodyInline = inline;
    this.chunked = chunked;
    return bytes;
  }
}

function isFramingHeader(name: string): boolean {
  const lower = name.toLowerCase();
  return lower === "content-length" || lower === "transfer-encoding";
}

function wantsContinue(headers: string[]): boolean {
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    if (name.length === 6 && name.toLowerCase() === "expect") {
      return (headers[i + 1] as string).trim().toLowerCase() === "100-continue";
    }
  }
  return false;
}
