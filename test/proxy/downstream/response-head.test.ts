import { describe, expect, test } from "bun:test";
import { encodeHead, framingOf } from "../../../src/proxy/downstream/response-head";

describe("reply heads", () => {
  test("framing: HEAD, 1xx, 204 and 304 carry no body; a known length is Content-Length; else chunked, or close for HTTP/1.0", () => {
    expect(framingOf("HEAD", 200, true, 10, 1)).toBe("none");
    expect(framingOf("GET", 204, false, -1, 1)).toBe("none");
    expect(framingOf("GET", 304, false, -1, 1)).toBe("none");
    expect(framingOf("GET", 200, true, 10, 1)).toBe("length");
    expect(framingOf("GET", 200, false, -1, 1)).toBe("length");
    expect(framingOf("GET", 200, true, -1, 1)).toBe("chunked");
    expect(framingOf("GET", 200, true, -1, 0)).toBe("close");
  });

  test("the server owns framing headers; Date is added unless the reply has one; Connection follows keep-alive", () => {
    const head = encodeHead(
      {
        status: 200,
        headers: ["Content-Length", "999", "Transfer-Encoding", "chunked", "X-A", "1"],
        body: null,
      },
      "length",
      3,
      false,
      1,
    );
    expect(head.startsWith("HTTP/1.1 200 OK\r\nX-A: 1\r\nDate: ")).toBe(true);
    expect(head.endsWith("Content-Length: 3\r\nConnection: close\r\n\r\n")).toBe(true);
    const dated = encodeHead(
      { status: 404, statusText: "Nope", headers: ["date", "yesterday"], body: null },
      "length",
      0,
      true,
      0,
    );
    expect(dated).toBe(
      "HTTP/1.1 404 Nope\r\ndate: yesterday\r\nContent-Length: 0\r\nConnection: keep-alive\r\n\r\n",
    );
  });

  test("a HEAD answer announces the upstream's length; a 101 says Connection: upgrade", () => {
    expect(encodeHead({ status: 200, headers: ["Date", "d"], body: null }, "none", 1234, true, 1)).toBe(
      "HTTP/1.1 200 OK\r\nDate: d\r\nContent-Length: 1234\r\n\r\n",
    );
    expect(
      encodeHead(
        { status: 101, headers: ["Upgrade", "websocket", "Date", "d"], body: null },
        "none",
        -1,
        true,
        1,
      ),
    ).toBe(
      "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nDate: d\r\nConnection: upgrade\r\n\r\n",
    );
  });
});
