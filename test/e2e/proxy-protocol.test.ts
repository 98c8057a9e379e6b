/** `proxy_listen … proxy_protocol` on the compiled binary: v1/v2 headers from a balancer, `real_ip_header = proxy_protocol`. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { freePort, type GwProcess, startDbless } from "../helpers/gw";
import { parseResponse, rawExchange } from "../helpers/raw-http";
import { type Echo, startEchoUpstream, type TestUpstream } from "../helpers/upstream";

let upstream: TestUpstream;
/** Believes the PROXY header of a trusted balancer (loopback). */
let realIp: { gw: GwProcess; url: string };
/** Takes PROXY headers but keeps Kong's default real_ip_header (X-Real-IP). */
let plainRealIp: { gw: GwProcess; url: string };

async function node(extra: string[]): Promise<{ gw: GwProcess; url: string }> {
  const port = freePort();
  const gw = await startDbless(
    `_format_version: "3.0"\nservices:\n  - name: echo\n    url: ${upstream.url}\n    routes: [{ paths: ["/api"] }]\n`,
    { args: ["--proxy_listen", `127.0.0.1:${port} proxy_protocol`, "--trusted_ips", "127.0.0.1", ...extra] },
  );
  return { gw, url: `http://127.0.0.1:${port}` };
}

beforeAll(async () => {
  upstream = startEchoUpstream();
  realIp = await node(["--real_ip_header", "proxy_protocol"]);
  plainRealIp = await node([]);
});

afterAll(async () => {
  await realIp?.gw.kill();
  await plainRealIp?.gw.kill();
  await upstream?.stop();
});

const GET = "GET /api HTTP/1.1\r\nHost: gw.test\r\n\r\n";
const GET_CLOSE = "GET /api HTTP/1.1\r\nHost: gw.test\r\nConnection: close\r\n\r\n";

function echoes(text: string): Echo[] {
  const out: Echo[] = [];
  for (let rest = text; rest.length > 0; ) {
    const res = parseResponse(rest);
    if (res === null) break;
    out.push(JSON.parse(res.body.toString()) as Echo);
    rest = rest.slice(rest.indexOf("\r\n\r\n") + 4 + res.body.length);
  }
  return out;
}

test("v1 header: the balancer's client address is the client, once per connection, for every request on it", async () => {
  const answer = await rawExchange(
    realIp.url,
    `PROXY TCP4 203.0.113.7 127.0.0.1 51234 8000\r\n${GET}${GET_CLOSE}`,
  );
  const seen = echoes(answer.text);
  expect(seen.length).toBe(2);
  for (const echo of seen) {
    expect(echo.headers["x-real-ip"]).toBe("203.0.113.7");
    expect(echo.headers["x-forwarded-for"]).toBe("203.0.113.7");
  }
});

test("v2 header (binary, IPv6) works the same", async () => {
  const address = [
    0x20,
    0x01,
    0x0d,
    0xb8,
    ...Array(11).fill(0),
    9,
    ...Array(15).fill(0),
    1,
    0xc8,
    0x1e,
    0x1f,
    0x40,
  ];
  const header = Buffer.from([
    ...[0x0d, 0x0a, 0x0d, 0x0a, 0x00, 0x0d, 0x0a, 0x51, 0x55, 0x49, 0x54, 0x0a],
    0x21,
    0x21,
    0,
    address.length,
    ...address,
  ]);
  const answer = await rawExchange(realIp.url, Buffer.concat([header, Buffer.from(GET_CLOSE)]));
  expect(echoes(answer.text)[0]?.headers["x-real-ip"]).toBe("2001:db8::9");
});

test("a connection without a PROXY header is closed without an answer, as nginx does", async () => {
  const answer = await rawExchange(realIp.url, GET_CLOSE);
  expect(answer).toEqual({ text: "", closed: true });
  const res = await rawExchange(realIp.url, `PROXY UNKNOWN\r\n${GET_CLOSE}`);
  // UNKNOWN (a balancer's own health check) keeps the socket's peer as the client.
  expect(echoes(res.text)[0]?.headers["x-real-ip"]).toBe("127.0.0.1");
});

test("with Kong's default real_ip_header the PROXY header is read but X-Real-IP from the trusted peer names the client", async () => {
  const answer = await rawExchange(
    plainRealIp.url,
    `PROXY TCP4 203.0.113.7 127.0.0.1 51234 8000\r\nGET /api HTTP/1.1\r\nHost: gw.test\r\nX-Real-IP: 198.51.100.4\r\nConnection: close\r\n\r\n`,
  );
  expect(echoes(answer.text)[0]?.headers["x-real-ip"]).toBe("198.51.100.4");
});
