import { describe, expect, test } from "bun:test";
import { correlationId } from "../../src/plugins/correlation-id";
import { access, config, headersOf, makeContext, request, responseView } from "./helpers";

describe("correlation-id", () => {
  test("Kong's defaults", () => {
    expect(config(correlationId)).toEqual({
      header_name: "Kong-Request-ID",
      generator: "uuid#counter",
      echo_downstream: false,
    });
  });

  test("uuid#counter: one worker uuid, a growing counter, sent upstream", async () => {
    const conf = config(correlationId);
    const a = makeContext(request("/"));
    const b = makeContext(request("/"));
    await access(correlationId, a, conf);
    await access(correlationId, b, conf);
    const [ua, na] = a.upstreamHeaders.get("kong-request-id")!.split("#");
    const [ub, nb] = b.upstreamHeaders.get("kong-request-id")!.split("#");
    expect(ua).toMatch(/^[0-9a-f-]{36}$/);
    expect(ub).toBe(ua!);
    expect(Number(nb)).toBe(Number(na) + 1);
  });

  test("a client's id is kept and echoed downstream when asked", async () => {
    const conf = config(correlationId, { header_name: "X-Trace", generator: "uuid", echo_downstream: true });
    const ctx = makeContext(request("/", { headers: { "x-trace": "abc" } }));
    await access(correlationId, ctx, conf);
    expect(ctx.upstreamHeaders.has("x-trace")).toBe(false);
    const res = responseView(200, { "X-Trace": "from-upstream" });
    correlationId.headerFilter!(ctx, conf, res);
    expect(headersOf(res.headers)["x-trace"]).toBe("abc");
    expect((ctx.shared.serialize_values as Record<string, unknown>).correlation_id).toBe("abc");
  });

  test("uuid and tracker generators", async () => {
    const uuid = makeContext(request("/"));
    await access(correlationId, uuid, config(correlationId, { generator: "uuid" }));
    expect(uuid.upstreamHeaders.get("kong-request-id")).toMatch(/^[0-9a-f]{8}-[0-9a-f-]{27}$/);
    const tracker = makeContext(request("/", { headers: { host: "gw.test:8000" } }));
    await access(correlationId, tracker, config(correlationId, { generator: "tracker" }));
    expect(tracker.upstreamHeaders.get("kong-request-id")).toMatch(/^gw\.test-8000-\d+-\d+-1-\d+\.\d{3}$/);
  });
});
