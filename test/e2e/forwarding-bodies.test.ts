/** Large bodies through the compiled binary: 1 MB and 100 MB both ways with checksums, and a slow reader costs gw no body-sized memory. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type GwProcess, rssBytes, startDbless } from "../helpers/gw";
import {
  generatedBody,
  hashStream,
  MB,
  type RawUpstream,
  rawUpstream,
  sendBlocks,
  settled,
} from "../proxy/upstream/raw-upstream";

const STALL_MB = 200;
const progress = { written: 0, sha: "" };
let upstream: RawUpstream;
let gw: GwProcess;

beforeAll(async () => {
  upstream = rawUpstream({
    keepBodies: false,
    async respond(req, conn) {
      const [, kind, size] = req.target.split("/");
      if (kind !== "download") {
        await conn.write(`HTTP/1.1 200 OK\r\nContent-Length: 64\r\n\r\n${req.bodySha256}`);
        return;
      }
      progress.written = 0;
      await sendBlocks(conn, Number(size), progress, req.headers.has("x-chunked"));
    },
  });
  gw = await startDbless(
    `_format_version: "3.0"\nservices:\n  - url: http://127.0.0.1:${upstream.port}\n    routes: [{ paths: ["/"] }]\n`,
  );
});

afterAll(async () => {
  await gw?.kill();
  upstream?.stop();
});

// First, while gw's heap is fresh: memory left over from the 100 MB transfers below would hide a buffered body.
test(`a client that stops reading a ${STALL_MB} MB download: gw's memory stays far below the body size`, async () => {
  const warm = await fetch(`${gw.proxy}/download/1`);
  expect((await hashStream(warm.body as ReadableStream<Uint8Array>)).length).toBe(MB);
  const baseline = rssBytes(gw.proc.pid);
  const res = await fetch(`${gw.proxy}/download/${STALL_MB}`);
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  const hasher = new Bun.CryptoHasher("sha256");
  const first = (await reader.read()).value ?? new Uint8Array(0);
  hasher.update(first);
  let received = first.length;
  // Nobody reads now: the bytes in flight pile up in kernel buffers and whatever gw holds, until back-pressure stops the upstream.
  const stalledAt = await settled(() => progress.written);
  const growth = rssBytes(gw.proc.pid) - baseline;
  expect(stalledAt).toBeLessThan(STALL_MB * MB);
  expect(growth).toBeLessThan(100 * MB);
  // Then the slow reader drains it, and every byte is there.
  for (;;) {
    const { done, value } = await reader.read();
    if (done) break;
    hasher.update(value);
    received += value.length;
  }
  expect(received).toBe(STALL_MB * MB);
  expect(hasher.digest("hex")).toBe(progress.sha);
}, 120_000);

describe("bodies stream both ways with checksums", () => {
  for (const mb of [1, 100]) {
    for (const framing of ["length", "chunked"] as const) {
      test(`${mb} MB upload, ${framing}`, async () => {
        const body = generatedBody(mb);
        const res = await fetch(`${gw.proxy}/upload`, {
          method: "POST",
          body: body.stream,
          headers: framing === "length" ? { "content-length": String(mb * MB) } : {},
        });
        expect(res.status).toBe(200);
        expect(await res.text()).toBe(body.sha);
        const seen = upstream.requests.at(-1);
        expect(seen?.bodyLength).toBe(mb * MB);
        expect(seen?.chunked).toBe(framing === "chunked");
      }, 60_000);

      test(`${mb} MB download, ${framing}`, async () => {
        const res = await fetch(`${gw.proxy}/download/${mb}`, {
          headers: framing === "chunked" ? { "x-chunked": "1" } : {},
        });
        expect(res.status).toBe(200);
        const got = await hashStream(res.body as ReadableStream<Uint8Array>);
        expect(got.length).toBe(mb * MB);
        expect(got.sha).toBe(progress.sha);
      }, 60_000);
    }
  }
});
