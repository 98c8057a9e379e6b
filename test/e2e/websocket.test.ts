/** WebSocket through the compiled binary: text and binary messages both ways, subprotocols, close, upstream down. */
import { afterAll, beforeAll, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { freePort, type GwProcess, startGw, tempDir } from "../helpers/gw";

let gw: GwProcess;
let upstream: ReturnType<typeof Bun.serve>;
const seenHeaders: Record<string, string>[] = [];

beforeAll(async () => {
  upstream = Bun.serve({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, server) {
      seenHeaders.push(Object.fromEntries(req.headers));
      const protocol = req.headers.get("sec-websocket-protocol")?.split(",")[0]?.trim();
      const headers = protocol ? { "sec-websocket-protocol": protocol } : undefined;
      return server.upgrade(req, { data: undefined, headers })
        ? undefined
        : new Response("no upgrade", { status: 400 });
    },
    websocket: {
      open(ws) {
        ws.send("hello from upstream");
      },
      message(ws, m) {
        if (m === "bye") ws.close(4001, "asked to");
        else ws.send(typeof m === "string" ? `echo:${m}` : m);
      },
    },
  });
  const dir = tempDir("ws");
  const file = join(dir, "kong.yml");
  writeFileSync(
    file,
    `_format_version: "3.0"
services:
  - name: ws
    url: http://127.0.0.1:${upstream.port}
    routes: [{ paths: ["/ws"], strip_path: false }]
  - name: down
    url: http://127.0.0.1:${freePort()}
    routes: [{ paths: ["/down"] }]
`,
  );
  gw = await startGw({ args: ["--database", "off", "--declarative_config", file] });
});

afterAll(async () => {
  await gw?.kill();
  await upstream?.stop(true);
});

const open = (path: string, protocols?: string[]) =>
  new Promise<{ ws: WebSocket; messages: unknown[] }>((resolve, reject) => {
    const ws = new WebSocket(`${gw.proxy.replace("http", "ws")}${path}`, protocols);
    ws.binaryType = "arraybuffer";
    const messages: unknown[] = [];
    ws.addEventListener("message", (ev) => messages.push(ev.data));
    ws.addEventListener("open", () => resolve({ ws, messages }));
    ws.addEventListener("error", () => reject(new Error("could not open")));
  });

const until = async (what: () => boolean) => {
  for (let i = 0; i < 200 && !what(); i++) await Bun.sleep(10);
};

test("messages flow both ways, text and binary, and the upstream sees Kong's proxy headers", async () => {
  const { ws, messages } = await open("/ws/chat", ["chat.v1"]);
  expect(ws.protocol).toBe("chat.v1");
  ws.send("ping");
  ws.send(new Uint8Array([1, 2, 3]));
  await until(() => messages.length >= 3);
  expect(messages[0]).toBe("hello from upstream");
  expect(messages[1]).toBe("echo:ping");
  expect([...new Uint8Array(messages[2] as ArrayBuffer)]).toEqual([1, 2, 3]);
  const h = seenHeaders.at(-1)!;
  expect(h["x-forwarded-for"]).toBe("127.0.0.1");
  expect(h["x-kong-request-id"]).toMatch(/^[0-9a-f]{32}$/);
  ws.close();
});

test("an upstream close reaches the client with its code", async () => {
  const { ws } = await open("/ws/x");
  const closed = new Promise<CloseEvent>((resolve) => ws.addEventListener("close", resolve));
  ws.send("bye");
  const ev = await closed;
  expect(ev.code).toBe(4001);
  expect(ev.reason).toBe("asked to");
});

test("an unreachable upstream answers the upgrade with 502", async () => {
  const res = await fetch(`${gw.proxy}/down`, {
    headers: {
      connection: "Upgrade",
      upgrade: "websocket",
      "sec-websocket-version": "13",
      "sec-websocket-key": "dGhlIHNhbXBsZSBub25jZQ==",
    },
  });
  expect(res.status).toBe(502);
});
