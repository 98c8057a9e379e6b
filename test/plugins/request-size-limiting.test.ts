import { describe, expect, test } from "bun:test";
import { requestSizeLimiting } from "../../src/plugins/request-size-limiting";
import { access, config, configErrors, makeContext, request } from "./helpers";

const post = (body: RequestInit["body"], headers: Record<string, string> = {}) =>
  makeContext(request("/", { method: "POST", body, headers }));

/** A body without Content-Length: a stream, as a chunked upload arrives. */
function chunked(parts: string[]): ReadableStream<Uint8Array> {
  return new ReadableStream({
    start(c) {
      for (const p of parts) c.enqueue(new TextEncoder().encode(p));
      c.close();
    },
  });
}

describe("request-size-limiting", () => {
  test("Kong's defaults and a bad unit", () => {
    expect(config(requestSizeLimiting)).toEqual({
      allowed_payload_size: 128,
      size_unit: "megabytes",
      require_content_length: false,
    });
    expect(configErrors(requestSizeLimiting, { size_unit: "gigabytes" })).toEqual({
      size_unit: "expected one of: megabytes, kilobytes, bytes",
    });
  });

  test("Content-Length over the limit: 413, or 417 for Expect: 100-continue", async () => {
    const conf = config(requestSizeLimiting, { allowed_payload_size: 1, size_unit: "kilobytes" });
    // The declared length decides; the body is not read.
    const declared = (n: number, extra: Record<string, string> = {}) =>
      post("x", { "content-length": String(n), ...extra });
    expect(await access(requestSizeLimiting, declared(1024), conf)).toBeUndefined();
    expect(await access(requestSizeLimiting, declared(1025), conf)).toEqual({
      status: 413,
      message: "Request size limit exceeded",
    });
    const expecting = declared(2000, { expect: "100-Continue" });
    expect(await access(requestSizeLimiting, expecting, conf)).toMatchObject({ status: 417 });
  });

  test("a streamed body is counted; a small one is kept for the upstream", async () => {
    const conf = config(requestSizeLimiting, { allowed_payload_size: 10, size_unit: "bytes" });
    const big = post(chunked(["12345", "67890", "1"]));
    expect(big.req.headers.get("content-length")).toBeNull();
    expect(await access(requestSizeLimiting, big, conf)).toMatchObject({ status: 413 });
    const small = post(chunked(["12345", "678"]));
    expect(await access(requestSizeLimiting, small, conf)).toBeUndefined();
    expect(new TextDecoder().decode(small.upstreamBody as Uint8Array)).toBe("12345678");
  });

  test("require_content_length refuses bodies without one", async () => {
    const conf = config(requestSizeLimiting, { require_content_length: true });
    expect(await access(requestSizeLimiting, makeContext(request("/")), conf)).toEqual({
      status: 411,
      message: "A valid Content-Length header is required",
    });
  });
});
