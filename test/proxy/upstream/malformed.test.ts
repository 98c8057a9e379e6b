import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient, UpstreamError } from "../../../src/proxy/upstream/client";
import { rawUpstream, readAll } from "./raw-upstream";

/** Response bytes keyed by the request path; "/ok" is a well-formed answer used to check the next socket. */
const answers: Record<string, string> = {
  "/ok": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
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
  "/extra-bytes":
    "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n",
};

const upstream = rawUpstream({
  respond(req, conn) {
    conn.write(answers[req.target] ?? "HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n");
  },
});
const client = new UpstreamClient({ poolSize: 4, maxRequests: 1000, idleTimeoutMs: 60_000 });
const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
const timeouts = { connect: 2000, write: 2000, read: 2000 };
afterAll(() => {
  client.close();
  upstream.stop();
});

const get = (target: string) =>
  client.request(endpoint, { method: "GET", target, headers: ["Host", "up"], body: null }, timeouts);

describe("a malformed or smuggling response fails with kind protocol and its socket is never reused", () => {
  const bad = Object.keys(answers).filter((k) => k !== "/ok" && k !== "/extra-bytes");
  for (const target of bad) {
    test(target, async () => {
      await readAll((await get("/ok")).body);
      const before = upstream.accepted;
      const err = await get(target).then(
        () => null,
        (e) => e,
      );
      expect(err).toBeInstanceOf(UpstreamError);
      expect(err.kind).toBe("protocol");
      expect(err.requestSent).toBe(true);
      // The pooled socket carried the bad answer; the next request needs a fresh one.
      const next = await get("/ok");
      expect(Buffer.from(await readAll(next.body)).toString()).toBe("ok");
      expect(upstream.accepted).toBe(before + 1);
    });
  }

  test("bytes after a complete response: the answer is delivered, the socket is dropped", async () => {
    await readAll((await get("/ok")).body);
    const before = upstream.accepted;
    const res = await get("/extra-bytes");
    expect(Buffer.from(await readAll(res.body)).toString()).toBe("ok");
    await readAll((await get("/ok")).body);
    expect(upstream.accepted).toBe(before + 1);
  });

  test("the error message names the fault, in nginx's words where nginx has them", async () => {
    const err = await get("/long-header").catch((e) => e);
    expect(err.message).toBe("upstream sent too big header");
    const both = await get("/cl-and-te").catch((e) => e);
    expect(both.message).toContain("both Content-Length and Transfer-Encoding");
  });
});
