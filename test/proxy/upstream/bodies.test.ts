import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import { randomBytes, rawUpstream, seeded, type UpstreamSide } from "./raw-upstream";

const MB = 1024 * 1024;

/** The most a loopback connection's kernel buffers hold: receive buffer (autotuned) plus the peer's send buffer. */
function kernelBufferCeiling(): number {
  const max = (file: string, fallback: number) => {
    try {
      const v = Number(readFileSync(`/proc/sys/net/ipv4/${file}`, "utf8").trim().split(/\s+/)[2]);
      return Number.isFinite(v) && v > 0 ? v : fallback;
    } catch {
      return fallback;
    }
  };
  return max("tcp_rmem", 6 * MB) + max("tcp_wmem", 4 * MB);
}

/**
 * How far a body may get before back-pressure must have stopped it. Kernel buffers are not the client's doing: a pooled
 * socket that just carried 100 MB has its receive buffer autotuned up to tcp_rmem's max (32 MB on the CI machines), and
 * the peer's send buffer adds up to tcp_wmem's max (4 MB), so 38 MB stalls were seen with back-pressure intact. On top,
 * the client holds at most a block or two (one queued for the socket, one the stream pulled ahead) and the stream's
 * 256 KB high-water mark: 4 MB of slack. Without back-pressure the whole body moves, so the body is made at least twice
 * this bound.
 */
const STALL_BOUND = kernelBufferCeiling() + 4 * MB;
const STALL_MB = Math.max(100, Math.ceil((2 * STALL_BOUND) / MB));
const BLOCK = randomBytes(seeded(9), MB);
const timeouts = { connect: 5000, write: 10_000, read: 10_000 };
const client = new UpstreamClient({ poolSize: 4, maxRequests: 100, idleTimeoutMs: 60_000 });

/** Block i of a large body: the shared random MB with i stamped in, so misordered blocks change the hash. */
function block(i: number): Uint8Array {
  const b = BLOCK.slice();
  new DataView(b.buffer).setUint32(0, i);
  return b;
}

/** A pull-based body of `mb` blocks; the hash and the count of bytes pulled are read from the returned object. */
function generatedBody(mb: number) {
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

async function hashStream(body: ReadableStream<Uint8Array>): Promise<{ sha: string; length: number }> {
  const hasher = new Bun.CryptoHasher("sha256");
  let length = 0;
  for await (const chunk of body) {
    hasher.update(chunk);
    length += chunk.length;
  }
  return { sha: hasher.digest("hex"), length };
}

/** Writes `mb` blocks with back-pressure; `progress.written` shows how far the upstream got. */
async function sendBlocks(
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

const progress = { written: 0, sha: "" };
let releaseReader: (() => void) | null = null;
const upstream = rawUpstream({
  keepBodies: false,
  onHead(req, conn) {
    if (req.target === "/hold-request") {
      conn.socket.pause();
      releaseReader = () => conn.socket.resume();
    }
  },
  async respond(req, conn) {
    const [, kind, size] = req.target.split("/");
    progress.written = 0;
    if (kind === "download") await sendBlocks(conn, Number(size), progress, req.headers.has("x-chunked"));
    else await conn.write(`HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n${req.bodySha256}`);
  },
});
const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
afterAll(() => {
  client.close();
  upstream.stop();
});

/** Waits until `read()` has not changed for half a second (the pipeline is full), then returns its value. */
async function settled(read: () => number): Promise<number> {
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

describe("large bodies stream both ways with checksums", () => {
  for (const mb of [1, 100]) {
    for (const framing of ["length", "chunked"] as const) {
      test(`${mb} MB upload, ${framing}`, async () => {
        const body = generatedBody(mb);
        const res = await client.request(
          endpoint,
          {
            method: "POST",
            target: "/upload",
            headers: [],
            body: body.stream,
            ...(framing === "length" ? { bodyLength: mb * MB } : {}),
          },
          timeouts,
        );
        expect(Buffer.from(res.body as Uint8Array).toString()).toBe(body.sha);
        expect(upstream.requests.at(-1)?.bodyLength).toBe(mb * MB);
        expect(upstream.requests.at(-1)?.chunked).toBe(framing === "chunked");
      }, 60_000);

      test(`${mb} MB download, ${framing}`, async () => {
        const res = await client.request(
          endpoint,
          {
            method: "GET",
            target: `/download/${mb}`,
            headers: framing === "chunked" ? ["X-Chunked", "1"] : [],
            body: null,
          },
          timeouts,
        );
        const got = await hashStream(res.body as ReadableStream<Uint8Array>);
        expect(got.length).toBe(mb * MB);
        expect(got.sha).toBe(progress.sha);
      }, 60_000);
    }
  }
});

describe("back-pressure: a slow reader or a slow upstream never makes the client buffer a whole body", () => {
  test(`download: while nobody reads the stream, the upstream stalls far short of ${STALL_MB} MB`, async () => {
    const res = await client.request(
      endpoint,
      { method: "GET", target: `/download/${STALL_MB}`, headers: [], body: null },
      timeouts,
    );
    const body = res.body as ReadableStream<Uint8Array>;
    let read = false;
    try {
      const stalledAt = await settled(() => progress.written);
      expect(stalledAt).toBeLessThan(STALL_BOUND);
      read = true;
      const got = await hashStream(body);
      expect(got.length).toBe(STALL_MB * MB);
      expect(got.sha).toBe(progress.sha);
    } finally {
      // A failed expectation must not leave a live stream behind for afterAll's socket reset to error; an already
      // errored stream rejects cancel() with its error, which the failed expectation has reported.
      if (!read) await body.cancel().catch(() => {});
    }
  }, 60_000);

  test("upload: while the upstream does not read, the client stops pulling the request body", async () => {
    const body = generatedBody(STALL_MB);
    const pending = client.request(
      endpoint,
      { method: "POST", target: "/hold-request", headers: [], body: body.stream, bodyLength: STALL_MB * MB },
      { ...timeouts, write: 60_000 },
    );
    // Settled whatever happens below: abandoned, it would reject unhandled when afterAll resets the socket.
    const outcome = pending.then(
      (res) => Buffer.from(res.body as Uint8Array).toString(),
      (e: Error) => e,
    );
    try {
      const stalledAt = await settled(() => body.pulled);
      expect(stalledAt).toBeLessThan(STALL_BOUND);
    } finally {
      (releaseReader as unknown as () => void)();
    }
    expect(await outcome).toBe(body.sha);
  }, 60_000);
});
