import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import { rawUpstream, readAll, type SeenRequest, type UpstreamSide } from "./raw-upstream";

const enc = new TextEncoder();
const text = (b: Uint8Array) => Buffer.from(b).toString();
const timeouts = { connect: 2000, write: 2000, read: 2000 };
const client = new UpstreamClient({ poolSize: 4, maxRequests: 100, idleTimeoutMs: 60_000 });

/** Order of events the upstream saw, to prove when the body arrived relative to `100 Continue`. */
const log: string[] = [];
const upstream = rawUpstream({
  onHead(req: SeenRequest, conn: UpstreamSide) {
    log.push(`head ${req.target}`);
    if (req.target === "/continue") {
      setTimeout(() => {
        log.push("100 sent");
        conn.write("HTTP/1.1 100 Continue\r\n\r\n");
      }, 30);
    }
    if (req.target === "/refuse") conn.write("HTTP/1.1 417 Expectation Failed\r\nContent-Length: 0\r\n\r\n");
  },
  respond(req, conn) {
    log.push(`body ${req.target} ${req.bodyLength}`);
    if (req.target === "/refuse") return;
    if (req.target === "/hop") {
      conn.write(
        "HTTP/1.1 200 OK\r\nConnection: keep-alive, X-Private\r\nX-Private: secret\r\nKeep-Alive: timeout=5\r\nX-Public: yes\r\nContent-Length: 0\r\n\r\n",
      );
    } else if (req.target === "/until-close") {
      conn.write("HTTP/1.1 200 OK\r\n\r\nall of it").then(() => conn.end());
    } else if (req.target === "/ws") {
      conn.write(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\nhello",
      );
      // From now on the connection is an echo: the test sees its bytes come back.
      conn.socket.data.upgraded = true;
    } else {
      conn
        .write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.bodyLength}\r\n\r\n`)
        .then(() => conn.write(req.body));
    }
  },
});
const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
afterAll(() => {
  client.close();
  upstream.stop();
});

describe("Expect: 100-continue", () => {
  const expectBody = (target: string) =>
    client.request(
      endpoint,
      { method: "POST", target, headers: ["Expect", "100-continue"], body: enc.encode("the body") },
      timeouts,
    );

  test("the body waits for 100 Continue, then goes out", async () => {
    log.length = 0;
    const res = await expectBody("/continue");
    expect(res.status).toBe(200);
    expect(text(await readAll(res.body))).toBe("the body");
    expect(log).toEqual(["head /continue", "100 sent", "body /continue 8"]);
  });

  test("a final answer instead of 100: the body is never sent and the socket is not reused", async () => {
    log.length = 0;
    const before = upstream.accepted;
    const res = await expectBody("/refuse");
    expect(res.status).toBe(417);
    await Bun.sleep(50);
    expect(log).toEqual(["head /refuse"]);
    await client.request(endpoint, { method: "GET", target: "/x", headers: [], body: null }, timeouts);
    expect(upstream.accepted).toBe(before + 1);
  });

  test("an upstream that ignores Expect still gets the body after a wait", async () => {
    const res = await expectBody("/ignores-expect");
    expect(text(await readAll(res.body))).toBe("the body");
  });
});

describe("framing and hop-by-hop headers", () => {
  test("headers named in Connection, and Keep-Alive, do not reach the caller", async () => {
    const res = await client.request(
      endpoint,
      { method: "GET", target: "/hop", headers: [], body: null },
      timeouts,
    );
    expect(res.headers).toEqual(["X-Public", "yes"]);
  });

  test("a body delimited by the connection closing is read to the end", async () => {
    const res = await client.request(
      endpoint,
      { method: "GET", target: "/until-close", headers: [], body: null },
      timeouts,
    );
    expect(res.contentLength).toBe(-1);
    expect(text(await readAll(res.body))).toBe("all of it");
  });

  test("a small body that arrives with the head comes back as one Uint8Array", async () => {
    const res = await client.request(
      endpoint,
      { method: "POST", target: "/echo", headers: [], body: enc.encode("abc") },
      timeouts,
    );
    expect(res.body).toBeInstanceOf(Uint8Array);
    expect(text(res.body as Uint8Array)).toBe("abc");
    expect(res.contentLength).toBe(3);
  });
});

describe("request framing is the client's alone", () => {
  test("a stray Content-Length or Transfer-Encoding from the caller is dropped, never sent twice", async () => {
    const res = await client.request(
      endpoint,
      {
        method: "POST",
        target: "/echo",
        headers: ["Content-Length", "999", "transfer-encoding", "chunked"],
        body: enc.encode("abc"),
      },
      timeouts,
    );
    expect(text(await readAll(res.body))).toBe("abc");
    const seen = upstream.requests.at(-1);
    expect(seen?.headers.get("content-length")).toEqual(["3"]);
    expect(seen?.headers.has("transfer-encoding")).toBe(false);
  });
});

describe("upgrade", () => {
  test("101 hands back a byte tunnel: bytes sent with the head and echoed bytes both arrive", async () => {
    const res = await client.upgrade(
      endpoint,
      { method: "GET", target: "/ws", headers: ["Upgrade", "websocket"], body: null },
      timeouts,
    );
    expect(res.status).toBe(101);
    expect(res.headers).toContain("websocket");
    const tunnel = res.tunnel;
    if (tunnel === null) throw new Error("no tunnel");
    const received: string[] = [];
    const closed = new Promise<void>((resolve) =>
      tunnel.attach({
        data: (b) => received.push(text(b)),
        drain: () => {},
        close: () => resolve(),
      }),
    );
    expect(received).toEqual(["hello"]);
    expect(tunnel.write(enc.encode("ping"))).toBe(true);
    for (let i = 0; i < 100 && received.join("") !== "helloping"; i++) await Bun.sleep(5);
    expect(received.join("")).toBe("helloping");
    tunnel.destroy();
    await closed;
    expect(upstream.requests.at(-1)?.headers.get("connection")).toEqual(["Upgrade"]);
  });
});
