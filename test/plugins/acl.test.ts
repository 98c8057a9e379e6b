import { describe, expect, test } from "bun:test";
import { acl } from "../../src/plugins/acl";
import type { RequestContext } from "../../src/plugins/plugin";
import { access, config, configErrors, makeContext, makeServices, request } from "./helpers";

const admin = { id: "dddddddd-0000-4000-8000-000000000001", username: "admin", custom_id: null };
const guest = { id: "dddddddd-0000-4000-8000-000000000002", username: "guest", custom_id: null };
const services = makeServices({
  consumers: [admin, guest],
  acls: [
    { consumer: { id: admin.id }, group: "admins" },
    { consumer: { id: admin.id }, group: "staff" },
  ],
});

function authenticated(consumer: typeof admin): RequestContext {
  const ctx = makeContext(request("/"));
  ctx.consumer = consumer;
  ctx.credential = { id: "cred", consumer: { id: consumer.id } };
  return ctx;
}

describe("acl config", () => {
  test("exactly one of allow and deny", () => {
    expect(configErrors(acl, {})).toEqual({
      "@entity": ["at least one of these fields must be non-empty: 'allow', 'deny'"],
    });
    expect(configErrors(acl, { allow: ["a"], deny: ["b"] })).toEqual({
      "@entity": ["only one of these fields must be non-empty: 'allow', 'deny'"],
    });
    expect(config(acl, { allow: ["a"] })).toMatchObject({ hide_groups_header: false, deny: null });
  });
});

describe("acl access", () => {
  test("a member of an allowed group passes and upstream sees its groups", async () => {
    const ctx = authenticated(admin);
    expect(await access(acl, ctx, config(acl, { allow: ["admins"] }), services)).toBeUndefined();
    expect(ctx.upstreamHeaders.get("x-consumer-groups")).toBe("admins, staff");
  });

  test("hide_groups_header keeps the groups from the upstream", async () => {
    const ctx = authenticated(admin);
    await access(acl, ctx, config(acl, { allow: ["admins"], hide_groups_header: true }), services);
    expect(ctx.upstreamHeaders.has("x-consumer-groups")).toBe(false);
  });

  test("not in the allow list, or in the deny list: 403", async () => {
    const forbidden = { status: 403, message: "You cannot consume this service" };
    expect(await access(acl, authenticated(admin), config(acl, { allow: ["ops"] }), services)).toEqual(
      forbidden,
    );
    expect(await access(acl, authenticated(admin), config(acl, { deny: ["staff"] }), services)).toEqual(
      forbidden,
    );
    // A consumer without groups cannot be in an allow list, and passes a deny list.
    expect(await access(acl, authenticated(guest), config(acl, { allow: ["admins"] }), services)).toEqual(
      forbidden,
    );
    expect(
      await access(acl, authenticated(guest), config(acl, { deny: ["admins"] }), services),
    ).toBeUndefined();
  });

  test("no consumer identified: 401", async () => {
    const exit = await access(acl, makeContext(request("/")), config(acl, { allow: ["admins"] }), services);
    expect(exit).toEqual({ status: 401, message: "Unauthorized" });
  });

  test("authenticated groups from another plugin decide for anonymous consumers", async () => {
    const ctx = makeContext(request("/"));
    ctx.consumer = guest;
    ctx.authenticatedGroups = ["admins"];
    expect(await access(acl, ctx, config(acl, { allow: ["admins"] }), services)).toBeUndefined();
    expect(ctx.upstreamHeaders.get("x-authenticated-groups")).toBe("admins");
  });
});
