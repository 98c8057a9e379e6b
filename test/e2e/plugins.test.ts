/** Plugins through the compiled binary: key-auth and rate limiting via the Admin API, declarative files and a CP → DP push. */
import { afterAll, describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { type GwProcess, startGw, tempDir } from "../helpers/gw";
import { admin, genSharedCert, startControlPlane, startDataPlane, untilServed } from "../helpers/hybrid";
import { type Echo, startEchoUpstream } from "../helpers/upstream";

const upstream = startEchoUpstream("plugins");
const nodes: GwProcess[] = [];
afterAll(async () => {
  for (const n of nodes) await n.kill();
  await upstream.stop();
});
const keep = (n: GwProcess) => {
  nodes.push(n);
  return n;
};

describe("a traditional node protected through the Admin API", () => {
  test("key-auth on a route, consumers with keys, and a per-consumer rate limit", async () => {
    const gw = keep(await startGw({ args: ["--database", "sqlite"] }));
    await admin(gw, "POST", "/services", { name: "api", url: upstream.url });
    await admin(gw, "POST", "/services/api/routes", { name: "api", paths: ["/api"] });
    expect((await admin(gw, "POST", "/routes/api/plugins", { name: "key-auth" })).status).toBe(201);
    await admin(gw, "POST", "/consumers", { username: "alice" });
    const key = await admin(gw, "POST", "/consumers/alice/key-auth", { key: "alice-secret" });
    expect(key.status).toBe(201);
    const limit = await admin(gw, "POST", "/consumers/alice/plugins", {
      name: "rate-limiting",
      config: { minute: 2, policy: "local" },
    });
    expect(limit.status).toBe(201);

    const anonymous = await untilServed(gw, "/api/x", 401);
    expect(((await anonymous.json()) as { message: string }).message).toBe("No API key found in request");
    expect(anonymous.headers.get("www-authenticate")).toBe("Key");

    const wrong = await fetch(`${gw.proxy}/api/x`, { headers: { apikey: "nope" } });
    expect(wrong.status).toBe(401);
    expect(((await wrong.json()) as { message: string }).message).toBe("Unauthorized");

    const ok = await fetch(`${gw.proxy}/api/x`, { headers: { apikey: "alice-secret" } });
    expect(ok.status).toBe(200);
    const seen = (await ok.json()) as Echo;
    expect(seen.headers["x-consumer-username"]).toBe("alice");
    expect(ok.headers.get("x-ratelimit-limit-minute")).toBe("2");
    expect(ok.headers.get("ratelimit-remaining")).toBe("1");

    expect((await fetch(`${gw.proxy}/api/x`, { headers: { apikey: "alice-secret" } })).status).toBe(200);
    const limited = await fetch(`${gw.proxy}/api/x`, { headers: { apikey: "alice-secret" } });
    expect(limited.status).toBe(429);
    expect(((await limited.json()) as { message: string }).message).toBe("API rate limit exceeded");
    expect(limited.headers.get("retry-after")).toMatch(/^\d+$/);
  });
});

describe("a DB-less node with plugins in its declarative file", () => {
  test("global key-auth, an ACL on one service, and basic-auth consumers", async () => {
    const dir = tempDir("plugins-dbless");
    const file = join(dir, "kong.yml");
    writeFileSync(
      file,
      `_format_version: "3.0"
services:
  - name: open
    url: ${upstream.url}
    routes: [{ name: open, paths: ["/open"] }]
  - name: admins-only
    url: ${upstream.url}
    routes: [{ name: admins, paths: ["/admins"] }]
    plugins:
      - name: acl
        config: { allow: ["admins"] }
plugins:
  - name: key-auth
consumers:
  - username: root
    keyauth_credentials: [{ key: root-key }]
    acls: [{ group: admins }]
  - username: guest
    keyauth_credentials: [{ key: guest-key }]
`,
    );
    const gw = keep(await startGw({ args: ["--database", "off", "--declarative_config", file] }));
    expect((await fetch(`${gw.proxy}/open`)).status).toBe(401);
    expect((await fetch(`${gw.proxy}/open`, { headers: { apikey: "guest-key" } })).status).toBe(200);
    const denied = await fetch(`${gw.proxy}/admins`, { headers: { apikey: "guest-key" } });
    expect(denied.status).toBe(403);
    expect(((await denied.json()) as { message: string }).message).toBe("You cannot consume this service");
    expect((await fetch(`${gw.proxy}/admins`, { headers: { apikey: "root-key" } })).status).toBe(200);
  });
});

describe("plugins configured on a CP run on its DPs", () => {
  test("key-auth pushed to a data plane", async () => {
    const cert = await genSharedCert();
    const cp = keep(await startControlPlane(cert));
    const dp = keep(await startDataPlane(cert, cp));
    await admin(cp, "POST", "/services", { name: "api", url: upstream.url });
    await admin(cp, "POST", "/services/api/routes", { name: "api", paths: ["/api"] });
    await admin(cp, "POST", "/services/api/plugins", { name: "key-auth" });
    await admin(cp, "POST", "/consumers", { username: "bob" });
    await admin(cp, "POST", "/consumers/bob/key-auth", { key: "bob-key" });
    await untilServed(dp, "/api", 401);
    const ok = await fetch(`${dp.proxy}/api`, { headers: { apikey: "bob-key" } });
    expect(ok.status).toBe(200);
  });
});
