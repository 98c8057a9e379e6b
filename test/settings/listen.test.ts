import { describe, expect, test } from "bun:test";
import { parseHostPort, parseListen } from "../../src/settings/listen";

const listeners = (...entries: string[]) => {
  const result = parseListen(entries);
  if (!result.ok) throw new Error(result.problem);
  return result.listeners;
};

describe("listen directives", () => {
  test("Kong's default proxy_listen gives a plain and a TLS listener with their flags", () => {
    const [plain, tls] = listeners(
      "0.0.0.0:8000 reuseport backlog=16384",
      "0.0.0.0:8443 http2 ssl reuseport backlog=16384",
    );
    expect(plain).toMatchObject({ host: "0.0.0.0", port: 8000, ssl: false, http2: false, reuseport: true });
    expect(plain?.backlog).toBe(16384);
    expect(tls).toMatchObject({ host: "0.0.0.0", port: 8443, ssl: true, http2: true, reuseport: true });
    expect(tls?.listener).toBe("0.0.0.0:8443 http2 ssl reuseport backlog=16384");
  });

  test("off first means no listener", () => {
    expect(listeners("off")).toEqual([]);
  });

  test("IPv6 in brackets gives a bare host for the socket and keeps brackets in Kong's form", () => {
    const [v6] = listeners("[::1]:8001 ssl");
    expect(v6).toMatchObject({ host: "::1", port: 8001, ssl: true, listener: "[::1]:8001 ssl" });
  });

  test("proxy_protocol, deferred, bind and hostnames are accepted", () => {
    const [entry] = listeners("localhost:9000 proxy_protocol deferred bind");
    expect(entry).toMatchObject({
      host: "localhost",
      port: 9000,
      proxy_protocol: true,
      deferred: true,
      bind: true,
    });
  });

  test("nginx socket options Kong allows are accepted", () => {
    expect(listeners("127.0.0.1:8000 ipv6only=on so_keepalive=on")).toHaveLength(1);
  });

  test("nonsense, a missing port, an out-of-range port and unknown flags are refused with Kong's usage", () => {
    for (const bad of [
      "nonsense",
      "127.0.0.1",
      "127.0.0.1:70000",
      "127.0.0.1:8000 fast",
      "::1:8000",
      "[zz]:80",
    ]) {
      const result = parseListen([bad]);
      expect(result.ok).toBe(false);
      if (!result.ok) {
        expect(result.problem).toContain("must be of form: [off] | <ip>:<port>");
        expect(result.problem).toContain(`got '${bad}'`);
      }
    }
  });

  test("an empty directive is refused", () => {
    expect(parseListen([]).ok).toBe(false);
  });

  test("host:port addresses for cluster_control_plane", () => {
    expect(parseHostPort("cp.example.com:8005")).toEqual({ host: "cp.example.com", port: 8005 });
    expect(parseHostPort("[::1]:8005")).toEqual({ host: "::1", port: 8005 });
    expect(parseHostPort("cp.example.com")).toBeNull();
  });
});
