import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { connect } from "node:net";
import { compileSnapshot } from "../../src/config/compile";
import { parseDeclarative } from "../../src/entities/declarative";
import { realIpResolver } from "../../src/proxy/real-ip";
import { type ProxyServers, startProxy } from "../../src/proxy/server";
import { UpstreamClient } from "../../src/proxy/upstream/client";
import { IpMatcher } from "../../src/support/ip-matcher";
import { SERVER_TOKEN } from "../../src/version";
import { freePort } from "../helpers/gw";
import { type Echo, startEchoUpstream, type TestUpstream } from "../helpers/upstream";

let upstream: TestUpstream;
let client: UpstreamClient;
const proxies: ProxyServers[] = [];
let plainPort = 0;
let trustingPort = 0;
let statuses: number[] = [];

function proxyOn(port: number, trustLoopback: boolean): void {
  const table = parseDeclarative({
    _format_version: "3.0",
    services: [{ name: "echo", url: upstream.url, routes: [{ name: "api", paths: ["/api"] }] }],
  });
  const snapshot = compileSnapshot(table, "hash", new Map(), "node");
  const trusted = new IpMatcher(trustLoopback ? ["127.0.0.1"] : []);
  proxies.push(
    startProxy(
      [{ host: "127.0.0.1", port, ssl: false, proxy_protocol: false }],
      {
        snapshot: () => snapshot,
        client,
        accessLog: null,
        trusted: (ip) => trusted.matches(ip),
        // Kong's default real_ip_header; it only matters where the peer is trusted.
        realIp: trustLoopback
          ? { header: "x-real-ip", resolve: realIpResolver({ trusted, recursive: false }) }
          : null,
        headers: { server: true, latency: true, requestId: true },
        onRequest: (status) => statuses.push(status),
      },
      null,
    ),
  );
}

/** Sends a raw HTTP/1.1 request, so hop-by-hop headers reach gw exactly as written. */
function raw(port: number, head: string): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    const socket = connect(port, "127.0.0.1", () => socket.write(`${head}Connection: close\r\n\r\n`));
    socket.on("data", (b: Buffer) => chunks.push(b));
    socket.on("error", reject);
    socket.on("close", () => resolve(Buffer.concat(chunks).toString("latin1")));
  });
}

const echoOf = (response: string): Echo => JSON.parse(response.slice(response.indexOf("\r\n\r\n") + 4));

beforeAll(() => {
  upstream = startEchoUpstream();
  client = new UpstreamClient({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 10_000 });
  plainPort = freePort();
  proxyOn(plainPort, false);
  trustingPort = freePort();
  proxyOn(trustingPort, true);
});

afterAll(async () => {
  for (const p of proxies) await p.stop();
  client.close();
  await upstream.stop();
});

describe("upstream request headers", () => {
  test("an untrusted client's X-Forwarded-* are replaced by gw's own; X-Forwarded-For and Via are appended to", async () => {
    const echo = echoOf(
      await raw(
        plainPort,
        "GET /api/items?q=1 HTTP/1.1\r\nHost: shop.example:9999\r\nX-Forwarded-For: 203.0.113.9\r\n" +
          "X-Forwarded-Proto: https\r\nX-Forwarded-Host: evil.example\r\nX-Forwarded-Port: 1\r\n" +
          "X-Forwarded-Path: /evil\r\nX-Forwarded-Prefix: /evil\r\nX-Real-IP: 198.51.100.1\r\nVia: 1.0 edge\r\n",
      ),
    );
    expect(echo.headers["x-forwarded-for"]).toBe("203.0.113.9, 127.0.0.1");
    expect(echo.headers["x-forwarded-proto"]).toBe("http");
    expect(echo.headers["x-forwarded-host"]).toBe("shop.example");
    expect(echo.headers["x-forwarded-port"]).toBe(String(plainPort));
    expect(echo.headers["x-forwarded-path"]).toBe("/api/items");
    expect(echo.headers["x-forwarded-prefix"]).toBe("/api");
    expect(echo.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(echo.headers.via).toBe(`1.0 edge, 1.1 ${SERVER_TOKEN}`);
    expect(echo.headers.host).toBe(`127.0.0.1:${upstream.port}`);
    expect(echo.path).toBe("/items");
    expect(echo.query).toBe("?q=1");
  });

  test("a trusted peer's X-Forwarded-* values are passed on", async () => {
    const echo = echoOf(
      await raw(
        trustingPort,
        "GET /api HTTP/1.1\r\nHost: shop.example\r\nX-Forwarded-Proto: https\r\nX-Forwarded-Host: front.example\r\n" +
          "X-Forwarded-Port: 443\r\nX-Forwarded-Path: /outer/api\r\nX-Forwarded-Prefix: /outer\r\n",
      ),
    );
    expect(echo.headers["x-forwarded-proto"]).toBe("https");
    expect(echo.headers["x-forwarded-host"]).toBe("front.example");
    expect(echo.headers["x-forwarded-port"]).toBe("443");
    expect(echo.headers["x-forwarded-path"]).toBe("/outer/api");
    expect(echo.headers["x-forwarded-prefix"]).toBe("/outer");
    expect(echo.headers["x-forwarded-for"]).toBe("127.0.0.1");
  });

  test("behind a trusted proxy, real_ip_header names the client: X-Real-IP and X-Forwarded-For carry it", async () => {
    const echo = echoOf(
      await raw(trustingPort, "GET /api HTTP/1.1\r\nHost: shop.example\r\nX-Real-IP: 203.0.113.50\r\n"),
    );
    expect(echo.headers["x-real-ip"]).toBe("203.0.113.50");
    expect(echo.headers["x-forwarded-for"]).toBe("203.0.113.50");
    const junk = echoOf(
      await raw(trustingPort, "GET /api HTTP/1.1\r\nHost: shop.example\r\nX-Real-IP: not-an-ip\r\n"),
    );
    expect(junk.headers["x-real-ip"]).toBe("127.0.0.1");
  });

  test("hop-by-hop headers and those named in Connection stay behind; IPv6 Host keeps its brackets", async () => {
    const echo = echoOf(
      await raw(
        plainPort,
        "GET /api HTTP/1.1\r\nHost: [::1]:8000\r\nConnection: X-Secret, keep-alive\r\nX-Secret: s3\r\n" +
          "TE: trailers\r\nProxy-Authorization: Basic eA==\r\nKeep-Alive: timeout=5\r\nX-Kept: yes\r\n",
      ),
    );
    expect(echo.headers["x-secret"]).toBeUndefined();
    expect(echo.headers.te).toBeUndefined();
    expect(echo.headers["proxy-authorization"]).toBeUndefined();
    expect(echo.headers["keep-alive"]).toBeUndefined();
    expect(echo.headers["x-kept"]).toBe("yes");
    expect(echo.headers["x-forwarded-host"]).toBe("[::1]");
  });
});

describe("downstream response", () => {
  test("Kong's headers are added, the upstream's kept, and every request gets its own 32-hex id", async () => {
    statuses = [];
    const ids = new Set<string>();
    for (let i = 0; i < 300; i++) {
      const res = await fetch(`http://127.0.0.1:${plainPort}/api/status/201`);
      const echo = (await res.json()) as Echo;
      const id = res.headers.get("x-kong-request-id")!;
      expect(id).toMatch(/^[0-9a-f]{32}$/);
      expect(echo.headers["x-kong-request-id"]).toBe(id);
      ids.add(id);
      expect(res.status).toBe(201);
      expect(res.headers.get("x-upstream")).toBe("upstream");
      expect(res.headers.get("via")).toBe(`1.1 ${SERVER_TOKEN}`);
      expect(res.headers.get("x-kong-upstream-latency")).toMatch(/^\d+$/);
      expect(res.headers.get("x-kong-proxy-latency")).toMatch(/^\d+$/);
    }
    expect(ids.size).toBe(300);
    expect(statuses.filter((s) => s === 201).length).toBe(300);
  });

  test("no route: Kong's 404 body with the request id it also sends as a header", async () => {
    const res = await fetch(`http://127.0.0.1:${plainPort}/nowhere`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { message: string; request_id: string };
    expect(body.message).toBe("no Route matched with those values");
    expect(res.headers.get("x-kong-request-id")).toBe(body.request_id);
    expect(res.headers.get("server")).toBe(SERVER_TOKEN);
  });
});
