/** Test upstream on Bun.listen: parses requests itself (independently of the client) and lets each test script raw response bytes. */
import type { Socket, TCPSocketListener } from "bun";

export interface SeenRequest {
  method: string;
  target: string;
  /** Lowercased name → values in order. */
  headers: Map<string, string[]>;
  /** The body when `keepBodies` is on (the default); always hashed and counted. */
  body: Uint8Array;
  bodyLength: number;
  bodySha256: string;
  chunked: boolean;
}

export interface RawUpstreamOptions {
  tls?: { cert: string; key: string; ca?: string; requestCert?: boolean; rejectUnauthorized?: boolean };
  /** Keep request bodies in memory (off for the 100 MB tests, which only need the hash). */
  keepBodies?: boolean;
  /** Called once a head has arrived, before its body (e.g. to send `100 Continue`). */
  onHead?(req: SeenRequest, conn: UpstreamSide): void;
  respond(req: SeenRequest, conn: UpstreamSide): void | Promise<void>;
}

const enc = new TextEncoder();

/** The upstream end of one connection, with back-pressure-aware writes. */
export class UpstreamSide {
  private pending: { bytes: Uint8Array; done: () => void }[] = [];
  closed = false;
  /** Requests seen on this connection (to tell reuse from new connections). */
  served = 0;
  /** After a 101 the connection echoes whatever it receives. */
  upgraded = false;

  constructor(readonly socket: Socket<UpstreamSide>) {}

  /** Writes everything, waiting for drain as needed. */
  write(data: Uint8Array | string): Promise<void> {
    const bytes = typeof data === "string" ? enc.encode(data) : data;
    return new Promise((done) => {
      this.pending.push({ bytes, done });
      if (this.pending.length === 1) this.flush();
    });
  }

  /** Writes `bytes` in pieces cut at random places, yielding between pieces so they arrive as separate reads. */
  async writeSplit(bytes: Uint8Array, rand: () => number, maxPieces: number): Promise<void> {
    const cuts = new Set<number>();
    const pieces = 1 + Math.floor(rand() * maxPieces);
    for (let i = 1; i < pieces; i++) cuts.add(1 + Math.floor(rand() * Math.max(1, bytes.length - 1)));
    let at = 0;
    for (const cut of [...cuts].sort((a, b) => a - b)) {
      if (cut <= at || cut >= bytes.length) continue;
      await this.write(bytes.subarray(at, cut));
      await new Promise((r) => setTimeout(r, 0));
      at = cut;
    }
    await this.write(bytes.subarray(at));
  }

  flush(): void {
    while (this.pending.length > 0) {
      const head = this.pending[0] as { bytes: Uint8Array; done: () => void };
      if (this.closed) {
        head.done();
        this.pending.shift();
        continue;
      }
      const n = this.socket.write(head.bytes);
      if (n < head.bytes.length) {
        if (n > 0) head.bytes = head.bytes.subarray(n);
        return;
      }
      this.pending.shift();
      head.done();
    }
  }

  end(): void {
    this.socket.end();
  }

  destroy(): void {
    this.socket.terminate();
  }
}

interface ConnState {
  side: UpstreamSide;
  buf: Buffer;
  req: SeenRequest | null;
  /** Body bytes still expected (CL), or -1 while reading chunked, or -2 when the body is complete. */
  left: number;
  hasher: Bun.CryptoHasher | null;
  parts: Uint8Array[];
}

export interface RawUpstream {
  port: number;
  /** Connections accepted so far. */
  accepted: number;
  /** Connections currently open. */
  open: number;
  requests: SeenRequest[];
  sockets: Set<UpstreamSide>;
  stop(): void;
}

export function rawUpstream(opts: RawUpstreamOptions): RawUpstream {
  const keep = opts.keepBodies !== false;
  const state: RawUpstream = {
    port: 0,
    accepted: 0,
    open: 0,
    requests: [],
    sockets: new Set(),
    stop: () => listener.stop(true),
  };
  const conns = new WeakMap<UpstreamSide, ConnState>();

  const finishBody = (c: ConnState) => {
    const req = c.req as SeenRequest;
    req.bodySha256 = (c.hasher as Bun.CryptoHasher).digest("hex");
    req.body = keep ? Buffer.concat(c.parts) : new Uint8Array(0);
    c.req = null;
    c.parts = [];
    c.hasher = null;
    state.requests.push(req);
    c.side.served++;
    Promise.resolve(opts.respond(req, c.side)).catch((e) => {
      console.error("raw upstream respond failed", e);
      c.side.destroy();
    });
  };

  const addBody = (c: ConnState, bytes: Uint8Array) => {
    const req = c.req as SeenRequest;
    req.bodyLength += bytes.length;
    c.hasher?.update(bytes);
    if (keep) c.parts.push(Buffer.from(bytes));
  };

  /** Consumes what it can from c.buf; returns false when it needs more bytes. */
  const step = (c: ConnState): boolean => {
    if (c.req === null) {
      const end = c.buf.indexOf("\r\n\r\n");
      if (end === -1) return false;
      const lines = c.buf.toString("latin1", 0, end).split("\r\n");
      c.buf = c.buf.subarray(end + 4);
      const [method = "", target = ""] = (lines.shift() ?? "").split(" ");
      const headers = new Map<string, string[]>();
      for (const line of lines) {
        const colon = line.indexOf(":");
        const name = line.slice(0, colon).toLowerCase();
        headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
      }
      const chunked = (headers.get("transfer-encoding")?.[0] ?? "").toLowerCase() === "chunked";
      c.req = { method, target, headers, body: new Uint8Array(0), bodyLength: 0, bodySha256: "", chunked };
      c.hasher = new Bun.CryptoHasher("sha256");
      c.left = chunked ? -1 : Number(headers.get("content-length")?.[0] ?? 0);
      opts.onHead?.(c.req, c.side);
      if (c.left === 0) finishBody(c);
      return true;
    }
    if (c.left > 0) {
      if (c.buf.length === 0) return false;
      const take = Math.min(c.left, c.buf.length);
      addBody(c, c.buf.subarray(0, take));
      c.buf = c.buf.subarray(take);
      c.left -= take;
      if (c.left === 0) finishBody(c);
      return true;
    }
    // chunked: size line, data, CRLF; a zero size ends it (no trailers from our client)
    const lf = c.buf.indexOf("\r\n");
    if (lf === -1) return false;
    const size = Number.parseInt(c.buf.toString("latin1", 0, lf), 16);
    if (size === 0) {
      if (c.buf.length < lf + 4) return false;
      c.buf = c.buf.subarray(lf + 4);
      finishBody(c);
      return true;
    }
    if (c.buf.length < lf + 2 + size + 2) return false;
    addBody(c, c.buf.subarray(lf + 2, lf + 2 + size));
    c.buf = c.buf.subarray(lf + 2 + size + 2);
    return true;
  };

  const listener: TCPSocketListener<UpstreamSide> = Bun.listen<UpstreamSide>({
    hostname: "127.0.0.1",
    port: 0,
    tls: opts.tls,
    socket: {
      open(socket) {
        const side = new UpstreamSide(socket);
        socket.data = side;
        state.accepted++;
        state.open++;
        state.sockets.add(side);
        conns.set(side, { side, buf: Buffer.alloc(0), req: null, left: 0, hasher: null, parts: [] });
      },
      data(socket, data) {
        if (socket.data.upgraded) {
          socket.data.write(data);
          return;
        }
        const c = conns.get(socket.data) as ConnState;
        c.buf = c.buf.length === 0 ? data : Buffer.concat([c.buf, data]);
        while (step(c)) {}
      },
      drain(socket) {
        socket.data.flush();
      },
      close(socket) {
        // A TLS handshake that failed never reached `open`.
        if (socket.data === undefined) return;
        socket.data.closed = true;
        socket.data.flush();
        state.open--;
        state.sockets.delete(socket.data);
      },
    },
  });
  state.port = listener.port;
  return state;
}

/** Deterministic PRNG (mulberry32) so a failing fuzz case can be replayed from its seed. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export function randomBytes(rand: () => number, n: number): Uint8Array {
  const out = new Uint8Array(n);
  for (let i = 0; i < n; i++) out[i] = Math.floor(rand() * 256);
  return out;
}

export async function readAll(body: Uint8Array | ReadableStream<Uint8Array> | null): Promise<Uint8Array> {
  if (body === null) return new Uint8Array(0);
  if (body instanceof Uint8Array) return body;
  return new Uint8Array(await new Response(body).arrayBuffer());
}

/** Malformed and smuggling-shaped responses keyed by request path: each must fail its exchange and retire its socket. */
export const MALFORMED_RESPONSES: Record<string, string> = {
  "/cl-and-te":
    "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
  "/bad-cl": "HTTP/1.1 200 OK\r\nContent-Length: 5x\r\n\r\nhello",
  "/negative-cl": "HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
  "/conflicting-cl": "HTTP/1.1 200 OK\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello!",
  "/obs-fold": "HTTP/1.1 200 OK\r\nX-A: one\r\n two\r\nContent-Length: 0\r\n\r\n",
  "/long-header": `HTTP/1.1 200 OK\r\nX-Big: ${"a".repeat(70_000)}\r\nContent-Length: 0\r\n\r\n`,
  "/bad-status": "HTTP/1.1 2000 OK\r\nContent-Length: 0\r\n\r\n",
  "/not-http": "SSH-2.0-OpenSSH_9.2\r\n\r\n",
  "/no-colon": "HTTP/1.1 200 OK\r\nX-A value\r\nContent-Length: 0\r\n\r\n",
  "/space-before-colon": "HTTP/1.1 200 OK\r\nX-A : value\r\nContent-Length: 0\r\n\r\n",
  "/nul-in-value": "HTTP/1.1 200 OK\r\nX-A: va\0lue\r\nContent-Length: 0\r\n\r\n",
  "/bad-chunk-size": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nhello\r\n0\r\n\r\n",
  "/chunk-missing-crlf": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloXX0\r\n\r\n",
  "/te-in-http10": "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
  "/chunked-not-last": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
  "/unrequested-101": "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n",
};

export const MB = 1024 * 1024;
let BLOCK: Uint8Array | null = null;

/** Block i of a large body: a shared random MB with i stamped in, so misordered blocks change the hash. */
export function block(i: number): Uint8Array {
  BLOCK ??= randomBytes(seeded(9), MB);
  const b = BLOCK.slice();
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

/** A pull-based body of `mb` blocks; its hash (once read to the end) and the bytes pulled so far are on the result. */
export function generatedBody(mb: number) {
  const hasher = new Bun.CryptoHasher("sha256");
  const state = { pulled: 0, sha: "", stream: null as unknown as ReadableStream<Uint8Array> };
  let i = 0;
  state.stream = new ReadableStream({
    pull(c) {
      if (i === mb) {
        state.sha = hasher.digest("hex");
        c.close();
        return;
      }
      const b = block(i++);
      hasher.update(b);
      state.pulled += b.length;
      c.enqueue(b);
    },
  });
  return state;
}

export async function hashStream(body: AsyncIterable<Uint8Array>): Promise<{ sha: string; length: number }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let length = 0;
  for await (const chunk of body) {
    hasher.update(chunk);
    length += chunk.length;
  }
  return { sha: hasher.digest("hex"), length };
}

/** Answers with `mb` blocks under back-pressure; `progress.written` shows how far the upstream got. */
export async function sendBlocks(
  conn: UpstreamSide,
  mb: number,
  progress: { written: number; sha: string },
  chunked: boolean,
) {
  const hasher = new Bun.CryptoHasher("sha256");
  await conn.write(
    `HTTP/1.1 200 OK\r\n${chunked ? "Transfer-Encoding: chunked" : `Content-Length: ${mb * MB}`}\r\n\r\n`,
  );
  for (let i = 0; i < mb; i++) {
    // Writes to a closed connection resolve at once: stop, so `written` counts only what could have been sent.
    if (conn.closed) return;
    const b = block(i);
    hasher.update(b);
    if (chunked) await conn.write(`${b.length.toString(16)}\r\n`);
    await conn.write(b);
    if (chunked) await conn.write("\r\n");
    progress.written += b.length;
  }
  if (chunked) await conn.write("0\r\n\r\n");
  progress.sha = hasher.digest("hex");
}

/** Waits until `read()` has not changed for half a second (a pipeline is full), then returns its value. */
export async function settled(read: () => number): Promise<number> {
  let last = -1;
  let still = 0;
  for (let i = 0; i < 400 && still < 10; i++) {
    await Bun.sleep(50);
    const now = read();
    still = now === last && now > 0 ? still + 1 : 0;
    last = now;
  }
  return last;
}

/** A fuzz body size: often empty or small, sometimes past 64 KB (where the client switches to streaming). */
export function bodyLength(rand: () => number): number {
  const r = rand();
  if (r < 0.2) return 0;
  if (r < 0.6) return 1 + Math.floor(rand() * 100);
  if (r < 0.95) return 100 + Math.floor(rand() * 6000);
  return 60_000 + Math.floor(rand() * 20_000);
}

/** A request body the client streams in random pieces (sent chunked unless a Content-Length is given). */
export function streamOf(bytes: Uint8Array, rand: () => number): ReadableStream<Uint8Array> {
  const pieces: Uint8Array[] = [];
  for (let at = 0; at < bytes.length; ) {
    const n = 1 + Math.floor(rand() * 3000);
    pieces.push(bytes.slice(at, at + n));
    at += n;
  }
  return new ReadableStream({
    pull(c) {
      const next = pieces.shift();
      if (next) c.enqueue(next);
      else c.close();
    },
  });
}

/** A chunked encoding of `body` at random chunk sizes, with upper-case sizes, extensions and a trailer now and then. */
export function chunkedWire(body: Uint8Array, rand: () => number): Uint8Array {
  const parts: Uint8Array[] = [];
  for (let at = 0; at < body.length; ) {
    const n = 1 + Math.floor(rand() * 2500);
    const piece = body.subarray(at, at + n);
    let size = piece.length.toString(16);
    if (rand() < 0.3) size = size.toUpperCase();
    const ext = rand() < 0.2 ? ';name="v"' : "";
    parts.push(enc.encode(`${size}${ext}\r\n`), piece, enc.encode("\r\n"));
    at += n;
  }
  parts.push(enc.encode(rand() < 0.3 ? "0\r\nX-Trailer: t\r\n\r\n" : "0\r\n\r\n"));
  return Buffer.concat(parts);
}
