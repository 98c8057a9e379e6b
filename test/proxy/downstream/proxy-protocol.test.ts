import { describe, expect, test } from "bun:test";
import { parseProxyHeader } from "../../../src/proxy/downstream/proxy-protocol";

const latin1 = (s: string) => Buffer.from(s, "latin1");
const SIG = [0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a];

function v2(command: number, family: number, address: number[]): Buffer {
  return Buffer.from([
    ...SIG,
    0x20 | command,
    family,
    address.length >> 8,
    address.length & 0xff,
    ...address,
  ]);
}

describe("PROXY protocol headers", () => {
  test("v1: TCP4, TCP6 and UNKNOWN; the HTTP bytes after it are left alone", () => {
    const buf = latin1("PROXY TCP4 203.0.113.7 10.0.0.1 51234 8000\r\nGET / HTTP/1.1\r\n");
    expect(parseProxyHeader(buf)).toEqual({ length: 44, source: "203.0.113.7" });
    expect(buf.subarray(44).toString().startsWith("GET /")).toBe(true);
    expect(parseProxyHeader(latin1("PROXY TCP6 2001:db8::7 ::1 1 2\r\n"))?.source).toBe("2001:db8::7");
    expect(parseProxyHeader(latin1("PROXY UNKNOWN\r\n"))).toEqual({ length: 15, source: null });
  });

  test("v2: PROXY over IPv4 and IPv6, LOCAL keeps the peer", () => {
    const four = v2(1, 0x11, [198, 51, 100, 9, 10, 0, 0, 1, 0xc8, 0x1e, 0x1f, 0x40]);
    expect(parseProxyHeader(Buffer.concat([four, latin1("GET")]))).toEqual({
      length: 28,
      source: "198.51.100.9",
    });
    const six = v2(1, 0x21, [
      0x20,
      0x01,
      0x0d,
      0xb8,
      ...Array(11).fill(0),
      7,
      ...Array(16).fill(0),
      0,
      1,
      0,
      2,
    ]);
    expect(parseProxyHeader(six)?.source).toBe("2001:db8::7");
    expect(parseProxyHeader(v2(0, 0x00, []))).toEqual({ length: 16, source: null });
  });

  test("a header cut short waits for more bytes", () => {
    expect(parseProxyHeader(latin1("PROXY TCP4 203.0"))).toBeNull();
    expect(parseProxyHeader(latin1("PRO"))).toBeNull();
    expect(parseProxyHeader(Buffer.from(SIG.slice(0, 5)))).toBeNull();
    expect(parseProxyHeader(v2(1, 0x11, [1, 2, 3, 4, 5, 6, 7, 8, 0, 1, 0, 2]).subarray(0, 20))).toBeNull();
  });

  test("anything else is a broken header, as nginx says", () => {
    for (const bad of [
      "GET / HTTP/1.1\r\n",
      "PROXY TCP4 203.0.113.7 10.0.0.1 51234\r\n",
      "PROXY TCP4 not-an-ip 10.0.0.1 1 2\r\n",
      "PROXY TCP4 1.2.3.4 5.6.7.8 1 2\n",
      `PROXY ${"x".repeat(120)}`,
    ]) {
      expect(() => parseProxyHeader(latin1(bad))).toThrow("broken header");
    }
    expect(() => parseProxyHeader(Buffer.from([...SIG, 0x31, 0x11, 0, 0]))).toThrow("broken header");
  });
});
