import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient, UpstreamError } from "../../../src/proxy/upstream/client";
import { rawUpstream, readAll, seeded } from "./raw-upstream";

const timeouts = { connect: 2000, write: 2000, read: 2000 };
const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanup) f();
});

function setup(poolOpts: ConstructorParameters<typeof UpstreamClient>[0], delayMs = 0) {
  let inFlight = 0;
  let maxInFlight = 0;
  const upstream = rawUpstream({
    async respond(_req, conn) {
      inFlight++;
      maxInFlight = Math.max(maxInFlight, inFlight);
      if (delayMs) await Bun.sleep(delayMs);
      inFlight--;
      await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    },
  });
  const client = new UpstreamClient(poolOpts);
  cleanup.push(() => {
    client.close();
    upstream.stop();
  });
  const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
  const get = async (method = "GET") => {
    const res = await client.request(
      endpoint,
      { method, target: "/", headers: ["Host", "up"], body: null },
      timeouts,
    );
    return Buffer.from(await readAll(res.body)).toString();
  };
  return { upstream, client, endpoint, get, maxInFlight: () => maxInFlight };
}

async function eventually(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 300; i++) {
    if (check()) return;
    await Bun.sleep(10);
  }
  throw new Error(`never happened: ${what}`);
}

describe("keep-alive pool", () => {
  test("sequential requests reuse one socket", async () => {
    const { upstream, get } = setup({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 60_000 });
    for (let i = 0; i < 20; i++) expect(await get()).toBe("ok");
    expect(upstream.accepted).toBe(1);
  });

  test("a cap per endpoint makes the excess wait in a queue, and every request is served", async () => {
    const { upstream, get, maxInFlight } = setup(
      { poolSize: 8, maxRequests: 100, idleTimeoutMs: 60_000, maxConnections: 2 },
      15,
    );
    const results = await Promise.all(Array.from({ length: 12 }, () => get()));
    expect(results).toEqual(Array(12).fill("ok"));
    expect(upstream.accepted).toBe(2);
    expect(maxInFlight()).toBe(2);
  });

  test("a queued request never rides a socket that reached upstream_keepalive_max_requests", async () => {
    const { upstream, get } = setup(
      { poolSize: 8, maxRequests: 2, idleTimeoutMs: 60_000, maxConnections: 1 },
      5,
    );
    const results = await Promise.all(Array.from({ length: 6 }, () => get()));
    expect(results).toEqual(Array(6).fill("ok"));
    expect(upstream.accepted).toBe(3);
    expect([...upstream.sockets].every((s) => s.served <= 2)).toBe(true);
  });

  test("pool size 0 disables pooling: one connection per request, each told to close", async () => {
    const { upstream, get } = setup({ poolSize: 0, maxRequests: 100, idleTimeoutMs: 60_000 });
    for (let i = 0; i < 5; i++) expect(await get()).toBe("ok");
    expect(upstream.accepted).toBe(5);
    expect(upstream.requests.every((r) => r.headers.get("connection")?.[0] === "close")).toBe(true);
  });

  test("a socket is retired after upstream_keepalive_max_requests exchanges", async () => {
    const { upstream, get } = setup({ poolSize: 8, maxRequests: 3, idleTimeoutMs: 60_000 });
    for (let i = 0; i < 9; i++) await get();
    expect(upstream.accepted).toBe(3);
  });

  test("idle sockets are closed after upstream_keepalive_idle_timeout", async () => {
    const { upstream, get } = setup({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 50 });
    await get();
    expect(upstream.open).toBe(1);
    await eventually(() => upstream.open === 0, "idle socket closed");
    expect(await get()).toBe("ok");
    expect(upstream.accepted).toBe(2);
  });

  test("most recently used idle socket is reused first", async () => {
    const { upstream, get } = setup({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 60_000 }, 10);
    await Promise.all([get(), get(), get()]);
    expect(upstream.accepted).toBe(3);
    const before = [...upstream.sockets].map((s) => s.served);
    for (let i = 0; i < 5; i++) await get();
    const gained = [...upstream.sockets].map((s, i) => s.served - (before[i] as number)).sort();
    // MRU: the socket just returned is taken again, so one socket serves all five and the others stay cold.
    expect(gained).toEqual([0, 0, 5]);
  });
});

describe("upstreams that drop connections", () => {
  test("an upstream that closes idle sockets at random moments: no caller sees an error", async () => {
    const upstream = rawUpstream({
      async respond(_req, conn) {
        await conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        setTimeout(() => conn.end(), 5 + Math.floor(Math.random() * 20));
      },
    });
    const client = new UpstreamClient({ poolSize: 8, maxRequests: 1000, idleTimeoutMs: 60_000 });
    cleanup.push(() => {
      client.close();
      upstream.stop();
    });
    const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
    const rand = seeded(42);
    const errors: string[] = [];
    await Promise.all(
      Array.from({ length: 4 }, async () => {
        for (let i = 0; i < 60; i++) {
          await Bun.sleep(Math.floor(rand() * 30));
          try {
            const res = await client.request(
              endpoint,
              { method: "GET", target: "/", headers: [], body: null },
              timeouts,
            );
            await readAll(res.body);
          } catch (e) {
            errors.push((e as Error).message);
          }
        }
      }),
    );
    expect(errors).toEqual([]);
    expect(upstream.accepted).toBeGreaterThan(10);
  });

  test("a reused socket closed before answering is retried on a fresh one for GET, not for a POST with a body", async () => {
    // Each connection answers its first request and silently drops the second: a keep-alive race, made deterministic.
    const upstream = rawUpstream({
      respond(_req, conn) {
        if (conn.served === 1) conn.write("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
        else conn.destroy();
      },
    });
    const client = new UpstreamClient({ poolSize: 8, maxRequests: 1000, idleTimeoutMs: 60_000 });
    cleanup.push(() => {
      client.close();
      upstream.stop();
    });
    const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
    const send = (method: string, body: Uint8Array | null) =>
      client
        .request(endpoint, { method, target: "/", headers: [], body }, timeouts)
        .then((r) => readAll(r.body));
    await send("GET", null);
    expect(Buffer.from(await send("GET", null)).toString()).toBe("ok");
    expect(upstream.accepted).toBe(2);
    const err = await send("POST", new TextEncoder().encode("payload")).catch((e) => e);
    expect(err).toBeInstanceOf(UpstreamError);
    expect(err.kind).toBe("reset");
    expect(err.requestSent).toBe(true);
    expect(upstream.accepted).toBe(2);
  });
});

describe("closing the client", () => {
  test("idle sockets close and later requests fail with a clear error", async () => {
    const { upstream, client, endpoint, get } = setup({
      poolSize: 8,
      maxRequests: 100,
      idleTimeoutMs: 60_000,
    });
    await get();
    client.close();
    await eventually(() => upstream.open === 0, "idle socket closed");
    const err = await client
      .request(endpoint, { method: "GET", target: "/", headers: [], body: null }, timeouts)
      .catch((e) => e);
    expect(err.kind).toBe("connect");
    expect(err.message).toBe("the upstream client was closed");
  });
});

describe("bad input", () => {
  test("pool options out of range throw, naming Kong's setting", () => {
    expect(() => new UpstreamClient({ poolSize: -1, maxRequests: 1, idleTimeoutMs: 1 })).toThrow(
      "upstream_keepalive_pool_size must be an integer >= 0",
    );
    expect(() => new UpstreamClient({ poolSize: 1, maxRequests: 1.5, idleTimeoutMs: 1 })).toThrow(
      "upstream_keepalive_max_requests",
    );
  });

  test("an invalid endpoint is a connect error naming the field, not a crash", async () => {
    const client = new UpstreamClient({ poolSize: 1, maxRequests: 1, idleTimeoutMs: 1 });
    const err = await client
      .request(
        { host: "127.0.0.1", port: 70000, tls: null },
        { method: "GET", target: "/", headers: [], body: null },
        timeouts,
      )
      .catch((e) => e);
    expect(err.kind).toBe("connect");
    expect(err.message).toContain("upstream port must be an integer between 1 and 65535");
    const refused = await client
      .request(
        { host: "127.0.0.1", port: 1, tls: null },
        { method: "GET", target: "/", headers: [], body: null },
        timeouts,
      )
      .catch((e) => e);
    expect(refused.kind).toBe("connect");
    expect(refused.requestSent).toBe(false);
    client.close();
  });
});
