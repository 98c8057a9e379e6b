/** One client connection of the proxy's own HTTP/1.1 server: reads requests in order, writes each reply with its framing. */
import type { Socket } from "bun";
import { type BodyFeeder, SocketBody } from "../http1/socket-body";
import {
  type BodySink,
  ChunkedDecoder,
  chunkFrames,
  findHeadEnd,
  MAX_HEAD_BYTES,
  ProtocolError,
} from "../http1/wire";
import type { UpstreamTunnel } from "../upstream/types";
import { type ProxyHeader, parseProxyHeader } from "./proxy-protocol";
import { parseRequestHead, RequestError, type RequestHead } from "./request-head";
import { encodeHead, type Framing, framingOf } from "./response-head";
import type { DownstreamRequest, Reply } from "./types";

/** What a connection needs from its server; implemented in server.ts. */
export interface ConnectionHost {
  handle(req: DownstreamRequest): Promise<Reply>;
  /** The answer to a request refused before routing (malformed head, handler failure). */
  /** `message` is Kong's wording when it has its own (e.g. for oversized headers), else the status's default. */
  refusal(status: number, detail: string, message?: string): Reply;
  requestStarted(): void;
  requestEnded(): void;
  closed(conn: ClientConnection): void;
  readonly draining: boolean;
}

enum Phase {
  /** On a `proxy_protocol` listener: waiting for the balancer's PROXY header. */
  ProxyHeader,
  /** Waiting for (the rest of) a request head. */
  Head,
  /** A request is with the handler or its reply is being written. */
  Exchange,
  Tunnel,
  Closed,
}

enum Body {
  None,
  Length,
  Chunked,
}

/** Request-body bytes a stream holds before the socket stops reading (back-pressure to the client). */
const BODY_STRATEGY: QueuingStrategy<Uint8Array> = {
  highWaterMark: 256 * 1024,
  size: (c) => (c as Uint8Array).byteLength,
};
/** Pipelined bytes held while a request is in flight before the socket stops reading. */
const HELD_LIMIT = 2 * MAX_HEAD_BYTES;
/** Bodies up to this size go out in the same buffer (one syscall) as the head. */
const COALESCE_LIMIT = 64 * 1024;
const CONTINUE = Buffer.from("HTTP/1.1 100 Continue\r\n\r\n");
const LAST_CHUNK = Buffer.from("0\r\n\r\n");
const ignore = () => {};

interface ReadResult {
  done: boolean;
  value?: Uint8Array;
}
/** The part of a stream reader the reply pump uses. */
interface BodyReader {
  read(): Promise<ReadResult>;
  cancel(): Promise<void>;
}

export class ClientConnection implements BodySink, BodyFeeder {
  private phase: Phase;
  /** Unparsed bytes: a partial head, or pipelined requests waiting for the current one to finish. */
  private buf: Buffer | null = null;
  /** When the client last sent bytes, took written ones, or got a whole reply; the server's sweep closes idle ones. */
  lastActive = performance.now();
  private readonly abort = new AbortController();
  private writeQueue: Uint8Array[] = [];
  private paused = false;
  // current exchange
  private keepAlive = true;
  private bodyMode = Body.None;
  private bodyLeft = 0;
  private decoder: ChunkedDecoder | null = null;
  private bodyStream: SocketBody | null = null;
  /** The client waits for `100 Continue` before sending its body; it is owed once the body is first read. */
  private continueOwed = false;
  private bodyDone = true;
  private replyDone = false;
  private reader: BodyReader | null = null;
  private framing: Framing = "length";
  private onDrained: (() => void) | null = null;
  private tunnel: UpstreamTunnel | null = null;
  /** The TLS server name (SNI) the client sent, read once its handshake is done. */
  private servername: string | null = null;
  /** The host counts this exchange as in flight. */
  private counted = false;

  /** The client address a PROXY protocol header gave, if the listener takes one. */
  private proxyAddress: string | null = null;

  constructor(
    private readonly socket: Socket<ClientConnection>,
    private readonly host: ConnectionHost,
    private readonly clientIp: string,
    proxyProtocol: boolean,
  ) {
    this.phase = proxyProtocol ? Phase.ProxyHeader : Phase.Head;
  }

  /** Idle between requests with nothing buffered: safe to close when draining or past the keep-alive timeout. */
  get idle(): boolean {
    return this.phase === Phase.Head && this.buf === null && this.writeQueue.length === 0;
  }

  /** Waiting on the client: for a request head, for request-body bytes, or for it to read what gw wrote. */
  get waitingForClient(): boolean {
    return (
      this.phase === Phase.Head ||
      (this.phase === Phase.Exchange && (!this.bodyDone || this.writeQueue.length > 0))
    );
  }

  onHandshake(): void {
    // Bun's TLS sockets expose the SNI, though its typings do not declare it.
    const name = (this.socket as unknown as { getServername(): string | undefined }).getServername();
    this.servername = name ? name : null;
  }

  onData(chunk: Buffer): void {
    this.lastActive = performance.now();
    if (this.phase === Phase.Tunnel) {
      if (!(this.tunnel as UpstreamTunnel).write(chunk)) this.pause();
      return;
    }
    if (this.phase === Phase.Closed) return;
    if (this.phase === Phase.Exchange && !this.bodyDone) {
      this.feedBody(chunk, 0);
      return;
    }
    this.buf = this.buf === null ? chunk : Buffer.concat([this.buf, chunk]);
    if (this.phase === Phase.ProxyHeader) this.readProxyHeader();
    else if (this.phase === Phase.Head) this.readHead();
    else if (this.buf.length > HELD_LIMIT) this.pause();
  }

  /** nginx closes a `proxy_protocol` connection that does not start with a valid header, without an answer. */
  private readProxyHeader(): void {
    const buf = this.buf as Buffer;
    let header: ProxyHeader | null;
    try {
      header = parseProxyHeader(buf);
    } catch {
      this.terminate();
      return;
    }
    if (header === null) return;
    this.proxyAddress = header.source;
    this.phase = Phase.Head;
    this.buf = header.length < buf.length ? buf.subarray(header.length) : null;
    if (this.buf !== null) this.readHead();
  }

  private readHead(): void {
    const buf = this.buf as Buffer;
    const end = findHeadEnd(buf, 0, buf.length);
    if (end === -1) {
      if (buf.length > MAX_HEAD_BYTES) this.refuseLargeHead();
      return;
    }
    if (end > MAX_HEAD_BYTES) {
      this.refuseLargeHead();
      return;
    }
    let head: RequestHead;
    try {
      head = parseRequestHead(buf, end, {
        clientIp: this.clientIp,
        signal: this.abort.signal,
        sni: this.servername,
        proxyAddress: this.proxyAddress,
      });
    } catch (e) {
      if (!(e instanceof ProtocolError)) throw e;
      this.refuse(e instanceof RequestError ? e.status : 400, e.message);
      return;
    }
    this.buf = end < buf.length ? buf.subarray(end) : null;
    this.begin(head);
  }

  /** Starts an exchange: frames the body, hands the request to the handler, writes whatever it answers. */
  private begin(head: RequestHead): void {
    this.phase = Phase.Exchange;
    this.replyDone = false;
    this.keepAlive = head.keepAlive && !this.host.draining;
    head.body = this.takeBody(head);
    this.counted = true;
    this.host.requestStarted();
    this.host.handle(head).then(
      (reply) => this.reply(reply, head),
      (e) => this.reply(this.host.refusal(500, `the request path failed: ${e}`), head),
    );
  }

  /** The request body: bytes if all of it is here, a stream if more is coming, null if there is none. */
  private takeBody(head: RequestHead): Uint8Array | ReadableStream<Uint8Array> | null {
    const buf = this.buf;
    if (head.chunked) {
      this.bodyMode = Body.Chunked;
      this.decoder ??= new ChunkedDecoder("client");
      this.decoder.reset();
    } else if (head.contentLength > 0) {
      this.bodyMode = Body.Length;
      this.bodyLeft = head.contentLength;
      if (buf !== null && buf.length >= head.contentLength) {
        this.bodyDone = true;
        this.bodyMode = Body.None;
        this.buf = buf.length > head.contentLength ? buf.subarray(head.contentLength) : null;
        return buf.subarray(0, head.contentLength);
      }
    } else {
      this.bodyMode = Body.None;
      this.bodyDone = true;
      return null;
    }
    this.bodyDone = false;
    const wantsContinue =
      head.minorVersion === 1 && head.headers.get("expect")?.toLowerCase() === "100-continue";
    const continueOwed = wantsContinue && buf === null;
    this.continueOwed = continueOwed;
    this.bodyStream = new SocketBody(this);
    // A client owed `100 Continue` gets it on the first read: no high-water mark, so nothing pulls before that.
    const stream = new ReadableStream(this.bodyStream, continueOwed ? { highWaterMark: 0 } : BODY_STRATEGY);
    this.buf = null;
    if (buf !== null) this.feedBody(buf, 0);
    return stream;
  }

  private feedBody(chunk: Buffer, from: number): void {
    let rest = -1;
    try {
      if (this.bodyMode === Body.Length) {
        const take = Math.min(this.bodyLeft, chunk.length - from);
        this.onBodyBytes(chunk.subarray(from, from + take));
        this.bodyLeft -= take;
        if (this.bodyLeft === 0) rest = from + take;
      } else rest = (this.decoder as ChunkedDecoder).feed(chunk, from, chunk.length, this);
    } catch (e) {
      // Malformed chunked framing: the connection is out of step and cannot carry another request.
      this.bodyStream?.error(e as Error);
      this.bodyStream = null;
      this.keepAlive = false;
      if (this.replyDone) this.close();
      return;
    }
    if (rest === -1) return;
    this.bodyDone = true;
    this.bodyStream?.close();
    this.bodyStream = null;
    if (rest < chunk.length) this.buf = chunk.subarray(rest);
    if (this.replyDone) {
      if (this.keepAlive) this.next();
    } else if (this.buf !== null && this.buf.length > HELD_LIMIT) this.pause();
  }

  onBodyBytes(bytes: Uint8Array): void {
    const stream = this.bodyStream;
    if (stream === null || bytes.length === 0) return;
    if (!stream.enqueue(bytes)) this.pause();
  }

  /** The handler stopped reading the body (early answer): the rest is read and dropped. */
  cancelled(): void {
    this.bodyStream = null;
    this.resume();
  }

  pulled(): void {
    if (this.continueOwed) {
      this.continueOwed = false;
      if (!this.replyDone && this.phase === Phase.Exchange) this.write(CONTINUE);
    }
    this.resume();
  }

  // ---- replies ----

  private endRequest(): void {
    if (!this.counted) return;
    this.counted = false;
    this.host.requestEnded();
  }

  private reply(reply: Reply, head: RequestHead): void {
    if (this.phase === Phase.Closed) {
      cancelBody(reply);
      reply.tunnel?.destroy();
      this.endRequest();
      return;
    }
    // A stop began while this request ran: answer it, then close (Kong's graceful shutdown).
    if (this.host.draining) this.keepAlive = false;
    if (reply.tunnel !== undefined && reply.status === 101) {
      this.startTunnel(reply, head);
      return;
    }
    const body = typeof reply.body === "string" ? Buffer.from(reply.body) : reply.body;
    const known = body === null || body instanceof ReadableStream ? (reply.contentLength ?? -1) : body.length;
    this.framing = framingOf(head.method, reply.status, body !== null, known, head.minorVersion);
    const length = this.framing === "length" && body === null ? 0 : known;
    if (this.framing === "close") this.keepAlive = false;
    const headText = encodeHead(reply, this.framing, length, this.keepAlive, head.minorVersion);
    if (this.framing === "none" || body === null) {
      cancelBody(reply);
      this.write(latin1Bytes(headText, null));
      this.replyWritten();
    } else if (body instanceof ReadableStream) {
      this.write(latin1Bytes(headText, null));
      this.reader = body.getReader() as unknown as BodyReader;
      this.pump();
    } else if (body.length <= COALESCE_LIMIT) {
      this.write(latin1Bytes(headText, body));
      this.replyWritten();
    } else {
      this.write(latin1Bytes(headText, null));
      this.write(body);
      this.replyWritten();
    }
  }

  private pump(): void {
    const reader = this.reader as BodyReader;
    reader.read().then(
      (r) => this.onReplyChunk(r),
      () => this.replyFailed(),
    );
  }

  private onReplyChunk(r: ReadResult): void {
    if (this.phase === Phase.Closed) return;
    if (r.done) {
      this.reader = null;
      if (this.framing === "chunked") this.write(LAST_CHUNK);
      this.replyWritten();
      return;
    }
    const chunk = r.value as Uint8Array;
    const flushed =
      chunk.length === 0 || (this.framing === "chunked" ? this.writeChunk(chunk) : this.write(chunk));
    if (flushed) this.pump();
    else this.onDrained = () => this.pump();
  }

  /** The upstream body broke after the head went out: the client must not mistake a cut body for a whole one. */
  private replyFailed(): void {
    this.reader = null;
    this.endRequest();
    this.close();
  }

  private writeChunk(chunk: Uint8Array): boolean {
    let flushed = true;
    for (const part of chunkFrames(chunk)) flushed = this.write(part);
    return flushed;
  }

  private replyWritten(): void {
    this.replyDone = true;
    this.lastActive = performance.now();
    this.endRequest();
    if (!this.keepAlive) {
      this.endAfterWrites();
      return;
    }
    if (this.bodyDone) this.next();
    else if (this.bodyStream !== null) {
      // The handler answered without reading the whole body: read the rest and drop it, then go on.
      this.bodyStream.error(new Error("the response was sent before the request body was read"));
      this.bodyStream = null;
      this.resume();
    }
  }

  /** The exchange is over on both sides: on to the next pipelined request, if one is buffered. */
  private next(): void {
    this.phase = Phase.Head;
    this.resume();
    if (this.buf !== null) this.readHead();
  }

  private refuseLargeHead(): void {
    this.refuse(400, `request head over ${MAX_HEAD_BYTES} bytes`, "Request header or cookie too large");
  }

  private refuse(status: number, detail: string, message?: string): void {
    this.phase = Phase.Exchange;
    this.keepAlive = false;
    this.buf = null;
    this.pause();
    const reply = this.host.refusal(status, detail, message);
    const body = Buffer.from(reply.body as string);
    this.write(latin1Bytes(encodeHead(reply, "length", body.length, false, 1), body));
    this.endAfterWrites();
  }

  // ---- upgrades ----

  private startTunnel(reply: Reply, head: RequestHead): void {
    const tunnel = reply.tunnel as UpstreamTunnel;
    this.phase = Phase.Tunnel;
    this.tunnel = tunnel;
    this.endRequest();
    this.write(latin1Bytes(encodeHead(reply, "none", -1, true, head.minorVersion), null));
    tunnel.attach({
      data: (bytes) => {
        if (!this.write(bytes)) tunnel.pause();
      },
      drain: () => this.resume(),
      close: () => this.endAfterWrites(),
    });
    this.onDrained = null;
    const early = this.buf;
    this.buf = null;
    if (early !== null && !tunnel.write(early)) this.pause();
  }

  // ---- socket ----

  /** Writes now or queues; false when bytes are waiting for the socket to drain. */
  private write(bytes: Uint8Array): boolean {
    if (this.writeQueue.length > 0) {
      this.writeQueue.push(bytes);
      return false;
    }
    const n = this.socket.write(bytes);
    if (n === bytes.length) return true;
    this.writeQueue.push(n > 0 ? bytes.subarray(n) : bytes);
    return false;
  }

  onDrain(): void {
    this.lastActive = performance.now();
    const queue = this.writeQueue;
    while (queue.length > 0) {
      const bytes = queue[0] as Uint8Array;
      const n = this.socket.write(bytes);
      if (n < bytes.length) {
        if (n > 0) queue[0] = bytes.subarray(n);
        return;
      }
      queue.shift();
    }
    if (this.phase === Phase.Tunnel) this.tunnel?.resume();
    const then = this.onDrained;
    this.onDrained = null;
    then?.();
  }

  private endAfterWrites(): void {
    if (this.writeQueue.length === 0) {
      this.close();
      return;
    }
    this.onDrained = () => this.close();
  }

  private pause(): void {
    if (this.paused) return;
    this.paused = true;
    this.socket.pause();
  }

  private resume(): void {
    if (!this.paused) return;
    this.paused = false;
    this.socket.resume();
  }

  /** Drops the connection now, unsent bytes and all: the client stopped taking part. */
  terminate(): void {
    if (this.phase !== Phase.Closed) this.socket.terminate();
  }

  /** Closes gracefully (FIN after queued bytes); `onClose` does the bookkeeping. */
  close(): void {
    if (this.phase === Phase.Closed) return;
    this.socket.end();
  }

  onClose(): void {
    if (this.phase === Phase.Closed) return;
    this.phase = Phase.Closed;
    this.writeQueue = [];
    this.abort.abort();
    this.bodyStream?.error(new Error("the client closed the connection"));
    this.bodyStream = null;
    this.reader?.cancel().then(undefined, ignore);
    this.reader = null;
    this.tunnel?.end();
    this.tunnel = null;
    this.endRequest();
    this.host.closed(this);
  }
}

/** The head (latin1: one byte per char, the inverse of how heads are decoded) and a small body in one buffer: one syscall. */
function latin1Bytes(head: string, body: Uint8Array | null): Buffer {
  const out = Buffer.allocUnsafe(head.length + (body === null ? 0 : body.length));
  out.write(head, 0, "latin1");
  if (body !== null) out.set(body, head.length);
  return out;
}

function cancelBody(reply: Reply): void {
  if (reply.body instanceof ReadableStream && !reply.body.locked) reply.body.cancel().then(undefined, ignore);
}
