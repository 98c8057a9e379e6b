/** A DB-less node (the compiled binary) serving a declarative file in front of real upstreams. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type GwProcess, startGw, tempDir } from "../helpers/gw";
import { type Echo, startEchoUpstream, type TestUpstream } from "../helpers/upstream";

let a: TestUpstream;
let b: TestUpstream;
let gw: GwProcess;
const deadPort = freePort();

beforeAll(async () => {
  a = startEchoUpstream("a");
  b = startEchoUpstream("b");
  const dir = tempDir("dbless");
  const file = join(dir, "kong.yml");
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: echo
    url: http://127.0.0.1:${a.port}/base
    routes:
      - name: strip
        paths: ["/strip"]
      - name: keep
        paths: ["/keep"]
        strip_path: false
      - name: hosted
        hosts: ["api.example.com", "*.wild.example.com"]
        preserve_host: true
      - name: regex
        paths: ["~/users/(?<id>\\\\d+)$"]
      - name: tls-only
        paths: ["/secure"]
        protocols: ["https"]
      - name: posts
        paths: ["/methods"]
        methods: ["POST"]
      - name: header-route
        paths: ["/by-header"]
        headers:
          x-version: ["v2"]
  - name: root-service
    url: http://127.0.0.1:${a.port}
    routes:
      - name: root
        paths: ["/root"]
  - name: balanced
    host: pool
    routes:
      - name: balanced
        paths: ["/balanced"]
  - name: dead
    url: http://127.0.0.1:${deadPort}
    retries: 1
    routes:
      - paths: ["/dead"]
  - name: slow
    url: http://127.0.0.1:${a.port}
    read_timeout: 300
    routes:
      - paths: ["/slow"]
        strip_path: false
upstreams:
  - name: pool
    targets:
      - target: 127.0.0.1:${a.port}
        weight: 300
      - target: 127.0.0.1:${b.port}
        weight: 100
`,
  );
  gw = await startGw({ args: ["--database", "off", "--declarative_config", file] });
});

afterAll(async () => {
  await gw?.stop();
  await a?.stop();
  await b?.stop();
});

const echo = async (res: Response) => (await res.json()) as Echo;

describe("routing and paths", () => {
  test("strip_path removes the matched prefix and joins the service path", async () => {
    const res = await fetch(`${gw.proxy}/strip/hello?x=1`);
    expect(res.status).toBe(200);
    const e = await echo(res);
    expect(e.path).toBe("/base/hello");
    expect(e.query).toBe("?x=1");
  });

  test("strip_path = false keeps the request path after the service path", async () => {
    expect((await echo(await fetch(`${gw.proxy}/keep/x`))).path).toBe("/base/keep/x");
  });

  test("service without path: the request path goes through unchanged when not stripped", async () => {
    expect((await echo(await fetch(`${gw.proxy}/root/a/b`))).path).toBe("/a/b");
  });

  test("hosts, wildcard hosts and preserve_host", async () => {
    const res = await fetch(`${gw.proxy}/anything`, { headers: { host: "deep.sub.wild.example.com" } });
    expect(res.status).toBe(200);
    expect((await echo(res)).headers.host).toBe("deep.sub.wild.example.com");
    const exact = await fetch(`${gw.proxy}/x`, { headers: { host: "api.example.com" } });
    expect(exact.status).toBe(200);
  });

  test("Host sent upstream is the service host without preserve_host", async () => {
    expect((await echo(await fetch(`${gw.proxy}/strip`))).headers.host).toBe(`127.0.0.1:${a.port}`);
  });

  test("regex paths", async () => {
    expect((await fetch(`${gw.proxy}/users/42`)).status).toBe(200);
    expect((await fetch(`${gw.proxy}/users/abc`)).status).toBe(404);
  });

  test("methods and headers restrict a route", async () => {
    expect((await fetch(`${gw.proxy}/methods`, { method: "POST", body: "hi" })).status).toBe(200);
    expect((await fetch(`${gw.proxy}/methods`)).status).toBe(404);
    expect((await fetch(`${gw.proxy}/by-header`, { headers: { "x-version": "V2" } })).status).toBe(200);
    expect((await fetch(`${gw.proxy}/by-header`, { headers: { "x-version": "v1" } })).status).toBe(404);
  });

  test("no match: 404 with Kong's body and a request id", async () => {
    const res = await fetch(`${gw.proxy}/nothing-here`);
    expect(res.status).toBe(404);
    const body = (await res.json()) as { message: string; request_id: string };
    expect(body.message).toBe("no Route matched with those values");
    expect(body.request_id).toMatch(/^[0-9a-f]{32}$/);
    expect(res.headers.get("x-kong-request-id")).toBe(body.request_id);
    expect(res.headers.get("server")).toMatch(/^kong\//);
  });

  test("an https-only route answers plain http with 426", async () => {
    const res = await fetch(`${gw.proxy}/secure`);
    expect(res.status).toBe(426);
    expect(((await res.json()) as { message: string }).message).toBe("Please use HTTPS protocol");
  });
});

describe("forwarding", () => {
  test("request bodies, methods and the proxy headers reach the upstream", async () => {
    const res = await fetch(`${gw.proxy}/methods`, {
      method: "POST",
      body: JSON.stringify({ hello: "world" }),
      headers: { "content-type": "application/json", connection: "keep-alive, x-drop-me", "x-drop-me": "1" },
    });
    const e = await echo(res);
    expect(e.method).toBe("POST");
    expect(e.body).toBe('{"hello":"world"}');
    expect(e.headers["x-forwarded-for"]).toBe("127.0.0.1");
    expect(e.headers["x-forwarded-proto"]).toBe("http");
    expect(e.headers["x-forwarded-path"]).toBe("/methods");
    expect(e.headers["x-forwarded-prefix"]).toBe("/methods");
    expect(e.headers["x-real-ip"]).toBe("127.0.0.1");
    expect(e.headers.via).toMatch(/^1\.1 kong\//);
    expect(e.headers["x-kong-request-id"]).toMatch(/^[0-9a-f]{32}$/);
    expect(e.headers["x-drop-me"]).toBeUndefined();
  });

  test("responses carry Kong's latency and request-id headers and the upstream's own headers", async () => {
    const res = await fetch(`${gw.proxy}/strip`);
    expect(res.headers.get("x-upstream")).toBe("a");
    expect(res.headers.get("x-kong-upstream-latency")).toMatch(/^\d+$/);
    expect(res.headers.get("x-kong-proxy-latency")).toMatch(/^\d+$/);
    expect(res.headers.get("via")).toMatch(/kong\//);
    expect(res.headers.get("x-kong-request-id")).toMatch(/^[0-9a-f]{32}$/);
  });

  test("upstream status codes pass through", async () => {
    expect((await fetch(`${gw.proxy}/root/status/418`)).status).toBe(418);
  });

  test("weighted round-robin across an upstream's targets", async () => {
    const seen: string[] = [];
    for (let i = 0; i < 8; i++) seen.push((await echo(await fetch(`${gw.proxy}/balanced`))).upstream);
    expect(seen.filter((u) => u === "a")).toHaveLength(6);
    expect(seen.filter((u) => u === "b")).toHaveLength(2);
  });

  test("an unreachable upstream gives 502 with Kong's message", async () => {
    const res = await fetch(`${gw.proxy}/dead`);
    expect(res.status).toBe(502);
    expect(((await res.json()) as { message: string }).message).toBe(
      "An invalid response was received from the upstream server",
    );
  });

  test("an upstream slower than read_timeout gives 504", async () => {
    const res = await fetch(`${gw.proxy}/slow/2000`);
    expect(res.status).toBe(504);
    expect(((await res.json()) as { message: string }).message).toBe("The upstream server is timing out");
  });
});

describe("status API", () => {
  test("ready, with the configuration hash", async () => {
    const ready = await fetch(`${gw.status}/status/ready`);
    expect(ready.status).toBe(200);
    const status = (await (await fetch(`${gw.status}/status`)).json()) as { configuration_hash: string };
    expect(status.configuration_hash).toMatch(/^[0-9a-f]{32}$/);
    expect(status.configuration_hash).not.toBe("0".repeat(32));
  });

  test("metrics in Prometheus text format with Kong's names", async () => {
    const text = await (await fetch(`${gw.status}/metrics`)).text();
    expect(text).toContain("kong_node_info{");
    expect(text).toMatch(/kong_nginx_requests_total\S* \d+/);
  });
});
