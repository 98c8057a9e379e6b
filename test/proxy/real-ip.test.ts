import { describe, expect, test } from "bun:test";
import { realIpHeaderName, realIpResolver } from "../../src/proxy/real-ip";
import { IpMatcher } from "../../src/support/ip-matcher";

const trusted = new IpMatcher(["10.0.0.0/8", "127.0.0.1"]);

describe("real_ip_header from trusted peers (nginx's realip)", () => {
  const plain = realIpResolver({ trusted, recursive: false });
  const recursive = realIpResolver({ trusted, recursive: true });

  test("an untrusted peer's header is ignored; a missing header or a non-address keeps the peer", () => {
    expect(plain("198.51.100.7", "203.0.113.1")).toBe("198.51.100.7");
    expect(plain("10.1.2.3", null)).toBe("10.1.2.3");
    expect(plain("10.1.2.3", "unknown")).toBe("10.1.2.3");
  });

  test("without recursion the last address wins, even a trusted one", () => {
    expect(plain("10.1.2.3", "203.0.113.1")).toBe("203.0.113.1");
    expect(plain("10.1.2.3", "203.0.113.1, 10.9.9.9")).toBe("10.9.9.9");
  });

  test("with recursion the last untrusted address wins; all trusted gives the first", () => {
    expect(recursive("10.1.2.3", "203.0.113.1, 198.51.100.2, 10.9.9.9")).toBe("198.51.100.2");
    expect(recursive("10.1.2.3", "10.5.5.5, 10.9.9.9")).toBe("10.5.5.5");
    expect(recursive("127.0.0.1", " 2001:db8::1 ,10.0.0.1")).toBe("2001:db8::1");
  });

  test("proxy_protocol names the PROXY header's address, not a header", () => {
    expect(realIpHeaderName("X-Forwarded-For")).toBe("x-forwarded-for");
    expect(realIpHeaderName("proxy_protocol")).toBeNull();
  });
});
