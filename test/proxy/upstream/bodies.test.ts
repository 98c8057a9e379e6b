import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import { randomBytes, rawUpstream, seeded, type UpstreamSide } from "./raw-upstream";

const MB = 1024 * 1024;
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
  test("download: while nobody reads the stream, the upstream stalls far short of 100 MB", async () => {
    const res = await client.request(
      endpoint,
      { method: "GET", target: "/download/100", headers: [], body: null },
      timeouts,
    );
    const stalledAt = await settled(() => progress.written);
    expect(stalledAt).toBeLessThan(32 * MB);
    const got = await hashStream(res.body as ReadableStream<Uint8Array>);
    expect(got.length).toBe(100 * MB);
    expect(got.sha).toBe(progress.sha);
  }, 60_000);

  test("upload: while the upstream does not read, the client stops pulling the request body", async () => {
    const body = generatedBody(100);
    const pending = client.request(
      endpoint,
      { method: "POST", target: "/hold-request", headers: [], body: body.stream, bodyLength: 100 * MB },
      { ...timeouts, write: 60_000 },
    );
    const stalledAt = await settled(() => body.pulled);
    expect(stalledAt).toBeLessThan(32 * MB);
    (releaseReader as unknown as () => void)();
    const res = await pending;
    expect(Buffer.from(res.body as Uint8Array).toString()).toBe(body.sha);
  }, 60_000);
});
