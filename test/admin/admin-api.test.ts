/** Admin API behaviour as Kong's specs describe it, on the real SQLite and PostgreSQL stores. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import type { Hono } from "hono";
import { adminApp } from "../../src/admin/app";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { Store } from "../../src/store/store";
import { BACKENDS, MODELS } from "../store/fixtures";

type Json = Record<string, unknown> & { data?: Json[]; fields?: Json };

for (const backend of BACKENDS) {
  describe(`Admin API on ${backend.name}`, () => {
    let store: Store;
    let drop: () => Promise<void>;
    let app: Hono;

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      if (backend.name === "postgres") await migrationsCommand("bootstrap", db.settings, { models: MODELS });
      store = await openStore(db.settings, MODELS);
      app = adminApp({
        nodeId: "9b5f4e2c-6a51-4a8b-9a44-2d6b1d2f3c4d",
        publicSettings: { database: backend.name, pg_password: "******" },
        plugins: [],
        pluginSchemas: new Map(),
        store,
        serverStats: () => ({ total_requests: 0 }),
      });
    });

    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    const call = async (method: string, path: string, body?: unknown, form = false) => {
      const init: RequestInit = { method };
      if (body !== undefined) {
        init.body = form
          ? new URLSearchParams(body as Record<string, string>).toString()
          : JSON.stringify(body);
        init.headers = { "content-type": form ? "application/x-www-form-urlencoded" : "application/json" };
      }
      const res = await app.request(path, init);
      const text = await res.text();
      return { status: res.status, body: (text ? JSON.parse(text) : null) as Json, headers: res.headers };
    };

    test("GET / reports a Kong 3.x version, the node id and masked configuration", async () => {
      const r = await call("GET", "/");
      expect(r.status).toBe(200);
      expect(r.body.version).toMatch(/^3\.\d+\.\d+$/);
      expect(r.body.node_id).toBe("9b5f4e2c-6a51-4a8b-9a44-2d6b1d2f3c4d");
      expect((r.body.configuration as Json).pg_password).toBe("******");
    });

    test("create with form-encoded fields, the url shorthand and Kong's defaults", async () => {
      const r = await call(
        "POST",
        "/services",
        { name: "httpbin", url: "https://httpbin.org:8443/anything" },
        true,
      );
      expect(r.status).toBe(201);
      expect(r.body).toMatchObject({
        name: "httpbin",
        protocol: "https",
        host: "httpbin.org",
        port: 8443,
        path: "/anything",
        retries: 5,
        connect_timeout: 60000,
        enabled: true,
      });
      expect(r.body.id).toMatch(/^[0-9a-f-]{36}$/);
      expect(r.body.client_certificate).toBeNull();
    });

    test("nested routes with paths[] form syntax; read by name and by id", async () => {
      const created = await call(
        "POST",
        "/services/httpbin/routes",
        { name: "r1", "paths[]": "/anything" },
        true,
      );
      expect(created.status).toBe(201);
      expect(created.body.paths).toEqual(["/anything"]);
      expect(created.body.protocols).toEqual(["http", "https"]);
      const service = await call("GET", "/services/httpbin");
      expect((created.body.service as Json).id).toBe(service.body.id);
      expect((await call("GET", `/routes/${created.body.id}`)).body.name).toBe("r1");
      expect((await call("GET", "/routes/r1/service")).body.name).toBe("httpbin");
      expect((await call("GET", "/services/httpbin/routes")).body.data).toHaveLength(1);
    });

    test("schema violations: 400 with Kong's code, name and per-field messages", async () => {
      const r = await call("POST", "/services", {
        name: "bad",
        host: "example.com",
        port: 99999,
        protocol: "ftp",
      });
      expect(r.status).toBe(400);
      expect(r.body.code).toBe(2);
      expect(r.body.name).toBe("schema violation");
      expect(Object.keys(r.body.fields!)).toEqual(expect.arrayContaining(["port", "protocol"]));
      expect(r.body.message).toMatch(/^2 schema violations/);
    });

    test("unique violation: 409", async () => {
      const r = await call("POST", "/services", { name: "httpbin", host: "example.com" });
      expect(r.status).toBe(409);
      expect(r.body).toMatchObject({ code: 5, name: "unique constraint violation" });
      expect(r.body.message).toBe(`UNIQUE violation detected on '{name="httpbin"}'`);
    });

    test("foreign key violation and refusing to delete a referenced service", async () => {
      const missing = await call("POST", "/routes", {
        paths: ["/x"],
        service: { id: "00000000-0000-4000-8000-000000000000" },
      });
      expect(missing.status).toBe(400);
      expect(missing.body.code).toBe(4);
      const refused = await call("DELETE", "/services/httpbin");
      expect(refused.status).toBe(400);
      expect(refused.body.name).toBe("foreign key violation");
    });

    test("PATCH merges, PUT upserts by name, DELETE answers 204 even when absent", async () => {
      expect((await call("PATCH", "/services/httpbin", { retries: 2 })).body.retries).toBe(2);
      expect((await call("GET", "/services/httpbin")).body.host).toBe("httpbin.org");
      const put = await call("PUT", "/services/created-by-put", { host: "example.org" });
      expect(put.status).toBe(200);
      expect(put.body.name).toBe("created-by-put");
      expect((await call("DELETE", "/services/created-by-put")).status).toBe(204);
      expect((await call("DELETE", "/services/created-by-put")).status).toBe(204);
      expect((await call("GET", "/services/created-by-put")).status).toBe(404);
      expect((await call("PATCH", "/services/nope", { retries: 1 })).status).toBe(404);
    });

    test("pagination walks every row exactly once; size is bounded", async () => {
      for (let i = 0; i < 7; i++) await call("POST", "/consumers", { username: `user-${i}`, tags: ["page"] });
      const seen: string[] = [];
      let next: string | null = "/consumers?size=3&tags=page";
      while (next) {
        const page = await call("GET", next);
        expect(page.status).toBe(200);
        for (const row of page.body.data!) seen.push(row.username as string);
        next = page.body.next as string | null;
      }
      expect(seen.sort()).toEqual([0, 1, 2, 3, 4, 5, 6].map((i) => `user-${i}`));
      expect((await call("GET", "/consumers?size=0")).body.message).toBe(
        "size must be an integer between 1 and 1000",
      );
      expect((await call("GET", "/consumers?size=1001")).status).toBe(400);
    });

    test("tag filters: a,b means all, a/b means any", async () => {
      await call("POST", "/consumers", { username: "both", tags: ["a", "b"] });
      await call("POST", "/consumers", { username: "only-a", tags: ["a"] });
      const all = await call("GET", "/consumers?tags=a,b");
      expect(all.body.data!.map((c) => c.username)).toEqual(["both"]);
      const any = await call("GET", "/consumers?tags=a/b");
      expect(any.body.data!.map((c) => c.username).sort()).toEqual(["both", "only-a"]);
      expect((await call("GET", "/consumers?tags=")).status).toBe(400);
    });

    test("/schemas gives Kong's field format with defaults, and validate checks without storing", async () => {
      const schema = await call("GET", "/schemas/services");
      const fields = schema.body.fields as unknown as Record<string, Json>[];
      const retries = fields.find((f) => "retries" in f)!.retries!;
      expect(retries.default).toBe(5);
      const ok = await call("POST", "/schemas/services/validate", { host: "example.com" });
      expect(ok.status).toBe(200);
      const bad = await call("POST", "/schemas/routes/validate", { protocols: ["http"] });
      expect(bad.status).toBe(400);
      expect((await call("GET", "/schemas/nonsense")).status).toBe(404);
    });

    test("CORS preflight is answered", async () => {
      const res = await app.request("/services", {
        method: "OPTIONS",
        headers: { origin: "http://manager.example", "access-control-request-method": "POST" },
      });
      expect(res.status).toBe(204);
      expect(res.headers.get("access-control-allow-origin")).toBe("http://manager.example");
    });

    test("clustering endpoints on a node that is not a control plane: Kong's 400", async () => {
      const r = await call("GET", "/clustering/data-planes");
      expect(r.status).toBe(400);
      expect(r.body.message).toBe(
        "this endpoint is only available when Kong is configured to run as Control Plane for the cluster",
      );
    });

    test("unknown paths and bad JSON", async () => {
      expect((await call("GET", "/nope")).body.message).toBe("Not found");
      const res = await app.request("/services", {
        method: "POST",
        body: "{oops",
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(400);
    });
  });
}
