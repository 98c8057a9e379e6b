import { describe, expect, test } from "bun:test";
import { IpMatcher, parseBlock } from "../../src/support/ip-matcher";

describe("IpMatcher", () => {
  test("IPv4 addresses and CIDR blocks", () => {
    const m = new IpMatcher(["10.0.0.0/8", "192.168.1.7", "172.16.0.0/12"]);
    expect(m.matches("10.200.3.4")).toBe(true);
    expect(m.matches("192.168.1.7")).toBe(true);
    expect(m.matches("192.168.1.8")).toBe(false);
    expect(m.matches("172.31.255.255")).toBe(true);
    expect(m.matches("172.32.0.1")).toBe(false);
  });

  test("IPv6 blocks, compressed forms, and IPv4-mapped addresses", () => {
    const m = new IpMatcher(["fe80::/10", "2001:db8::1", "127.0.0.1"]);
    expect(m.matches("fe80::1234")).toBe(true);
    expect(m.matches("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe(true);
    expect(m.matches("2001:db8::2")).toBe(false);
    expect(m.matches("::ffff:127.0.0.1")).toBe(true);
    expect(m.matches("not an ip")).toBe(false);
  });

  test("malformed entries are recognised as such", () => {
    expect(parseBlock("10.0.0.0/33")).toBeNull();
    expect(parseBlock("10.0.0.0/x")).toBeNull();
    expect(parseBlock("banana")).toBeNull();
    expect(parseBlock("::/0")).not.toBeNull();
  });
});
