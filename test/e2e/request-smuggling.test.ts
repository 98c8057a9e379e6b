/** Malformed and smuggling-shaped requests to the compiled binary: refused with 400, never forwarded upstream. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GwProcess, startGw, tempDir } from "../helpers/gw";
import { rawExchange } from "../helpers/raw-http";

let gw: GwProcess;
const received: string[] = [];
let upstream: ReturnType<typeof Bun.serve>;

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    async fetch(req) {
      received.push(`${req.method} ${new URL(req.url).pathname} ${await req.text()}`);
      return new Response("ok");
    },
  });
  const dir = tempDir("smuggling");
  const file = join(dir, "kong.yml");
  writeFileSync(
    file,
    `_format_version: "3.0"\nservices:\n  - name: s\n    url: http://127.0.0.1:${upstream.port}\n    routes: [{ paths: ["/"] }]\n`,
  );
  gw = await startGw({ args: ["--database", "off", "--declarative_config", file] });
});

afterAll(async () => {
  await gw?.kill();
  await upstream?.stop(true);
});

const raw = async (payload: string) => (await rawExchange(gw.proxy, payload)).text;

describe("requests gw refuses before anything reaches the upstream", () => {
  const cases: [string, string][] = [
    [
      "both Content-Length and Transfer-Encoding",
      "POST /cl-te HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n",
    ],
    ["a non-numeric Content-Length", "POST /bad-cl HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\nabc"],
    [
      "two different Content-Length values",
      "POST /two-cl HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 5\r\n\r\nabcde",
    ],
    ["an obs-fold header", "GET /fold HTTP/1.1\r\nHost: x\r\nX-Long: a\r\n  folded\r\n\r\n"],
  ];
  for (const [name, payload] of cases) {
    test(name, async () => {
      const before = received.length;
      const answer = await raw(payload);
      expect(answer).toMatch(/^HTTP\/1\.1 400/);
      expect(received.slice(before).join("\n")).not.toContain("smuggled");
      expect(received.length).toBe(before);
    });
  }

  test("a well-formed request on the same kind of connection is forwarded", async () => {
    const answer = await raw(
      "POST /fine HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\nConnection: close\r\n\r\nhi",
    );
    expect(answer).toMatch(/^HTTP\/1\.1 200/);
    expect(received.at(-1)).toBe("POST /fine hi");
  });
});
