import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient, UpstreamError } from "../../../src/proxy/upstream/client";
import { rawUpstream, readAll } from "./raw-upstream";

const client = new UpstreamClient({ poolSize: 4, maxRequests: 100, idleTimeoutMs: 60_000 });
const stops: (() => void)[] = [];
afterAll(() => {
  client.close();
  for (const s of stops) s();
});

const failure = (p: Promise<unknown>) =>
  p.then(
    () => null,
    (e) => e as UpstreamError,
  );

describe("Kong's connect/write/read timeouts map to kind timeout", () => {
  test("connect: a TLS handshake the upstream never answers", async () => {
    const silent = Bun.listen({ hostname: "127.0.0.1", port: 0, socket: { data() {} } });
    stops.push(() => silent.stop(true));
    const err = await failure(
      client.request(
        { host: "127.0.0.1", port: silent.port, tls: { verify: false } },
        { method: "GET", target: "/", headers: [], body: null },
        { connect: 150, write: 5000, read: 5000 },
      ),
    );
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err?.kind).toBe("timeout");
    expect(err?.requestSent).toBe(false);
  });

  test("read: no response head", async () => {
    const mute = rawUpstream({ respond() {} });
    stops.push(mute.stop);
    const err = await failure(
      client.request(
        { host: "127.0.0.1", port: mute.port, tls: null },
        { method: "GET", target: "/", headers: [], body: null },
        { connect: 5000, write: 5000, read: 150 },
      ),
    );
    expect(err?.kind).toBe("timeout");
    expect(err?.requestSent).toBe(true);
  });

  test("read: the body stalls halfway; the stream errors with kind timeout", async () => {
    const stall = rawUpstream({
      respond(_req, conn) {
        conn.write(`HTTP/1.1 200 OK\r\nContent-Length: 200000\r\n\r\n${"x".repeat(100_000)}`);
      },
    });
    stops.push(stall.stop);
    const res = await client.request(
      { host: "127.0.0.1", port: stall.port, tls: null },
      { method: "GET", target: "/", headers: [], body: null },
      { connect: 5000, write: 5000, read: 150 },
    );
    const err = await failure(readAll(res.body));
    expect(err?.kind).toBe("timeout");
  });

  test("write: an upstream that stops reading a large request body", async () => {
    const deaf = rawUpstream({
      onHead(_req, conn) {
        conn.socket.pause();
      },
      respond() {},
    });
    stops.push(deaf.stop);
    const err = await failure(
      client.request(
        { host: "127.0.0.1", port: deaf.port, tls: null },
        { method: "POST", target: "/", headers: [], body: new Uint8Array(64 * 1024 * 1024) },
        { connect: 5000, write: 200, read: 60_000 },
      ),
    );
    expect(err?.kind).toBe("timeout");
    expect(err?.message).toContain("sending the request");
  });

  test("a slow but steady body does not time out: the read timeout is between reads, not overall", async () => {
    const drip = rawUpstream({
      async respond(_req, conn) {
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n");
        for (let i = 0; i < 10; i++) {
          await Bun.sleep(40);
          await conn.write("x");
        }
      },
    });
    stops.push(drip.stop);
    const res = await client.request(
      { host: "127.0.0.1", port: drip.port, tls: null },
      { method: "GET", target: "/", headers: [], body: null },
      { connect: 5000, write: 5000, read: 250 },
    );
    expect(Buffer.from(await readAll(res.body)).toString()).toBe("x".repeat(10));
  });
});
