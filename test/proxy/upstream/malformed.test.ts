import { afterAll, describe, expect, test } from "bun:test";
import { UpstreamClient, UpstreamError } from "../../../src/proxy/upstream/client";
import { MALFORMED_RESPONSES, rawUpstream, readAll } from "./raw-upstream";

/** Response bytes keyed by the request path; "/ok" is a well-formed answer used to check the next socket. */
const answers: Record<string, string> = {
  "/ok": "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok",
  ...MALFORMED_RESPONSES,
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
  const bad = Object.keys(MALFORMED_RESPONSES);
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
