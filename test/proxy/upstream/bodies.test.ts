import { afterAll, describe, expect, test } from "bun:test";
import { readFileSync } from "node:fs";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import { generatedBody, hashStream, MB, rawUpstream, sendBlocks, settled } from "./raw-upstream";

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
const timeouts = { connect: 5000, write: 10_000, read: 10_000 };
const client = new UpstreamClient({ poolSize: 4, maxRequests: 100, idleTimeoutMs: 60_000 });

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
