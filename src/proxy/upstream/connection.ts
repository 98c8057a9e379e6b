/** One upstream socket: writes a request with its framing, reads the response incrementally, hands back or drops the socket. */
import type { Socket, SocketHandler, TCPSocketConnectOptions } from "bun";
import { SocketBody } from "../http1/socket-body";
import {
  type BodySink,
  ChunkedDecoder,
  chunkFrames,
  findHeadEnd,
  MAX_HEAD_BYTES,
  ProtocolError,
} from "../http1/wire";
import { chainTooLong } from "./chain-depth";
import type { Exchange } from "./exchange";
import { parseResponseHead, ResponseHead } from "./parser";
import { type TunnelHandlers, UpstreamError, type UpstreamTls, type UpstreamTunnel } from "./types";

/** What a connection needs from its pool; implemented in client.ts. */
export interface ConnectionHost {
  readonly tls: UpstreamTls | null;
  connectOptions(conn: Connection): TCPSocketConnectOptions<Connection>;
  /** The exchange ended cleanly: keep the socket for the next one, or close it. */
  release(conn: Connection): void;
  /** The socket is gone (or left the pool as a tunnel): free its slot. */
  closed(conn: Connection, wasIdle: boolean): void;
  /** Put a failed exchange back to run on a fresh socket. */
  retry(ex: Exchange): void;
  watch(conn: Connection): void;
  unwatch(conn: Connection): void;
}

enum State {
  Connecting,
  Idle,
  Busy,
  Closed,
}

enum Read {
  Head,
  Length,
  Chunked,
  UntilClose,
  Done,
  Tunnel,
}

export enum Deadline {
  None,
  Connect,
  Write,
  Read,
  /** Waiting for `100 Continue`; when it passes the body is sent anyway (RFC 9110 §10.1.1). */
  Continue,
}

/** A body up to this size announced by Content-Length is collected and returned as one Uint8Array. */
const SMALL_BODY = 64 * 1024;
/** How long to wait for `100 Continue` before sending the body anyway (curl waits 1 s too). */
const CONTINUE_WAIT_MS = 1000;
const EMPTY = new Uint8Array(0);
const LAST_CHUNK = Buffer.from("0\r\n\r\n");
/** Streams hold this many bytes before the socket stops reading (back-pressure to the upstream). */
const STREAM_STRATEGY: QueuingStrategy<Uint8Array> = {
  highWaterMark: 256 * 1024,
  size: (c) => (c as Uint8Array).byteLength,
};
const ignore = () => {};

interface ReadResult {
  done: boolean;
  value?: Uint8Array;
}
/** The part of a stream reader the request pump uses. */
interface BodyReader {
  read(): Promise<ReadResult>;
  cancel(): Promise<void>;
  releaseLock(): void;
}

export class Connection implements BodySink {
  socket: Socket<Connection> | null = null;
  private state = State.Connecting;
  ex: Exchange | null = null;
  requests = 0;
  idleSince = 0;
  deadline = 0;
  deadlineKind = Deadline.None;
  /** Its exchange needs the sweep (deadlines, abort); cleared at the exchange's end. */
  watched = false;
  /** It is in the client's sweep set, which drops unwatched members lazily. */
  inSweep = false;
  private detached = false;
  // request side
  private queue: Uint8Array[] = [];
  private bodyFinished = false;
  private requestDone = false;
  private waitingContinue = false;
  private chunkedRequest = false;
  private bodyLeft = -1;
  private reader: BodyReader | null = null;
  private pumpBlocked = false;
  // response side
  private read = Read.Head;
  private partialHead: Buffer | null = null;
  private readonly head = new ResponseHead();
  private readonly decoder = new ChunkedDecoder("upstream");
  private remaining = 0;
  private small: Uint8Array | null = null;
  private smallLength = 0;
  private pieces: Uint8Array[] | null = null;
  private body: SocketBody | null = null;
  private delivered = false;
  private responseDone = false;
  private reusable = true;
  private gotByte = false;
  private paused = false;
  private tunnel: Tunnel | null = null;

  constructor(readonly host: ConnectionHost) {}

  connect(ex: Exchange): void {
    this.ex = ex;
    ex.conn = this;
    this.setDeadline(Deadline.Connect, ex.timeouts.connect);
    this.host.watch(this);
    try {
      Bun.connect(this.host.connectOptions(this)).then(undefined, ignore);
    } catch (e) {
      // Bun throws synchronously on unusable TLS material (a malformed PEM, a key that does not match).
      this.failConnect("tls", `could not set up TLS to the upstream: ${(e as Error).message}`);
    }
  }

  onOpen(socket: Socket<Connection>): void {
    this.socket = socket;
    if (this.state === State.Closed) socket.terminate();
    else if (this.host.tls === null) this.ready();
  }

  onHandshake(success: boolean, error: Error | null): void {
    if (this.state !== State.Connecting) return;
    const tls = this.host.tls;
    if (tls?.verify && (!success || error)) {
      this.failConnect(
        "tls",
        `upstream SSL certificate verify error: ${error?.message ?? "handshake failed"}`,
      );
    } else if (
      tls?.verify &&
      tls.verifyDepth !== undefined &&
      chainTooLong(this.socket as Socket<Connection>, tls.ca, tls.verifyDepth)
    ) {
      // OpenSSL's X509_V_ERR_CERT_CHAIN_TOO_LONG, as nginx logs it.
      this.failConnect("tls", "upstream SSL certificate verify error: (22:certificate chain too long)");
    } else {
      this.ready();
    }
  }

  onConnectError(error: Error): void {
    if (this.state !== State.Connecting) return;
    const code = (error as { code?: string }).code;
    const tlsFailure = this.host.tls !== null && this.socket !== null;
    this.failConnect(
      tlsFailure ? "tls" : "connect",
      `connect() to upstream failed (${code ?? error.message})`,
    );
  }

  private failConnect(kind: "connect" | "tls" | "timeout" | "reset", message: string): void {
    const ex = this.ex;
    this.ex = null;
    this.destroy();
    ex?.fail(new UpstreamError(kind, message, false));
  }

  private ready(): void {
    const ex = this.ex;
    this.state = State.Idle;
    if (ex === null) {
      // Its exchange was aborted while connecting; the socket is still good for the pool.
      this.host.unwatch(this);
      this.host.release(this);
      return;
    }
    ex.connectMs = performance.now() - ex.startedAt;
    this.start(ex, false);
  }

  /** Runs an exchange on this (connected) socket. */
  start(ex: Exchange, reused: boolean): void {
    this.state = State.Busy;
    this.ex = ex;
    ex.conn = this;
    ex.reused = reused;
    ex.sendAt = performance.now();
    this.resetExchange();
    this.host.watch(this);
    this.write(ex.encodeHead());
    this.chunkedRequest = ex.chunked;
    if (ex.bodyInline || ex.req.body === null) this.finishBody();
    else if (ex.expectContinue) {
      this.waitingContinue = true;
      this.setDeadline(Deadline.Continue, CONTINUE_WAIT_MS);
    } else this.sendBody();
  }

  private resetExchange(): void {
    this.bodyFinished = false;
    this.requestDone = false;
    this.waitingContinue = false;
    this.bodyLeft = -1;
    this.reader = null;
    this.pumpBlocked = false;
    this.read = Read.Head;
    this.partialHead = null;
    this.small = null;
    this.pieces = null;
    this.body = null;
    this.delivered = false;
    this.responseDone = false;
    this.gotByte = false;
  }

  // ---- request side ----

  private write(bytes: Uint8Array): boolean {
    if (this.queue.length > 0) {
      this.queue.push(bytes);
      return false;
    }
    const n = (this.socket as Socket<Connection>).write(bytes);
    if (n === bytes.length) {
      (this.ex as Exchange).sent = true;
      return true;
    }
    // n < 0: the socket is already closing; its close event fails (or retries) the exchange.
    if (n > 0) (this.ex as Exchange).sent = true;
    this.queue.push(n > 0 ? bytes.subarray(n) : bytes);
    this.setDeadline(Deadline.Write, (this.ex as Exchange).timeouts.write);
    return false;
  }

  onDrain(): void {
    if (this.tunnel !== null) {
      if (this.flushQueue()) this.tunnel.drained();
      return;
    }
    if (this.state !== State.Busy || this.ex === null || !this.flushQueue()) return;
    if (this.pumpBlocked) {
      this.pumpBlocked = false;
      this.pump();
    } else if (this.bodyFinished) this.requestWritten();
  }

  /** Writes queued bytes; true once the queue is empty. */
  private flushQueue(): boolean {
    const socket = this.socket as Socket<Connection>;
    while (this.queue.length > 0) {
      const bytes = this.queue[0] as Uint8Array;
      const n = socket.write(bytes);
      if (n > 0 && this.ex !== null) this.ex.sent = true;
      if (n < bytes.length) {
        if (n > 0) this.queue[0] = bytes.subarray(n);
        if (this.ex !== null) this.setDeadline(Deadline.Write, this.ex.timeouts.write);
        return false;
      }
      this.queue.shift();
    }
    return true;
  }

  private sendBody(): void {
    this.waitingContinue = false;
    const ex = this.ex as Exchange;
    const body = ex.req.body;
    if (body instanceof Uint8Array) {
      this.write(body);
      this.finishBody();
    } else if (body !== null) {
      this.bodyLeft = this.chunkedRequest ? -1 : (ex.req.bodyLength as number);
      this.reader = body.getReader() as unknown as BodyReader;
      this.pump();
    }
  }

  private pump(): void {
    const ex = this.ex as Exchange;
    (this.reader as BodyReader).read().then(
      (r) => this.ex === ex && this.onBodyChunk(r),
      (e) =>
        this.ex === ex &&
        this.fail(new UpstreamError("reset", `reading the request body failed: ${e}`, ex.sent)),
    );
  }

  private onBodyChunk(r: ReadResult): void {
    const ex = this.ex as Exchange;
    if (r.done) {
      if (this.bodyLeft > 0) {
        this.fail(new UpstreamError("protocol", "request body ended before its Content-Length", ex.sent));
        return;
      }
      if (this.chunkedRequest) this.write(LAST_CHUNK);
      this.finishBody();
      return;
    }
    ex.bodyTaken = true;
    const chunk = r.value as Uint8Array;
    let flushed = true;
    if (chunk.length === 0) flushed = true;
    else if (!this.chunkedRequest) {
      if (chunk.length > this.bodyLeft) {
        this.fail(new UpstreamError("protocol", "request body is longer than its Content-Length", ex.sent));
        return;
      }
      this.bodyLeft -= chunk.length;
      flushed = this.write(chunk);
    } else flushed = this.writeChunk(chunk);
    if (flushed) this.pump();
    else this.pumpBlocked = true;
  }

  private writeChunk(chunk: Uint8Array): boolean {
    let flushed = true;
    for (const part of chunkFrames(chunk)) flushed = this.write(part);
    return flushed;
  }

  private finishBody(): void {
    this.bodyFinished = true;
    this.reader = null;
    if (this.queue.length === 0) this.requestWritten();
  }

  private requestWritten(): void {
    if (this.requestDone) return;
    this.requestDone = true;
    if (!this.responseDone) this.armRead();
  }

  /** The body will never be sent (early response, failure): let go of the caller's stream. */
  private dropRequestBody(): void {
    const reader = this.reader;
    this.reader = null;
    this.pumpBlocked = false;
    if (reader !== null) reader.cancel().then(undefined, ignore);
    else {
      const body = this.ex?.req.body;
      if (body instanceof ReadableStream && !body.locked) body.cancel().then(undefined, ignore);
    }
  }

  // ---- response side ----

  onData(buf: Buffer): void {
    if (this.tunnel !== null) {
      this.tunnel.deliver(buf);
      return;
    }
    const ex = this.ex;
    if (this.state !== State.Busy || ex === null) {
      // Bytes on an idle socket: the upstream is out of step with us, so it cannot be trusted again.
      this.destroy();
      return;
    }
    if (!this.gotByte) {
      this.gotByte = true;
      ex.firstByteMs = performance.now() - ex.sendAt;
    }
    try {
      this.consume(buf);
    } catch (e) {
      if (this.ex !== ex) return;
      const message =
        e instanceof ProtocolError ? e.message : `response handling failed: ${(e as Error).message}`;
      this.fail(new UpstreamError("protocol", message, ex.sent));
      return;
    }
    if (this.deadlineKind === Deadline.Read && this.ex === ex) this.armRead();
  }

  private consume(input: Buffer): void {
    let buf = input;
    let i = 0;
    if (this.read === Read.Head) {
      if (this.partialHead !== null) {
        buf = Buffer.concat([this.partialHead, input]);
        this.partialHead = null;
      }
      i = this.readHeads(buf);
      if (i < 0) return;
    }
    switch (this.read) {
      case Read.Length:
        this.readLength(buf, i);
        return;
      case Read.Chunked:
        this.readChunked(buf, i);
        return;
      case Read.UntilClose:
        if (!this.delivered) this.deliverStream();
        if (i < buf.length) this.enqueue(buf.subarray(i));
        return;
      default:
        // Bytes after a complete response: never reuse a socket that is out of step.
        if (i < buf.length) this.reusable = false;
    }
  }

  /** Parses heads (skipping 1xx); returns where the final response's body starts, or -1 to wait for more bytes. */
  private readHeads(buf: Buffer): number {
    let at = 0;
    for (;;) {
      const end = findHeadEnd(buf, at, buf.length);
      if (end === -1 ? buf.length - at > MAX_HEAD_BYTES : end - at > MAX_HEAD_BYTES) {
        throw new ProtocolError("upstream sent too big header");
      }
      if (end === -1) {
        if (at < buf.length) this.partialHead = buf.subarray(at);
        return -1;
      }
      const head = this.head;
      head.reset();
      parseResponseHead(at === 0 ? buf : buf.subarray(at), end - at, head);
      at = end;
      if (head.status >= 200) {
        this.beginBody();
        return at;
      }
      if (head.status === 101) {
        this.beginTunnel(buf, at);
        return -1;
      }
      if (head.status === 100 && this.waitingContinue) this.sendBody();
      if (this.ex === null) return -1;
    }
  }

  private beginBody(): void {
    const ex = this.ex as Exchange;
    const head = this.head;
    if (this.waitingContinue) {
      // A final answer before 100 Continue: the announced body is never sent, so the socket cannot be reused.
      this.waitingContinue = false;
      this.reusable = false;
      this.dropRequestBody();
    }
    if (head.close) this.reusable = false;
    const status = head.status;
    if (ex.req.method === "HEAD" || status === 204 || status === 304) {
      this.read = Read.Done;
      this.deliver(null);
      this.responseEnded();
    } else if (head.chunked) {
      this.read = Read.Chunked;
      this.decoder.reset();
      this.pieces = [];
    } else if (head.contentLength >= 0) {
      this.read = Read.Length;
      this.remaining = head.contentLength;
      if (this.remaining === 0) {
        this.read = Read.Done;
        this.deliver(EMPTY);
        this.responseEnded();
      }
    } else {
      this.read = Read.UntilClose;
      this.reusable = false;
    }
  }

  private readLength(buf: Buffer, i: number): void {
    const available = buf.length - i;
    if (!this.delivered) {
      if (this.small === null) {
        if (available >= this.remaining) {
          if (available > this.remaining) this.reusable = false;
          const body = buf.subarray(i, i + this.remaining);
          this.remaining = 0;
          this.read = Read.Done;
          this.deliver(body);
          this.responseEnded();
          return;
        }
        if (this.remaining <= SMALL_BODY) {
          this.small = new Uint8Array(this.remaining);
          this.small.set(buf.subarray(i));
          this.smallLength = available;
          return;
        }
        this.deliverStream();
      } else {
        const small = this.small;
        const take = Math.min(available, small.length - this.smallLength);
        if (take < available) this.reusable = false;
        small.set(buf.subarray(i, i + take), this.smallLength);
        this.smallLength += take;
        if (this.smallLength === small.length) {
          this.small = null;
          this.read = Read.Done;
          this.deliver(small);
          this.responseEnded();
        }
        return;
      }
    }
    const take = Math.min(available, this.remaining);
    if (take < available) this.reusable = false;
    this.remaining -= take;
    if (take > 0) this.enqueue(buf.subarray(i, i + take));
    if (this.remaining === 0) {
      this.read = Read.Done;
      (this.body as SocketBody).close();
      this.responseEnded();
    }
  }

  private readChunked(buf: Buffer, i: number): void {
    const end = this.decoder.feed(buf, i, buf.length, this);
    if (end === -1) {
      if (!this.delivered) this.deliverStream();
      return;
    }
    if (end < buf.length) this.reusable = false;
    this.read = Read.Done;
    if (this.delivered) (this.body as SocketBody).close();
    else this.deliver(join(this.pieces as Uint8Array[]));
    this.responseEnded();
  }

  onBodyBytes(bytes: Uint8Array): void {
    if (this.body !== null) this.enqueue(bytes);
    else (this.pieces as Uint8Array[]).push(bytes);
  }

  private deliver(body: Uint8Array | ReadableStream<Uint8Array> | null, tunnel: Tunnel | null = null): void {
    this.delivered = true;
    const ex = this.ex as Exchange;
    const head = this.head;
    // One literal with every field, so each response object has the same shape.
    ex.succeed({
      status: head.status,
      statusText: head.statusText,
      headers: head.headers,
      body,
      contentLength: head.contentLength,
      connectMs: ex.connectMs,
      firstByteMs: ex.firstByteMs,
      tunnel,
    });
  }

  private deliverStream(): void {
    const ex = this.ex as Exchange;
    // A late pull or cancel from an earlier exchange's reader must not touch the socket's next exchange.
    const body = new SocketBody({
      pulled: () => this.ex === ex && this.resumeReading(),
      cancelled: () => this.cancelBody(ex),
    });
    this.body = body;
    this.deliver(new ReadableStream(body, STREAM_STRATEGY));
    const pieces = this.pieces;
    this.pieces = null;
    if (pieces !== null) for (const p of pieces) this.enqueue(p);
  }

  private enqueue(bytes: Uint8Array): void {
    const wantsMore = (this.body as SocketBody).enqueue(bytes);
    if (!wantsMore && !this.paused && this.socket !== null) {
      this.paused = true;
      this.socket.pause();
      // The reader is slow, not the upstream: no read timeout while we hold the socket back.
      this.setDeadline(Deadline.None, 0);
    }
  }

  /** The stream's reader wants more. */
  private resumeReading(): void {
    if (!this.paused || this.socket === null) return;
    this.paused = false;
    this.socket.resume();
    this.armRead();
  }

  private responseEnded(): void {
    this.responseDone = true;
    if (!this.requestDone) {
      // Early answer while the body was still going out: stop sending; the socket is out of step.
      this.reusable = false;
      this.dropRequestBody();
    }
    this.finish();
  }

  /** Clean end of an exchange. */
  private finish(): void {
    const ex = this.ex as Exchange;
    ex.done();
    this.ex = null;
    this.requests++;
    this.setDeadline(Deadline.None, 0);
    this.host.unwatch(this);
    if (this.paused) {
      this.paused = false;
      this.socket?.resume();
    }
    if (this.reusable && this.queue.length === 0) {
      this.state = State.Idle;
      this.host.release(this);
    } else this.close();
  }

  // ---- upgrades ----

  private beginTunnel(buf: Buffer, at: number): void {
    const ex = this.ex as Exchange;
    if (!ex.upgrade) throw new ProtocolError("upstream switched protocols without an upgrade request");
    this.read = Read.Tunnel;
    this.reusable = false;
    this.setDeadline(Deadline.None, 0);
    this.host.unwatch(this);
    // A tunnel never returns to the pool: free its pool slot now.
    this.detached = true;
    this.host.closed(this, false);
    this.tunnel = new Tunnel(this);
    if (at < buf.length) this.tunnel.deliver(buf.subarray(at));
    this.deliver(null, this.tunnel);
    ex.done();
    this.ex = null;
  }

  tunnelWrite(bytes: Uint8Array): boolean {
    if (this.state === State.Closed || this.socket === null) return false;
    if (this.queue.length > 0) {
      this.queue.push(bytes);
      return false;
    }
    const n = this.socket.write(bytes);
    if (n === bytes.length) return true;
    this.queue.push(n > 0 ? bytes.subarray(n) : bytes);
    return false;
  }

  tunnelEnd(): void {
    if (this.queue.length === 0) this.socket?.end();
    else this.destroy();
  }

  setPaused(paused: boolean): void {
    if (paused) this.socket?.pause();
    else this.socket?.resume();
  }

  // ---- failures and closing ----

  onClose(error?: Error): void {
    if (this.tunnel !== null) {
      this.state = State.Closed;
      this.tunnel.closed(error ? new UpstreamError("reset", error.message, true) : null);
      return;
    }
    switch (this.state) {
      case State.Closed:
        return;
      case State.Connecting:
        this.onConnectError(error ?? new Error("connection closed during the handshake"));
        return;
      case State.Idle:
        this.destroy();
        return;
    }
    if (this.read === Read.UntilClose) {
      this.read = Read.Done;
      (this.body as SocketBody).close();
      this.responseEnded();
      return;
    }
    const ex = this.ex as Exchange;
    const why = error
      ? `upstream connection failed (${error.message})`
      : "upstream prematurely closed connection";
    this.fail(new UpstreamError("reset", why, ex.sent));
  }

  /** Called by the sweep when `deadline` has passed. */
  onDeadline(): void {
    const ex = this.ex;
    if (ex === null) return;
    switch (this.deadlineKind) {
      case Deadline.Continue:
        this.setDeadline(Deadline.None, 0);
        this.sendBody();
        return;
      case Deadline.Connect:
        this.failConnect("timeout", "upstream timed out (connect)");
        return;
      case Deadline.Write:
        this.fail(new UpstreamError("timeout", "upstream timed out (sending the request)", ex.sent));
        return;
      case Deadline.Read:
        this.fail(new UpstreamError("timeout", "upstream timed out (reading the response)", ex.sent));
        return;
    }
  }

  abort(err: UpstreamError): void {
    if (this.state === State.Connecting) this.failConnect("reset", err.message);
    else this.fail(err);
  }

  /** Body stream cancelled by its reader (the client went away). */
  private cancelBody(ex: Exchange): void {
    if (this.ex === ex)
      this.fail(new UpstreamError("reset", "the client stopped reading the response", ex.sent));
  }

  private fail(err: UpstreamError): void {
    const ex = this.ex;
    this.ex = null;
    this.reusable = false;
    if (ex !== null) {
      const retry = !this.delivered && ex.canRetry(this.gotByte);
      if (retry) {
        ex.retried = true;
        this.reader?.releaseLock();
      } else {
        this.dropRequestBodyOf(ex);
        if (this.delivered) this.body?.error(err);
        ex.fail(err);
      }
      this.host.unwatch(this);
      ex.conn = null;
      this.destroy();
      if (retry) this.host.retry(ex);
      return;
    }
    this.destroy();
  }

  private dropRequestBodyOf(ex: Exchange): void {
    const saved = this.ex;
    this.ex = ex;
    this.dropRequestBody();
    this.ex = saved;
  }

  private setDeadline(kind: Deadline, ms: number): void {
    this.deadlineKind = kind;
    this.deadline = kind === Deadline.None ? 0 : performance.now() + ms;
  }

  private armRead(): void {
    if (this.ex !== null && !this.paused && this.queue.length === 0)
      this.setDeadline(Deadline.Read, this.ex.timeouts.read);
  }

  /** Graceful close after a clean exchange the socket cannot follow up on. */
  private close(): void {
    if (this.state === State.Closed) return;
    this.release(false);
    this.socket?.end();
  }

  /** Abrupt close: anything in flight is discarded. */
  destroy(): void {
    if (this.state === State.Closed) return;
    // Marked closed first: terminate() runs the close handler synchronously.
    this.release(this.state === State.Idle);
    this.socket?.terminate();
  }

  private release(wasIdle: boolean): void {
    this.state = State.Closed;
    this.queue.length = 0;
    this.setDeadline(Deadline.None, 0);
    this.host.unwatch(this);
    if (!this.detached) {
      this.detached = true;
      this.host.closed(this, wasIdle);
    }
  }
}

function join(pieces: Uint8Array[]): Uint8Array {
  if (pieces.length === 1) return pieces[0] as Uint8Array;
  if (pieces.length === 0) return EMPTY;
  let length = 0;
  for (const p of pieces) length += p.length;
  const out = new Uint8Array(length);
  let at = 0;
  for (const p of pieces) {
    out.set(p, at);
    at += p.length;
  }
  return out;
}

/** The byte tunnel of an upgraded connection; bytes that arrive before `attach` are held for it. */
class Tunnel implements UpstreamTunnel {
  private handlers: TunnelHandlers | null = null;
  private held: Uint8Array[] = [];
  private closedWith: UpstreamError | null | undefined;

  constructor(private readonly conn: Connection) {}

  write(bytes: Uint8Array): boolean {
    return this.conn.tunnelWrite(bytes);
  }

  attach(handlers: TunnelHandlers): void {
    this.handlers = handlers;
    for (const bytes of this.held) handlers.data(bytes);
    this.held = [];
    if (this.closedWith !== undefined) handlers.close(this.closedWith);
  }

  pause(): void {
    this.conn.setPaused(true);
  }

  resume(): void {
    this.conn.setPaused(false);
  }

  end(): void {
    this.conn.tunnelEnd();
  }

  destroy(): void {
    this.conn.destroy();
  }

  deliver(bytes: Uint8Array): void {
    if (this.handlers !== null) this.handlers.data(bytes);
    else this.held.push(bytes);
  }

  drained(): void {
    this.handlers?.drain();
  }

  closed(err: UpstreamError | null): void {
    if (this.handlers !== null) this.handlers.close(err);
    else this.closedWith = err;
  }
}

/** Socket callbacks shared by every connection; `socket.data` is the Connection. */
export const PLAIN_HANDLERS: SocketHandler<Connection> = {
  open: (s) => s.data.onOpen(s),
  data: (s, d) => s.data.onData(d),
  drain: (s) => s.data.onDrain(),
  close: (s, e) => s.data.onClose(e),
  connectError: (s, e) => s.data.onConnectError(e),
  error: (s, e) => s.data.onClose(e),
};

export const TLS_HANDLERS: SocketHandler<Connection> = {
  ...PLAIN_HANDLERS,
  handshake: (s, ok, e) => s.data.onHandshake(ok, e),
};
