import { afterAll, describe, expect, test } from "bun:test";
import { closeRateLimitingRedis, rateLimiting } from "../../src/plugins/rate-limiting";
import { access, config, configErrors, makeContext, request } from "./helpers";

afterAll(closeRateLimitingRedis);

const uniqueRoute = () => crypto.randomUUID();
const headers = (pairs: [string, string][]) => Object.fromEntries(pairs);

describe("rate-limiting config", () => {
  test("Kong's defaults, with the redis record filled", () => {
    expect(config(rateLimiting, { minute: 5 })).toMatchObject({
      minute: 5,
      second: null,
      limit_by: "consumer",
      policy: "local",
      fault_tolerant: true,
      hide_client_headers: false,
      error_code: 429,
      error_message: "API rate limit exceeded",
      sync_rate: -1,
      redis: { host: null, port: 6379, timeout: 2000, database: 0, ssl: false, ssl_verify: false },
    });
  });

  test("bad configs name the field and Kong's reason", () => {
    expect(configErrors(rateLimiting, {})).toEqual({
      "@entity": [
        "at least one of these fields must be non-empty: 'second', 'minute', 'hour', 'day', 'month', 'year'",
      ],
    });
    expect(configErrors(rateLimiting, { second: 10, minute: 5 })).toEqual({
      "@entity": ["The limit for minute(5.0) cannot be lower than the limit for second(10.0)"],
    });
    expect(configErrors(rateLimiting, { minute: -1 })).toEqual({ minute: "value must be greater than 0" });
    expect(configErrors(rateLimiting, { minute: 1, policy: "redis" })).toEqual({
      "@entity": ["failed conditional validation given value of field 'config.policy'"],
    });
    expect(configErrors(rateLimiting, { minute: 1, policy: "cluster" })).toEqual({
      policy: "expected one of: local, redis",
    });
    expect(configErrors(rateLimiting, { minute: 1, limit_by: "header" })).toEqual({
      header_name: "required field missing",
      "@entity": ["failed conditional validation given value of field 'limit_by'"],
    });
    expect(configErrors(rateLimiting, { minute: 1, sync_rate: 1 })).toEqual({
      "@entity": ["sync_rate can only be used with the redis policy"],
    });
  });
});

describe("rate-limiting local policy", () => {
  test("admits up to the limit, then 429 with Kong's body and headers", async () => {
    const conf = config(rateLimiting, { day: 2, year: 10, limit_by: "ip" });
    const routeId = uniqueRoute();
    const ctxs = [0, 1, 2].map(() => makeContext(request("/"), { routeId, clientIp: "10.1.1.1" }));
    expect(await access(rateLimiting, ctxs[0]!, conf)).toBeUndefined();
    const h0 = headers(ctxs[0]!.responseHeaders);
    expect(h0["X-RateLimit-Limit-Day"]).toBe("2");
    expect(h0["X-RateLimit-Remaining-Day"]).toBe("1");
    expect(h0["X-RateLimit-Limit-Year"]).toBe("10");
    expect(h0["X-RateLimit-Remaining-Year"]).toBe("9");
    expect(h0["RateLimit-Limit"]).toBe("2");
    expect(h0["RateLimit-Remaining"]).toBe("1");
    const reset = Number(h0["RateLimit-Reset"]);
    expect(reset).toBeGreaterThanOrEqual(1);
    expect(reset).toBeLessThanOrEqual(86400);

    expect(await access(rateLimiting, ctxs[1]!, conf)).toBeUndefined();
    expect(headers(ctxs[1]!.responseHeaders)["RateLimit-Remaining"]).toBe("0");

    const exit = await access(rateLimiting, ctxs[2]!, conf);
    expect(exit?.status).toBe(429);
    expect(exit?.message).toBe("API rate limit exceeded");
    expect(exit?.headers?.[0]?.[0]).toBe("Retry-After");
    expect(Number(exit?.headers?.[0]?.[1])).toBeGreaterThanOrEqual(1);
    const h2 = headers(ctxs[2]!.responseHeaders);
    expect(h2["X-RateLimit-Remaining-Day"]).toBe("0");
    // The rejected request was not counted: the year window still shows two used.
    expect(h2["X-RateLimit-Remaining-Year"]).toBe("8");
  });

  test("limits are per client ip, and per route when the plugin's scope is unknown", async () => {
    const conf = config(rateLimiting, { day: 1, limit_by: "ip" });
    const routeId = uniqueRoute();
    expect(
      await access(rateLimiting, makeContext(request("/"), { routeId, clientIp: "10.0.0.1" }), conf),
    ).toBeUndefined();
    expect(
      await access(rateLimiting, makeContext(request("/"), { routeId, clientIp: "10.0.0.2" }), conf),
    ).toBeUndefined();
    expect(
      await access(rateLimiting, makeContext(request("/"), { routeId, clientIp: "10.0.0.1" }), conf),
    ).toMatchObject({
      status: 429,
    });
    const other = uniqueRoute();
    expect(
      await access(rateLimiting, makeContext(request("/"), { routeId: other, clientIp: "10.0.0.1" }), conf),
    ).toBeUndefined();
  });

  test("limit_by header falls back to the client ip when the header is absent", async () => {
    const conf = config(rateLimiting, { day: 1, limit_by: "header", header_name: "x-tenant" });
    const routeId = uniqueRoute();
    const withTenant = (t: string) => makeContext(request("/", { headers: { "x-tenant": t } }), { routeId });
    expect(await access(rateLimiting, withTenant("a"), conf)).toBeUndefined();
    expect(await access(rateLimiting, withTenant("b"), conf)).toBeUndefined();
    expect(await access(rateLimiting, withTenant("a"), conf)).toMatchObject({ status: 429 });
  });

  test("custom error code and message; hide_client_headers sends none", async () => {
    const conf = config(rateLimiting, {
      day: 1,
      limit_by: "ip",
      error_code: 503,
      error_message: "slow down",
      hide_client_headers: true,
    });
    const routeId = uniqueRoute();
    const first = makeContext(request("/"), { routeId });
    await access(rateLimiting, first, conf);
    expect(first.responseHeaders).toEqual([]);
    const exit = await access(rateLimiting, makeContext(request("/"), { routeId }), conf);
    expect(exit).toEqual({ status: 503, message: "slow down", headers: [] });
  });
});

describe("rate-limiting redis policy (real Redis on 127.0.0.1:6379)", () => {
  const node = (routeId: string, count: number, syncRate = -1) =>
    Bun.spawn(
      [process.execPath, "test/plugins/rate-limiting-node.ts", routeId, String(count), String(syncRate)],
      {
        stdout: "pipe",
        stderr: "inherit",
      },
    );
  const statuses = async (proc: ReturnType<typeof node>) =>
    JSON.parse(await new Response(proc.stdout).text());

  test("two nodes share one limit", async () => {
    const routeId = uniqueRoute();
    expect(await statuses(node(routeId, 3))).toEqual([200, 200, 200]);
    // The second node sees the first node's three requests: two left, then the limit of 5 is reached.
    expect(await statuses(node(routeId, 3))).toEqual([200, 200, 429]);
  });

  test("sync_rate: counts reach Redis in batches, and the next node reads them", async () => {
    const routeId = uniqueRoute();
    expect(await statuses(node(routeId, 3, 0.05))).toEqual([200, 200, 200]);
    expect(await statuses(node(routeId, 3, 0.05))).toEqual([200, 200, 429]);
  });

  test("sync_rate: nothing is written to Redis until the sync", async () => {
    const conf = config(rateLimiting, {
      day: 10,
      policy: "redis",
      limit_by: "ip",
      sync_rate: 3600,
      redis: { host: "127.0.0.1" },
    });
    const routeId = uniqueRoute();
    const ctx = () => makeContext(request("/"), { routeId, clientIp: "10.9.9.9" });
    await access(rateLimiting, ctx(), conf);
    const second = ctx();
    await access(rateLimiting, second, conf);
    expect(headers(second.responseHeaders)["X-RateLimit-Remaining-Day"]).toBe("8");
    const probe = new Bun.RedisClient("redis://127.0.0.1:6379/0");
    const keys = await probe.send("KEYS", [`ratelimit:${routeId}:*`]);
    expect(keys).toEqual([]);
    await closeRateLimitingRedis();
    const [key] = (await probe.send("KEYS", [`ratelimit:${routeId}:*`])) as string[];
    expect(await probe.send("GET", [key!])).toBe("2");
    expect(Number(await probe.send("TTL", [key!]))).toBeGreaterThan(0);
    probe.close();
  });

  test("headers come from the shared counters", async () => {
    const conf = config(rateLimiting, {
      day: 3,
      policy: "redis",
      limit_by: "ip",
      redis: { host: "127.0.0.1" },
    });
    const routeId = uniqueRoute();
    const ctx = makeContext(request("/"), { routeId });
    await access(rateLimiting, ctx, conf);
    ctx.responseHeaders.length = 0;
    await access(rateLimiting, ctx, conf);
    expect(headers(ctx.responseHeaders)["X-RateLimit-Remaining-Day"]).toBe("1");
  });

  test("an unreachable Redis: fault_tolerant proxies without headers, otherwise 500", async () => {
    const dead = { host: "127.0.0.1", port: 1, timeout: 500 };
    const tolerant = config(rateLimiting, { day: 1, policy: "redis", redis: dead });
    const ctx = makeContext(request("/"), { routeId: uniqueRoute() });
    expect(await access(rateLimiting, ctx, tolerant)).toBeUndefined();
    expect(ctx.responseHeaders).toEqual([]);
    const strict = config(rateLimiting, { day: 1, policy: "redis", redis: dead, fault_tolerant: false });
    expect(await access(rateLimiting, makeContext(request("/")), strict)).toEqual({
      status: 500,
      message: "An unexpected error occurred",
    });
  });
});
