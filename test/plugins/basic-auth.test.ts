import { describe, expect, test } from "bun:test";
import { hashBasicAuthPassword } from "../../src/entities/schemas";
import { basicAuth } from "../../src/plugins/basic-auth";
import type { PluginExit } from "../../src/plugins/plugin";
import { access, config, configErrors, makeContext, makeServices, request } from "./helpers";

const bob = { id: "bbbbbbbb-0000-4000-8000-000000000001", username: "bob", custom_id: null };
const cred = {
  id: "cccccccc-0000-4000-8000-000000000002",
  username: "bob-login",
  password: hashBasicAuthPassword("p:ss word", bob.id),
  consumer: { id: bob.id },
};
const services = makeServices({ consumers: [bob], credentials: { basicauth_credentials: [cred] } });
const basic = (user: string, pass: string) => `Basic ${Buffer.from(`${user}:${pass}`).toString("base64")}`;

describe("basic-auth", () => {
  test("defaults and bad config", () => {
    expect(config(basicAuth)).toEqual({ anonymous: null, hide_credentials: false, realm: "service" });
    expect(configErrors(basicAuth, { realm: 5 })).toEqual({ realm: "expected a string" });
  });

  test("the right password (with colons and spaces) authenticates, identifier is the username", async () => {
    const ctx = makeContext(request("/", { headers: { authorization: basic("bob-login", "p:ss word") } }));
    expect(await access(basicAuth, ctx, config(basicAuth), services)).toBeUndefined();
    expect(ctx.consumer?.id).toBe(bob.id);
    expect(ctx.upstreamHeaders.get("x-credential-identifier")).toBe("bob-login");
    expect(ctx.upstreamHeaders.has("authorization")).toBe(false);
  });

  test("a wrong password, an unknown user and no header are all 401 with the realm challenge", async () => {
    const rejection: PluginExit = {
      status: 401,
      message: "Unauthorized",
      headers: [["WWW-Authenticate", 'Basic realm="service"']],
    };
    const cases: Record<string, string>[] = [
      { authorization: basic("bob-login", "nope") },
      { authorization: basic("x", "y") },
      {},
    ];
    for (const headers of cases) {
      const ctx = makeContext(request("/", { headers }));
      expect(await access(basicAuth, ctx, config(basicAuth), services)).toEqual(rejection);
      expect(ctx.consumer).toBeNull();
    }
  });

  test("Proxy-Authorization is tried first; hide_credentials strips the header that was used", async () => {
    const ctx = makeContext(
      request("/", {
        headers: { "proxy-authorization": basic("bob-login", "p:ss word"), authorization: "Bearer x" },
      }),
    );
    expect(
      await access(basicAuth, ctx, config(basicAuth, { hide_credentials: true }), services),
    ).toBeUndefined();
    expect(ctx.upstreamHeaders.get("proxy-authorization")).toBeNull();
    expect(ctx.upstreamHeaders.has("proxy-authorization")).toBe(true);
    expect(ctx.upstreamHeaders.has("authorization")).toBe(false);
    expect(ctx.consumer?.id).toBe(bob.id);
  });

  test("anonymous fallback", async () => {
    const ctx = makeContext(request("/", { headers: { authorization: basic("bob-login", "bad") } }));
    expect(await access(basicAuth, ctx, config(basicAuth, { anonymous: bob.id }), services)).toBeUndefined();
    expect(ctx.upstreamHeaders.get("x-anonymous-consumer")).toBe("true");
  });
});
