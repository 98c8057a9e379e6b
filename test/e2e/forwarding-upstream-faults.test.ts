/** Upstreams that misbehave, seen through the compiled binary: Kong's 502/504, no short bodies, bad sockets retired. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { freePort, type GwProcess, startDbless, waitFor } from "../helpers/gw";
import { parseResponse, rawExchange } from "../helpers/raw-http";
import {
  MALFORMED_RESPONSES,
  type RawUpstream,
  rawUpstream,
  seeded,
  type UpstreamSide,
} from "../proxy/upstream/raw-upstream";

const OK = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok";
/** Answers whose body ends early: the upstream closes the connection before the framing is satisfied. */
const CUT: Record<string, string> = {
  "/cut-small-length": `HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n${"a".repeat(10)}`,
  "/cut-large-length": `HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n${"b".repeat(100_000)}`,
  "/cut-chunked": `HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n${`400\r\n${"c".repeat(1024)}\r\n`.repeat(8)}`,
};
/** A complete answer followed by bytes nobody asked for. */
const EXTRA: Record<string, string> = { "/extra-bytes": `${OK}HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n` };
const IDLE_CLOSE_MS = 30;

let faulty: RawUpstream;
let idle: RawUpstream;
let mute: RawUpstream;
let gw: GwProcess;
/** The upstream socket that carried each bad answer, and how many requests it had served by then. */
const carriers = new Map<string, { side: UpstreamSide; served: number }>();

beforeAll(async () => {
  faulty = rawUpstream({
    async respond(req, conn) {
      const bad = MALFORMED_RESPONSES[req.target] ?? CUT[req.target] ?? EXTRA[req.target];
      if (bad === undefined) return conn.write(OK);
      carriers.set(req.target, { side: conn, served: conn.served });
      await conn.write(bad);
      if (CUT[req.target]) conn.end();
    },
  });
  // Closes every connection that stays idle for IDLE_CLOSE_MS after an answer, as servers with short keep-alive do.
  const timers = new WeakMap<UpstreamSide, Timer>();
  idle = rawUpstream({
    onHead(_req, conn) {
      clearTimeout(timers.get(conn));
    },
    async respond(_req, conn) {
      await conn.write(OK);
      timers.set(
        conn,
        setTimeout(() => conn.end(), IDLE_CLOSE_MS),
      );
    },
  });
  mute = rawUpstream({ respond() {} });
  gw = await startDbless(`_format_version: "3.0"
services:
  - name: faulty
    url: http://127.0.0.1:${faulty.port}
    routes: [{ paths: ["/"] }]
  - name: idle-closing
    url: http://127.0.0.1:${idle.port}
    routes: [{ paths: ["/idle"] }]
  - name: mute
    url: http://127.0.0.1:${mute.port}
    read_timeout: 300
    routes: [{ paths: ["/mute"] }]
  - name: refused
    url: http://127.0.0.1:${freePort()}
    routes: [{ paths: ["/refused"] }]
`);
});

afterAll(async () => {
  await gw?.kill();
  for (const u of [faulty, idle, mute]) u?.stop();
});

const get = (path: string) => fetch(`${gw.proxy}${path}`);

async function expectKongError(res: Response, status: number, message: string) {
  expect(res.status).toBe(status);
  expect(((await res.json()) as { message: string }).message).toBe(message);
}

describe("a malformed or smuggling-shaped upstream answer is a 502, and its upstream socket is never reused", () => {
  for (const target of Object.keys(MALFORMED_RESPONSES)) {
    test(target, async () => {
      expect(await (await get("/ok")).text()).toBe("ok");
      const before = faulty.accepted;
      await expectKongError(
        await get(target),
        502,
        "An invalid response was received from the upstream server",
      );
      const carrier = carriers.get(target) as { side: UpstreamSide; served: number };
      expect(await (await get("/ok")).text()).toBe("ok");
      // The pooled socket carried the bad answer; the next request came on a fresh one and the bad one was closed.
      expect(faulty.accepted).toBe(before + 1);
      expect(carrier.side.served).toBe(carrier.served);
      await waitFor("the bad upstream socket to close", () => carrier.side.closed);
    });
  }

  test("bytes after a complete answer: the answer is delivered, the socket is not reused", async () => {
    expect(await (await get("/ok")).text()).toBe("ok");
    const before = faulty.accepted;
    const res = await get("/extra-bytes");
    expect(res.status).toBe(200);
    expect(await res.text()).toBe("ok");
    const carrier = carriers.get("/extra-bytes") as { side: UpstreamSide; served: number };
    expect(await (await get("/ok")).text()).toBe("ok");
    expect(faulty.accepted).toBe(before + 1);
    expect(carrier.side.served).toBe(carrier.served);
  });
});

describe("an upstream that closes mid-body: the client never gets a silently short body", () => {
  for (const target of Object.keys(CUT)) {
    test(target, async () => {
      const answer = await rawExchange(
        gw.proxy,
        `GET ${target} HTTP/1.1\r\nHost: gw\r\nConnection: close\r\n\r\n`,
        10_000,
      );
      const res = parseResponse(answer.text);
      // Either gw had not answered yet (a 502), or it had sent the head and now cuts the connection.
      const outcome =
        res?.status === 502 && res.complete
          ? "502"
          : res?.status === 200 && !res.complete && answer.closed
            ? "cut"
            : `status ${res?.status}, complete ${res?.complete}, closed ${answer.closed}`;
      expect(["502", "cut"]).toContain(outcome);
      if (outcome === "502")
        expect(JSON.parse(res?.body.toString() ?? "").message).toBe(
          "An invalid response was received from the upstream server",
        );
      expect(await (await get("/ok")).text()).toBe("ok");
    });
  }
});

test("an upstream that closes idle keep-alive connections: sequential requests spaced across the close all succeed", async () => {
  const rand = seeded(7);
  const failures: string[] = [];
  for (let i = 0; i < 60; i++) {
    // Gaps on both sides of the upstream's idle close, so some requests race it.
    await Bun.sleep(Math.floor(rand() * 2 * IDLE_CLOSE_MS));
    const res = await get(`/idle/${i}`);
    const body = await res.text();
    if (res.status !== 200 || body !== "ok") failures.push(`request ${i}: ${res.status} ${body}`);
  }
  expect(failures).toEqual([]);
  expect(idle.requests.length).toBe(60);
  // The closes happened: many requests needed a new connection.
  expect(idle.accepted).toBeGreaterThan(10);
});

describe("service timeouts and refusals, in Kong's words", () => {
  test("read_timeout exceeded: 504", async () => {
    await expectKongError(await get("/mute"), 504, "The upstream server is timing out");
  });

  test("connection refused: 502", async () => {
    await expectKongError(
      await get("/refused"),
      502,
      "An invalid response was received from the upstream server",
    );
  });
});
