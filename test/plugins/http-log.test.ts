import { afterAll, describe, expect, test } from "bun:test";
import { flushHttpLogQueues, httpLog } from "../../src/plugins/http-log";
import { config, configErrors, logEntry, makeContext, request, responseView } from "./helpers";

interface Received {
  method: string;
  headers: Headers;
  body: unknown;
}
const received: Received[] = [];
const receiver = Bun.serve({
  hostname: "127.0.0.1",
  port: 0,
  async fetch(req) {
    received.push({ method: req.method, headers: req.headers, body: await req.json() });
    return new Response("ok");
  },
});
afterAll(() => receiver.stop(true));

function logRequest(conf: unknown, path: string) {
  const ctx = makeContext(request(path));
  httpLog.headerFilter!(ctx, conf, responseView(200));
  httpLog.log!(ctx, conf, logEntry());
}

describe("http-log config", () => {
  test("Kong's defaults and checks", () => {
    expect(config(httpLog, { http_endpoint: "http://127.0.0.1:9/log" })).toMatchObject({
      method: "POST",
      content_type: "application/json",
      timeout: 10000,
      keepalive: 60000,
      queue: { max_batch_size: 1, max_coalescing_delay: 1, max_entries: 10000, max_retry_time: 60 },
    });
    expect(configErrors(httpLog, {})).toEqual({ http_endpoint: "required field missing" });
    expect(configErrors(httpLog, { http_endpoint: "http://x/", headers: { Host: "h" } })).toEqual({
      headers: { Host: "cannot contain 'Host' header" },
    });
    expect(
      configErrors(httpLog, { http_endpoint: "http://u:p@x/", headers: { Authorization: "Basic x" } }),
    ).toEqual({
      "@entity": [
        "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed",
      ],
    });
  });
});

describe("http-log delivery", () => {
  test("entries are batched into one JSON array, with headers and basic auth from the URL", async () => {
    received.length = 0;
    const conf = config(httpLog, {
      http_endpoint: `http://user:pa%20ss@127.0.0.1:${receiver.port}/batch`,
      method: "PUT",
      headers: { "x-token": "t" },
      queue: { max_batch_size: 3, max_coalescing_delay: 0.05 },
    });
    logRequest(conf, "/a");
    logRequest(conf, "/b");
    logRequest(conf, "/c");
    // Logging only queues: nothing has reached the server when log() returns.
    expect(received.length).toBe(0);
    await flushHttpLogQueues();
    expect(received.length).toBe(1);
    const [batch] = received;
    expect(batch!.method).toBe("PUT");
    expect(batch!.headers.get("x-token")).toBe("t");
    expect(batch!.headers.get("authorization")).toBe(`Basic ${btoa("user:pa ss")}`);
    expect((batch!.body as { request: { uri: string } }[]).map((e) => e.request.uri)).toEqual([
      "/a",
      "/b",
      "/c",
    ]);
  });

  test("a single-entry queue posts bare objects after the coalescing delay", async () => {
    received.length = 0;
    const conf = config(httpLog, { http_endpoint: `http://127.0.0.1:${receiver.port}/one` });
    logRequest(conf, "/solo");
    await flushHttpLogQueues();
    expect((received[0]!.body as { request: { uri: string } }).request.uri).toBe("/solo");
  });

  test("a full queue drops its oldest entries (max_entries)", async () => {
    received.length = 0;
    const conf = config(httpLog, {
      http_endpoint: `http://127.0.0.1:${receiver.port}/full`,
      queue: { max_batch_size: 10, max_entries: 2, max_coalescing_delay: 5 },
    });
    logRequest(conf, "/1");
    logRequest(conf, "/2");
    logRequest(conf, "/3");
    await flushHttpLogQueues();
    expect((received[0]!.body as { request: { uri: string } }[]).map((e) => e.request.uri)).toEqual([
      "/2",
      "/3",
    ]);
  });

  test("a dead endpoint neither blocks nor throws; entries are dropped after max_retry_time", async () => {
    const dead = Bun.serve({ hostname: "127.0.0.1", port: 0, fetch: () => new Response("") });
    const port = dead.port;
    dead.stop(true);
    const conf = config(httpLog, {
      http_endpoint: `http://127.0.0.1:${port}/`,
      queue: { max_retry_time: 0.2, initial_retry_delay: 0.01 },
    });
    expect(() => logRequest(conf, "/lost")).not.toThrow();
    await flushHttpLogQueues();
  });
});
