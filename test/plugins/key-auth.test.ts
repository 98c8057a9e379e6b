import { describe, expect, test } from "bun:test";
import { keyAuth } from "../../src/plugins/key-auth";
import { access, config, configErrors, makeContext, makeServices, request } from "./helpers";

const alice = { id: "aaaaaaaa-0000-4000-8000-000000000001", username: "alice", custom_id: "A-1" };
const anon = { id: "aaaaaaaa-0000-4000-8000-0000000000ff", username: "anonymous", custom_id: null };
const cred = { id: "cccccccc-0000-4000-8000-000000000001", key: "secret-1", consumer: { id: alice.id } };
const services = makeServices({ consumers: [alice, anon], credentials: { keyauth_credentials: [cred] } });

describe("key-auth config", () => {
  test("Kong's defaults", () => {
    expect(config(keyAuth)).toEqual({
      key_names: ["apikey"],
      hide_credentials: false,
      anonymous: null,
      key_in_header: true,
      key_in_query: true,
      key_in_body: false,
      run_on_preflight: true,
      realm: null,
    });
  });

  test("bad key names and unknown fields are named", () => {
    expect(configErrors(keyAuth, { key_names: ["bad name"], nope: 1 })).toEqual({
      key_names: ["bad header name 'bad name', allowed characters are A-Z, a-z, 0-9, '_', and '-'"],
      nope: "unknown field",
    });
  });
});

describe("key-auth access", () => {
  test("a key in the header authenticates and sets Kong's upstream headers", async () => {
    const ctx = makeContext(request("/", { headers: { apikey: "secret-1" } }));
    expect(await access(keyAuth, ctx, config(keyAuth), services)).toBeUndefined();
    expect(ctx.consumer?.id).toBe(alice.id);
    expect(ctx.credential?.id).toBe(cred.id);
    expect(Object.fromEntries(ctx.upstreamHeaders)).toEqual({
      "x-consumer-id": alice.id,
      "x-consumer-custom-id": "A-1",
      "x-consumer-username": "alice",
      "x-credential-identifier": cred.id,
      "x-anonymous-consumer": null,
    });
  });

  test("no key: 401 with Kong's message and WWW-Authenticate", async () => {
    const exit = await access(keyAuth, makeContext(request("/")), config(keyAuth), services);
    expect(exit).toEqual({
      status: 401,
      message: "No API key found in request",
      headers: [["WWW-Authenticate", "Key"]],
    });
  });

  test("an unknown key is 401 Unauthorized; realm shows in the challenge", async () => {
    const ctx = makeContext(request("/?apikey=wrong"));
    const exit = await access(keyAuth, ctx, config(keyAuth, { realm: "gw" }), services);
    expect(exit).toEqual({
      status: 401,
      message: "Unauthorized",
      headers: [["WWW-Authenticate", 'Key realm="gw"']],
    });
    expect(ctx.consumer).toBeNull();
  });

  test("a repeated query key is a duplicate", async () => {
    const exit = await access(
      keyAuth,
      makeContext(request("/?apikey=a&apikey=b")),
      config(keyAuth),
      services,
    );
    expect(exit?.message).toBe("Duplicate API key found");
  });

  test("hide_credentials strips the key from header and query, other arguments stay", async () => {
    const ctx = makeContext(request("/?x=1&apikey=secret-1&y=%20", { headers: { ApiKey: "nope" } }));
    const conf = config(keyAuth, { hide_credentials: true, key_in_header: false });
    expect(await access(keyAuth, ctx, conf, services)).toBeUndefined();
    expect(ctx.query).toBe("x=1&y=%20");
    expect(ctx.upstreamHeaders.get("apikey")).toBeNull();
  });

  test("key_in_body reads JSON and form bodies and can hide the key there", async () => {
    const json = makeContext(
      request("/", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ apikey: "secret-1", keep: true }),
      }),
    );
    const conf = config(keyAuth, { key_in_body: true, hide_credentials: true });
    expect(await access(keyAuth, json, conf, services)).toBeUndefined();
    expect(json.upstreamBody).toBe('{"keep":true}');
    expect(json.upstreamHeaders.get("content-length")).toBe("13");

    const form = makeContext(
      request("/", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "apikey=secret-1",
      }),
    );
    expect(await access(keyAuth, form, config(keyAuth, { key_in_body: true }), services)).toBeUndefined();
    expect(form.consumer?.username).toBe("alice");
    // The stream was consumed, so the original bytes are what goes upstream.
    expect(new TextDecoder().decode(form.upstreamBody as Uint8Array)).toBe("apikey=secret-1");
  });

  test("a key name with underscores matches the hyphenated header", async () => {
    const ctx = makeContext(request("/", { headers: { "x-api-key": "secret-1" } }));
    expect(
      await access(keyAuth, ctx, config(keyAuth, { key_names: ["x_api_key"] }), services),
    ).toBeUndefined();
    expect(ctx.consumer?.id).toBe(alice.id);
  });

  test("key_in_header=false ignores header keys", async () => {
    const ctx = makeContext(request("/", { headers: { apikey: "secret-1" } }));
    const exit = await access(keyAuth, ctx, config(keyAuth, { key_in_header: false }), services);
    expect(exit?.status).toBe(401);
  });

  test("anonymous by username or id lets the request through as that consumer", async () => {
    for (const anonymous of ["anonymous", anon.id]) {
      const ctx = makeContext(request("/"));
      expect(await access(keyAuth, ctx, config(keyAuth, { anonymous }), services)).toBeUndefined();
      expect(ctx.consumer?.id).toBe(anon.id);
      expect(ctx.credential).toBeNull();
      expect(ctx.upstreamHeaders.get("x-anonymous-consumer")).toBe("true");
    }
  });

  test("a missing anonymous consumer is a 500 naming it", async () => {
    const exit = await access(
      keyAuth,
      makeContext(request("/")),
      config(keyAuth, { anonymous: "ghost" }),
      services,
    );
    expect(exit).toEqual({
      status: 500,
      message: "anonymous consumer ghost is configured but doesn't exist",
    });
  });

  test("OPTIONS skips authentication when run_on_preflight is false", async () => {
    const ctx = makeContext(request("/", { method: "OPTIONS" }));
    expect(
      await access(keyAuth, ctx, config(keyAuth, { run_on_preflight: false }), services),
    ).toBeUndefined();
    expect(await access(keyAuth, ctx, config(keyAuth), services)).toMatchObject({ status: 401 });
  });
});
