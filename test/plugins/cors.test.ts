import { describe, expect, test } from "bun:test";
import { cors } from "../../src/plugins/cors";
import { access, config, configErrors, headersOf, makeContext, request, responseView } from "./helpers";

const preflight = (origin: string, extra: Record<string, string> = {}) =>
  makeContext(
    request("/", {
      method: "OPTIONS",
      headers: { origin, "access-control-request-method": "POST", ...extra },
    }),
  );

function respond(conf: unknown, headers: Record<string, string>) {
  const ctx = makeContext(request("/", { headers }));
  const res = responseView(200, { "content-type": "text/plain" });
  cors.headerFilter!(ctx, conf, res);
  return res.headers;
}

describe("cors config", () => {
  test("defaults and a bad regex", () => {
    expect(config(cors)).toMatchObject({
      origins: null,
      methods: ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"],
      credentials: false,
      preflight_continue: false,
      allow_origin_absent: true,
    });
    expect(configErrors(cors, { origins: ["(bad"] })).toEqual({ origins: ["'(bad' is not a valid regex"] });
    expect(configErrors(cors, { methods: ["FETCH"] })).toMatchObject({ methods: [expect.any(String)] });
  });
});

describe("cors preflight", () => {
  test("answered by gw with 200 and the configured headers", async () => {
    const conf = config(cors, {
      origins: ["https://app.example.com"],
      methods: ["GET", "POST"],
      headers: ["x-a", "x-b"],
      max_age: 600,
      credentials: true,
      private_network: true,
    });
    const exit = await access(
      cors,
      preflight("https://app.example.com", { "access-control-request-private-network": "true" }),
      conf,
    );
    expect(exit?.status).toBe(200);
    expect(exit?.body).toBe("");
    expect(Object.fromEntries(exit!.headers!)).toEqual({
      Vary: "Origin",
      "Access-Control-Allow-Origin": "https://app.example.com",
      "Access-Control-Allow-Credentials": "true",
      "Access-Control-Allow-Headers": "x-a,x-b",
      "Access-Control-Allow-Methods": "GET,POST",
      "Access-Control-Max-Age": "600",
      "Access-Control-Allow-Private-Network": "true",
    });
  });

  test("requested headers are echoed when none are configured; preflight_continue proxies it", async () => {
    const exit = await access(
      cors,
      preflight("https://x.test", { "access-control-request-headers": "x-custom" }),
      config(cors),
    );
    expect(Object.fromEntries(exit!.headers!)["Access-Control-Allow-Headers"]).toBe("x-custom");
    expect(Object.fromEntries(exit!.headers!)["Access-Control-Allow-Origin"]).toBe("*");
    const ctx = preflight("https://x.test");
    expect(await access(cors, ctx, config(cors, { preflight_continue: true }))).toBeUndefined();
    const res = responseView(204);
    cors.headerFilter!(ctx, config(cors), res);
    expect(res.headers).toEqual([]);
  });

  test("a plain OPTIONS (no Access-Control-Request-Method) is not a preflight", async () => {
    const ctx = makeContext(request("/", { method: "OPTIONS", headers: { origin: "https://x.test" } }));
    expect(await access(cors, ctx, config(cors))).toBeUndefined();
  });
});

describe("cors response headers", () => {
  test("regex origins match by host (no colon) or full origin", () => {
    const conf = config(cors, {
      origins: ["https?://.*\\.example\\.com", ".*\\.example\\.org"],
      exposed_headers: ["x-id"],
    });
    expect(headersOf(respond(conf, { origin: "https://a.example.com" }))).toMatchObject({
      "access-control-allow-origin": "https://a.example.com",
      "access-control-expose-headers": "x-id",
      vary: "Origin",
    });
    expect(
      headersOf(respond(conf, { origin: "http://b.example.org:8080" }))["access-control-allow-origin"],
    ).toBe("http://b.example.org:8080");
    expect(
      headersOf(respond(conf, { origin: "https://evil.com" }))["access-control-allow-origin"],
    ).toBeUndefined();
    // Anchored: a suffix of the configured pattern is not enough.
    expect(
      headersOf(respond(conf, { origin: "https://a.example.com.evil.net" }))["access-control-allow-origin"],
    ).toBeUndefined();
  });

  test("literal origins compare normalized (default ports dropped)", () => {
    const conf = config(cors, { origins: ["https://a.test", "http://b.test:8080"] });
    expect(headersOf(respond(conf, { origin: "https://a.test:443" }))["access-control-allow-origin"]).toBe(
      "https://a.test",
    );
    expect(
      headersOf(respond(conf, { origin: "http://b.test" }))["access-control-allow-origin"],
    ).toBeUndefined();
  });

  test("credentials with allow-all echo the origin instead of *", () => {
    const h = headersOf(respond(config(cors, { credentials: true }), { origin: "https://c.test" }));
    expect(h["access-control-allow-origin"]).toBe("https://c.test");
    expect(h["access-control-allow-credentials"]).toBe("true");
  });

  test("allow_origin_absent=false adds nothing without an Origin", () => {
    expect(respond(config(cors, { allow_origin_absent: false }), {})).toEqual(["content-type", "text/plain"]);
    expect(headersOf(respond(config(cors), {}))["access-control-allow-origin"]).toBe("*");
  });
});
