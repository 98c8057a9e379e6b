import { describe, expect, test } from "bun:test";
import { parseRequestHead, RequestError, type RequestHead } from "../../../src/proxy/downstream/request-head";
import { findHeadEnd, ProtocolError } from "../../../src/proxy/http1/wire";

const signal = new AbortController().signal;

function parse(text: string): RequestHead {
  const buf = Buffer.from(text, "latin1");
  return parseRequestHead(buf, findHeadEnd(buf, 0, buf.length), {
    clientIp: "192.0.2.1",
    signal,
    sni: null,
    proxyAddress: null,
  });
}

function refusal(text: string): { status: number; message: string } {
  try {
    parse(text);
  } catch (e) {
    // As the connection answers them: a RequestError's own status, any other framing fault 400.
    if (e instanceof ProtocolError)
      return { status: e instanceof RequestError ? e.status : 400, message: e.message };
    throw e;
  }
  throw new Error("parsed");
}

describe("request heads", () => {
  test("origin-form: path and query split, header names lowercased, values trimmed, repeats joined like fetch", () => {
    const h = parse("GET /a/b?x=1&y HTTP/1.1\r\nHost: shop.test\r\nX-Tag:  one \r\nx-tag: two\r\n\r\n");
    expect([h.method, h.target, h.path, h.query, h.host]).toEqual([
      "GET",
      "/a/b?x=1&y",
      "/a/b",
      "x=1&y",
      "shop.test",
    ]);
    expect(h.headers.get("X-Tag")).toBe("one, two");
    expect(h.headers.flat).toEqual(["host", "shop.test", "x-tag", "one", "x-tag", "two"]);
    expect([h.keepAlive, h.contentLength, h.chunked, h.upgrade]).toEqual([true, -1, false, null]);
  });

  test("absolute-form takes its authority as the host; OPTIONS * is the root", () => {
    const abs = parse("GET http://api.test:8080/v1?q HTTP/1.1\r\nHost: other\r\n\r\n");
    expect([abs.host, abs.target, abs.path]).toEqual(["api.test:8080", "/v1?q", "/v1"]);
    expect(parse("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\n").path).toBe("/");
  });

  test("keep-alive follows the version and Connection; upgrades need both Connection: upgrade and Upgrade", () => {
    expect(parse("GET / HTTP/1.0\r\n\r\n").keepAlive).toBe(false);
    expect(parse("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n").keepAlive).toBe(true);
    expect(parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").keepAlive).toBe(false);
    expect(
      parse("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: WebSocket\r\n\r\n").upgrade,
    ).toBe("websocket");
    expect(parse("GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n\r\n").upgrade).toBeNull();
  });

  test("framing: Content-Length, chunked", () => {
    expect(parse("POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 12\r\n\r\n").contentLength).toBe(12);
    expect(parse("POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n").chunked).toBe(true);
  });

  test("what could smuggle or confuse a hop is refused with nginx's status", () => {
    const cases: [string, number][] = [
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\n", 400],
      ["POST / HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n", 400],
      ["POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501],
      ["POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n folded\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\n\r\n", 400],
      ["GET / HTTP/2.0\r\nHost: x\r\n\r\n", 505],
      ["GET / HTTX/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET /a b HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET ftp://x/ HTTP/1.1\r\nHost: x\r\n\r\n", 400],
      ["GET / HTTP/1.1\r\nHost: x\r\nX-A: a\0b\r\n\r\n", 400],
    ];
    for (const [text, status] of cases)
      expect({ text, status: refusal(text).status }).toEqual({ text, status });
  });
});
