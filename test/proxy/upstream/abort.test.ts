import { afterAll, expect, test } from "bun:test";
import { readdirSync } from "node:fs";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import { rawUpstream, readAll } from "./raw-upstream";

const openFds = () => readdirSync("/proc/self/fd").length;

// Answers with the head and part of a 1 MB body, then waits forever: every exchange is cut short by its client.
const upstream = rawUpstream({
  respond(req, conn) {
    if (req.target === "/silent") return;
    conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${1024 * 1024}\r\n\r\n${"x".repeat(16 * 1024)}`);
  },
});
const client = new UpstreamClient({ poolSize: 16, maxRequests: 10_000, idleTimeoutMs: 60_000 });
const endpoint = { host: "127.0.0.1", port: upstream.port, tls: null };
const timeouts = { connect: 5000, write: 5000, read: 30_000 };
afterAll(() => {
  client.close();
  upstream.stop();
});

async function abortedExchange(i: number): Promise<string> {
  const controller = new AbortController();
  const mode = i % 3;
  const target = mode === 0 ? "/silent" : "/body";
  const pending = client.request(
    endpoint,
    { method: "GET", target, headers: [], body: null, signal: controller.signal },
    timeouts,
  );
  if (mode === 0) {
    // Aborted while waiting for the head.
    await Bun.sleep(0);
    controller.abort();
    return pending.then(
      () => "answered",
      (e) => e.kind,
    );
  }
  const res = await pending;
  const reader = (res.body as ReadableStream<Uint8Array>).getReader();
  await reader.read();
  if (mode === 1) controller.abort();
  else await reader.cancel();
  return reader.read().then(
    (r) => (r.done ? "ended" : "more"),
    (e) => e.kind,
  );
}

test("10,000 exchanges cut short mid-body or before the head leak no file descriptors", async () => {
  // Warm up so lazily opened descriptors (epoll, timers) are in the baseline.
  await readAll(
    (await client.request(endpoint, { method: "HEAD", target: "/", headers: [], body: null }, timeouts)).body,
  );
  const baseline = openFds();
  const outcomes = new Map<string, number>();
  let next = 0;
  await Promise.all(
    Array.from({ length: 50 }, async () => {
      while (next < 10_000) {
        const outcome = await abortedExchange(next++);
        outcomes.set(outcome, (outcomes.get(outcome) ?? 0) + 1);
      }
    }),
  );
  // Every aborted exchange failed as "reset" (or ended, for a cancelled stream); none was answered in full.
  expect([...outcomes.keys()].sort()).toEqual(["ended", "reset"]);
  for (let i = 0; i < 100 && (openFds() > baseline || upstream.open > 1); i++) await Bun.sleep(20);
  expect(openFds()).toBeLessThanOrEqual(baseline);
  expect(upstream.open).toBeLessThanOrEqual(1);
}, 120_000);
