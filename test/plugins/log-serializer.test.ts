import { describe, expect, test } from "bun:test";
import { recordResponse, serialize, serializeValues } from "../../src/plugins/log-serializer";
import { logEntry, makeContext, request, responseView } from "./helpers";

describe("log serializer", () => {
  test("Kong's shape: request, response, latencies, route, service, consumer, client ip", () => {
    const ctx = makeContext(
      request("/api/items?a=1&a=2&flag", {
        headers: { host: "gw.test:8000", authorization: "Bearer secret", "x-a": "1", "content-length": "0" },
      }),
      { clientIp: "10.0.0.9" },
    );
    ctx.consumer = { id: "c1", username: "ann", custom_id: null };
    ctx.credential = { id: "k1", consumer: { id: "c1" } };
    ctx.upstreamPath = "/items";
    recordResponse(
      ctx,
      responseView(201, { "Content-Type": "application/json", "Set-Cookie": "a", "set-cookie": "b" }),
    );
    serializeValues(ctx).correlation_id = "abc";
    const out = serialize(ctx, logEntry(201, 99));
    expect(out).toMatchObject({
      request: {
        uri: "/api/items?a=1&a=2&flag",
        url: "http://gw.test:8000/api/items?a=1&a=2&flag",
        querystring: { a: ["1", "2"], flag: true },
        method: "GET",
        headers: { host: "gw.test:8000", authorization: "REDACTED", "x-a": "1" },
        size: 0,
        id: ctx.requestId,
      },
      upstream_uri: "/items?a=1&a=2&flag",
      upstream_status: "201",
      response: {
        status: 201,
        size: 99,
        headers: { "content-type": "application/json", "set-cookie": ["a", "b"] },
      },
      latencies: { kong: 2, proxy: 10, request: 12, receive: 0 },
      authenticated_entity: { id: "k1", consumer_id: "c1" },
      route: { id: ctx.routeId },
      service: { id: ctx.serviceId },
      consumer: { id: "c1", username: "ann", custom_id: null },
      client_ip: "10.0.0.9",
      started_at: 1764400000000,
      source: "upstream",
      workspace_name: "default",
      correlation_id: "abc",
    });
  });

  test("a response gw generated has no upstream status or proxy latency", () => {
    const ctx = makeContext(request("/"));
    recordResponse(ctx, responseView(401, {}, true));
    expect(serialize(ctx, logEntry(401))).toMatchObject({
      upstream_status: "",
      source: "kong",
      latencies: { proxy: -1 },
    });
  });
});
