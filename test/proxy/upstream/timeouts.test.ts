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
    // 40 bytes 50 ms apart take at least twice the read timeout overall, while each gap is a twentieth of it: wide
    // enough that a loaded CI machine starving this process (upstream and client alike) for a while does not fire it.
    const drip = rawUpstream({
      async respond(_req, conn) {
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n");
        for (let i = 0; i < 40; i++) {
          await Bun.sleep(50);
          await conn.write("x");
        }
      },
    });
    stops.push(drip.stop);
    const res = await client.request(
      { host: "127.0.0.1", port: drip.port, tls: null },
      { method: "GET", target: "/", headers: [], body: null },
      { connect: 5000, write: 5000, read: 1000 },
    );
    expect(Buffer.from(await readAll(res.body)).toString()).toBe("x".repeat(40));
  });

  test("an answer that arrived while the event loop was stalled is read, not timed out", async () => {
    const readMs = 1000;
    const answered = rawUpstream({
      respond(_req, conn) {
        conn.write("HTTP/1.1 200 OK\r\nContent-Length: 8\r\n\r\nanswered");
        // Stands in for a long synchronous job on the gateway's loop (a large config compile, a GC pause): the answer
        // waits in the kernel while the read deadline passes, and Bun runs due timers before it reads sockets.
        const until = performance.now() + 2 * readMs;
        while (performance.now() < until) {}
      },
    });
    stops.push(answered.stop);
    const res = await failure(
      client.request(
        { host: "127.0.0.1", port: answered.port, tls: null },
        { method: "GET", target: "/", headers: [], body: null },
        { connect: 5000, write: 5000, read: readMs },
      ),
    );
    expect(res).toBeNull();
  });
});
