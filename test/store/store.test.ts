import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { EntityError } from "../../src/entities/errors";
import { configHash } from "../../src/entities/hash";
import { openDriver, type StoreSettings } from "../../src/store/connect";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { ChangeEvent, Row, Store } from "../../src/store/store";
import { BACKENDS, DATABASE_TEST_TIMEOUT, MODELS, until } from "./fixtures";

setDefaultTimeout(DATABASE_TEST_TIMEOUT);

/** The error a store call rejected with, as the Admin API would serialize it. */
async function failure(
  promise: Promise<unknown>,
): Promise<{ status: number; body: Record<string, unknown> }> {
  try {
    await promise;
  } catch (error) {
    expect(error).toBeInstanceOf(EntityError);
    const e = error as EntityError;
    return { status: e.status, body: e.body as unknown as Record<string, unknown> };
  }
  throw new Error("expected the call to fail");
}

let serial = 0;
const unique = (label: string) => `${label}-${++serial}-${Math.random().toString(36).slice(2, 8)}`;

for (const backend of BACKENDS) {
  describe(`store on ${backend.name}`, () => {
    let store: Store;
    let drop: () => Promise<void>;
    let settings: StoreSettings;

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      settings = db.settings;
      if (backend.name === "postgres") {
        expect((await migrationsCommand("bootstrap", db.settings, { models: MODELS })).code).toBe(0);
      }
      store = await openStore(db.settings, MODELS);
    });

    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    const service = (extra: Row = {}) =>
      store.insert("services", { name: unique("svc"), host: "example.com", ...extra });

    describe("CRUD", () => {
      test("insert fills id and timestamps; get finds the row by id and by name", async () => {
        const created = await service({ port: 80 });
        expect(created.id).toMatch(/^[0-9a-f-]{36}$/);
        expect(typeof created.created_at).toBe("number");
        expect(created.updated_at).toBe(created.created_at);
        expect(await store.get("services", created.id as string)).toEqual(created);
        expect(await store.get("services", created.name as string)).toEqual(created);
        expect(await store.get("services", crypto.randomUUID())).toBeNull();
        expect(await store.get("services", "no-such-name")).toBeNull();
      });

      test("upsert by name creates, then replaces the row keeping its id and created_at", async () => {
        const name = unique("put");
        const first = await store.upsert("services", name, { host: "a.example", port: 80 });
        expect(first.name).toBe(name);
        const second = await store.upsert("services", name, { host: "b.example" });
        expect(second.id).toBe(first.id);
        expect(second.created_at).toBe(first.created_at);
        expect(second.host).toBe("b.example");
        expect(second.port).toBeUndefined();
      });

      test("upsert by id creates the row with that id", async () => {
        const id = crypto.randomUUID();
        const row = await store.upsert("services", id, { name: unique("by-id"), host: "x" });
        expect(row.id).toBe(id);
        expect((await store.get("services", id))?.host).toBe("x");
      });

      test("update merges nested records and replaces arrays; a missing row is Kong's 404", async () => {
        const created = await service({ tags: ["a", "b"], extra: { x: 1, y: 2 } });
        const updated = await store.update("services", created.id as string, {
          tags: ["c"],
          extra: { y: 3 },
        });
        expect(updated.tags).toEqual(["c"]);
        expect(updated.extra).toEqual({ x: 1, y: 3 });
        expect(updated.host).toBe("example.com");
        expect(updated.created_at).toBe(created.created_at);

        const byId = crypto.randomUUID();
        expect(await failure(store.update("services", byId, { host: "x" }))).toEqual({
          status: 404,
          body: {
            code: 6,
            name: "not found",
            message: `could not find the entity with primary key '{id="${byId}"}'`,
            fields: { id: byId },
          },
        });
        const byName = await failure(store.update("services", "ghost", { host: "x" }));
        expect(byName.body.message).toBe(`could not find the entity with '{name="ghost"}'`);
      });

      test("delete returns the row once, then nothing", async () => {
        const created = await service();
        expect((await store.delete("services", created.name as string))?.id).toBe(created.id);
        expect(await store.get("services", created.id as string)).toBeNull();
        expect(await store.delete("services", created.id as string)).toBeNull();
      });

      test("scope restricts lookups to one parent, as nested paths do", async () => {
        const up1 = await store.insert("upstreams", { name: unique("up") });
        const up2 = await store.insert("upstreams", { name: unique("up") });
        const target = await store.insert("targets", { upstream: { id: up1.id }, target: "10.0.0.1:80" });
        expect((await store.get("targets", "10.0.0.1:80", { upstream: up1.id as string }))?.id).toBe(
          target.id,
        );
        expect(await store.get("targets", "10.0.0.1:80", { upstream: up2.id as string })).toBeNull();
        expect(await store.get("targets", target.id as string, { upstream: up2.id as string })).toBeNull();
      });

      test("upsert by a key unique only under its parent stays under that parent", async () => {
        const up1 = await store.insert("upstreams", { name: unique("up") });
        const up2 = await store.insert("upstreams", { name: unique("up") });
        const first = await store.upsert(
          "targets",
          "10.0.0.9:80",
          { weight: 10 },
          { upstream: up1.id as string },
        );
        const second = await store.upsert(
          "targets",
          "10.0.0.9:80",
          { weight: 20 },
          { upstream: up2.id as string },
        );
        expect(second.id).not.toBe(first.id);
        expect((await store.get("targets", first.id as string))?.weight).toBe(10);
        const again = await store.upsert(
          "targets",
          "10.0.0.9:80",
          { weight: 30 },
          { upstream: up1.id as string },
        );
        expect(again.id).toBe(first.id);
      });

      test("targets keep Kong's millisecond timestamps", async () => {
        const up = await store.insert("upstreams", { name: unique("up") });
        const target = await store.insert("targets", { upstream: { id: up.id }, target: "10.0.0.2:80" });
        expect(Math.round((target.created_at as number) * 1000)).toBe((target.created_at as number) * 1000);
        expect(Math.abs((target.created_at as number) - Date.now() / 1000)).toBeLessThan(60);
      });
    });

    describe("integrity", () => {
      test("a duplicate name is Kong's 409 unique violation and changes nothing", async () => {
        const created = await service();
        const version = await store.version();
        expect(await failure(service({ name: created.name }))).toEqual({
          status: 409,
          body: {
            code: 5,
            name: "unique constraint violation",
            message: `UNIQUE violation detected on '{name="${created.name}"}'`,
            fields: { name: created.name },
          },
        });
        expect(await store.version()).toBe(version);
        const renamed = await service();
        const clash = await failure(store.update("services", renamed.id as string, { name: created.name }));
        expect(clash.status).toBe(409);
        expect((await store.get("services", renamed.id as string))?.name).toBe(renamed.name);
      });

      test("a second unique field (custom_id) is enforced too", async () => {
        const customId = unique("cid");
        await store.insert("consumers", { username: unique("u"), custom_id: customId });
        const clash = await failure(
          store.insert("consumers", { username: unique("u"), custom_id: customId }),
        );
        expect(clash.body.message).toBe(`UNIQUE violation detected on '{custom_id="${customId}"}'`);
      });

      test("reusing an id is a primary key violation", async () => {
        const created = await service();
        const clash = await failure(service({ id: created.id }));
        expect(clash.body).toMatchObject({
          code: 3,
          message: `primary key violation on key '{id="${created.id}"}'`,
        });
      });

      test("the same plugin twice on one service violates the cache key, as in Kong", async () => {
        const svc = await service();
        await store.insert("plugins", {
          name: "key-auth",
          service: { id: svc.id },
          route: null,
          consumer: null,
        });
        const clash = await failure(
          store.insert("plugins", { name: "key-auth", service: { id: svc.id }, route: null, consumer: null }),
        );
        expect(clash.status).toBe(409);
        expect(clash.body.message).toBe(
          `UNIQUE violation detected on '{consumer=null,name="key-auth",route=null,service={id="${svc.id}"}}'`,
        );
        const other = await service();
        await store.insert("plugins", { name: "key-auth", service: { id: other.id } });
      });

      test("the database itself refuses a dangling reference or a duplicate name, whoever writes", async () => {
        const raw = openDriver(settings);
        try {
          const existing = await service();
          const insert = (sql: string, params: unknown[]) => raw.writeTx((conn) => conn.run(sql, params));
          const dangling = insert('INSERT INTO "routes" (id, doc, fk_service) VALUES (?, ?, ?)', [
            crypto.randomUUID(),
            "{}",
            crypto.randomUUID(),
          ]);
          expect(raw.classify(await dangling.catch((e) => e))).toEqual({ kind: "foreign_key" });
          const duplicate = insert('INSERT INTO "services" (id, doc, u_name) VALUES (?, ?, ?)', [
            crypto.randomUUID(),
            "{}",
            existing.name,
          ]);
          expect(raw.classify(await duplicate.catch((e) => e))).toEqual({ kind: "unique", column: "u_name" });
        } finally {
          await raw.close();
        }
      });

      test("a route pointing at a missing service is Kong's foreign key violation", async () => {
        const missing = crypto.randomUUID();
        expect(
          await failure(store.insert("routes", { name: unique("r"), service: { id: missing } })),
        ).toEqual({
          status: 400,
          body: {
            code: 4,
            name: "foreign key violation",
            message: `the foreign key '{id="${missing}"}' does not reference an existing 'services' entity.`,
            fields: { service: { id: missing } },
          },
        });
      });

      test("deleting a service that routes use is refused; plugins go with their service", async () => {
        const svc = await service();
        const route = await store.insert("routes", { name: unique("r"), service: { id: svc.id } });
        const plugin = await store.insert("plugins", { name: "cors", service: { id: svc.id } });
        expect(await failure(store.delete("services", svc.id as string))).toEqual({
          status: 400,
          body: {
            code: 4,
            name: "foreign key violation",
            message: "an existing 'routes' entity references this 'services' entity",
            fields: { "@referenced_by": "routes" },
          },
        });
        expect(await store.get("plugins", plugin.id as string)).not.toBeNull();
        await store.delete("routes", route.id as string);
        await store.delete("services", svc.id as string);
        expect(await store.get("plugins", plugin.id as string)).toBeNull();
      });

      test("a certificate that an SNI or a service uses cannot be deleted; a free one can", async () => {
        const cert = await store.insert("certificates", { cert: "c", key: "k" });
        const sni = await store.insert("snis", {
          name: `${unique("sni")}.example`,
          certificate: { id: cert.id },
        });
        const refused = await failure(store.delete("certificates", cert.id as string));
        expect(refused.body.message).toBe("an existing 'snis' entity references this 'certificates' entity");
        await store.delete("snis", sni.id as string);
        const svc = await service({ client_certificate: { id: cert.id } });
        expect((await failure(store.delete("certificates", cert.id as string))).body.fields).toEqual({
          "@referenced_by": "services",
        });
        await store.delete("services", svc.id as string);
        expect((await store.delete("certificates", cert.id as string))?.id).toBe(cert.id);
      });

      test("deleting a consumer takes its credentials and plugins with it", async () => {
        const consumer = await store.insert("consumers", { username: unique("gone") });
        const cred = await store.insert("keyauth_credentials", {
          consumer: { id: consumer.id },
          key: unique("k"),
        });
        const plugin = await store.insert("plugins", {
          name: "rate-limiting",
          consumer: { id: consumer.id },
        });
        expect(cred.updated_at).toBeUndefined(); // Kong's credentials carry created_at only
        await store.delete("consumers", consumer.id as string);
        expect(await store.get("keyauth_credentials", cred.id as string)).toBeNull();
        expect(await store.get("plugins", plugin.id as string)).toBeNull();
      });

      test("PATCH replaces a map field whole, as Kong does", async () => {
        const route = await store.insert("routes", {
          name: unique("hdr"),
          headers: { "x-a": ["1"] },
          paths: ["/"],
        });
        const updated = await store.update("routes", route.id as string, { headers: { "x-b": ["2"] } });
        expect(updated.headers).toEqual({ "x-b": ["2"] });
      });
    });

    describe("listing", () => {
      test("walking pages of 10 returns every row once, in creation order, and stops", async () => {
        const tag = unique("page");
        const ids: string[] = [];
        for (let i = 0; i < 25; i++)
          ids.push((await store.insert("consumers", { username: unique("c"), tags: [tag] })).id as string);
        const seen: string[] = [];
        let offset: string | undefined;
        let pages = 0;
        do {
          const page = await store.list("consumers", { size: 10, offset, tags: { all: [tag] } });
          seen.push(...page.data.map((r) => r.id as string));
          offset = page.offset;
          pages++;
        } while (offset);
        expect(pages).toBe(3);
        expect(seen).toEqual(ids);
      });

      test("without size a page holds 100 rows; size outside 1..1000 and a forged offset are refused", async () => {
        const tag = unique("hundred");
        await store.importAll({
          _format_version: "3.0",
          consumers: Array.from({ length: 101 }, () => ({
            id: crypto.randomUUID(),
            username: unique("h"),
            tags: [tag],
          })),
        });
        const page = await store.list("consumers", { tags: { all: [tag] } });
        expect(page.data).toHaveLength(100);
        expect(page.offset).toBeString();
        for (const size of [0, 1001, 1.5]) {
          expect((await failure(store.list("consumers", { size }))).body).toEqual({
            code: 9,
            name: "invalid size",
            message: "size must be an integer between 1 and 1000",
          });
        }
        const bad = await failure(store.list("consumers", { offset: "not base64!" }));
        expect(bad.body).toMatchObject({
          code: 7,
          message: "'not base64!' is not a valid offset: bad base64 encoding",
        });
      });

      test("tags a,b match rows holding both; a/b rows holding either", async () => {
        const [a, b] = [unique("ta"), unique("tb")];
        const both = await store.insert("consumers", { username: unique("ab"), tags: [a, b] });
        const onlyA = await store.insert("consumers", { username: unique("a"), tags: [a] });
        const onlyB = await store.insert("consumers", { username: unique("b"), tags: ["other", b] });
        await store.insert("consumers", { username: unique("none") });
        const ids = async (tags: { all: string[] } | { any: string[] }) =>
          (await store.list("consumers", { tags })).data.map((r) => r.id);
        expect(await ids({ all: [a, b] })).toEqual([both.id]);
        expect(await ids({ any: [a, b] })).toEqual([both.id, onlyA.id, onlyB.id]);
        expect(await ids({ all: [a] })).toEqual([both.id, onlyA.id]);
      });

      test("a foreign-key filter lists one service's routes", async () => {
        const s1 = await service();
        const s2 = await service();
        const r1 = await store.insert("routes", { name: unique("r"), service: { id: s1.id } });
        await store.insert("routes", { name: unique("r"), service: { id: s2.id } });
        expect(
          (await store.list("routes", { filter: { service: s1.id as string } })).data.map((r) => r.id),
        ).toEqual([r1.id]);
      });

      test("tags() lists each tag with its entity, filtered by tag and paged", async () => {
        const tag = unique("listed");
        const svc = await service({ tags: [tag] });
        const consumer = await store.insert("consumers", { username: unique("t"), tags: [tag, unique("x")] });
        const page = await store.tags({ tag });
        expect(page.data).toEqual(
          [
            { tag, entity_name: "consumers", entity_id: consumer.id as string },
            { tag, entity_name: "services", entity_id: svc.id as string },
          ].sort((x, y) => (x.entity_name < y.entity_name ? -1 : 1)),
        );
        const first = await store.tags({ tag, size: 1 });
        const second = await store.tags({ tag, size: 1, offset: first.offset });
        expect([...first.data, ...second.data]).toEqual(page.data);
        expect(second.offset).toBeUndefined();
      });

      test("pluginNamesInUse lists each configured plugin once", async () => {
        const svc = await service();
        await store.insert("plugins", { name: "rate-limiting", service: { id: svc.id } });
        await store.insert("plugins", { name: "rate-limiting" });
        const names = await store.pluginNamesInUse();
        expect(names.filter((n) => n === "rate-limiting")).toHaveLength(1);
      });
    });

    describe("transactions and the change feed", () => {
      test("a failing transaction leaves nothing behind and bumps no version", async () => {
        const name = unique("tx");
        const version = await store.version();
        const existing = await service();
        const error = await failure(
          store.transaction(async (tx) => {
            await tx.insert("services", { name, host: "x" });
            expect(await tx.get("services", name)).not.toBeNull();
            await tx.insert("services", { name: existing.name, host: "y" });
          }),
        );
        expect(error.status).toBe(409);
        expect(await store.get("services", name)).toBeNull();
        expect(await store.version()).toBe(version + 1);
      });

      test("a write through the store inside its own transaction fails fast instead of waiting for itself", async () => {
        const name = unique("nested");
        const attempt = store.transaction(async (tx) => {
          await tx.insert("services", { name, host: "h" });
          await store.insert("services", { name: unique("outer"), host: "h" });
        });
        await expect(attempt).rejects.toThrow("a write inside transaction() must use its tx argument");
        expect(await store.get("services", name)).toBeNull();
      });

      test("every commit fires exactly one event carrying the new version; reads and failures fire none", async () => {
        const events: ChangeEvent[] = [];
        const unsubscribe = store.onChange((e) => events.push(e));
        try {
          const before = await store.version();
          const created = await service();
          await store.list("services");
          await failure(service({ name: created.name }));
          await store.transaction(async (tx) => {
            await tx.insert("consumers", { username: unique("t1") });
            await tx.insert("consumers", { username: unique("t2") });
          });
          // A last write whose event arrives after every echo of the earlier ones (notifications keep commit order).
          const last = await service();
          await until(events, (e) => e.some((x) => x.id === last.id));
          expect(
            events
              .filter((e) => !e.remote)
              .map(({ version, op, entity, id }) => ({ version, op, entity, id })),
          ).toEqual([
            { version: before + 1, op: "create", entity: "services", id: created.id as string },
            { version: before + 2, op: "batch", entity: undefined, id: undefined },
            { version: before + 3, op: "create", entity: "services", id: last.id as string },
          ]);
          expect(events.filter((e) => e.remote)).toEqual([]);
          expect(await store.version()).toBe(before + 3);
        } finally {
          unsubscribe();
        }
      });
    });

    describe("concurrency", () => {
      test("concurrent writers each commit once, with distinct versions and nothing lost", async () => {
        const before = await store.version();
        const names = Array.from({ length: 40 }, () => unique("par"));
        const rows = await Promise.all(names.map((name) => store.insert("consumers", { username: name })));
        expect(new Set(rows.map((r) => r.id)).size).toBe(40);
        expect(await store.version()).toBe(before + 40);
        const clash = await Promise.allSettled(
          names.slice(0, 5).map((name) => store.insert("consumers", { username: name })),
        );
        expect(clash.every((r) => r.status === "rejected")).toBe(true);
        expect(await store.version()).toBe(before + 40);
      });
    });

    describe("import and export", () => {
      test("importing the same table twice changes nothing the second time", async () => {
        const svcId = crypto.randomUUID();
        const table = {
          _format_version: "3.0",
          services: [{ id: svcId, name: unique("imp"), host: "h", tags: ["imported"] }],
          routes: [{ id: crypto.randomUUID(), name: unique("imp-r"), service: svcId, paths: ["/x"] }],
          plugins: [
            { id: crypto.randomUUID(), name: "cors", service: { id: svcId }, config: { origins: ["*"] } },
          ],
        };
        const first = await store.importAll(table);
        expect(first).toMatchObject({ inserted: 3, updated: 0, deleted: 0 });
        const snapshot = await store.exportAll();
        const events: ChangeEvent[] = [];
        const unsubscribe = store.onChange((e) => events.push(e));
        const second = await store.importAll(table);
        unsubscribe();
        expect(second).toMatchObject({
          inserted: 0,
          updated: 0,
          deleted: 0,
          unchanged: 3,
          version: first.version,
        });
        expect(await store.exportAll()).toEqual(snapshot);
        expect(events).toEqual([]);
        expect((await store.get("routes", table.routes[0]!.id))?.service).toEqual({ id: svcId });
      });

      test("rows the parser gave random ids match stored rows by unique value, children included", async () => {
        const customId = unique("cid");
        const key = unique("key");
        const table = () => {
          const consumer = crypto.randomUUID();
          return {
            _format_version: "3.0",
            consumers: [{ id: consumer, custom_id: customId }],
            keyauth_credentials: [{ id: crypto.randomUUID(), key, consumer: { id: consumer } }],
          };
        };
        const first = await store.importAll(table());
        expect(first.inserted).toBe(2);
        const stored = await store.list("keyauth_credentials", { size: 1000 });
        const second = await store.importAll(table());
        expect(second).toMatchObject({ inserted: 0, updated: 0, unchanged: 2 });
        expect(await store.list("keyauth_credentials", { size: 1000 })).toEqual(stored);
      });

      test("a changed row is updated in place; replace deletes what the table no longer has", async () => {
        const svcId = crypto.randomUUID();
        const name = unique("repl");
        await store.importAll({ _format_version: "3.0", services: [{ id: svcId, name, host: "old" }] });
        const result = await store.importAll({
          _format_version: "3.0",
          services: [{ id: svcId, name, host: "new" }],
        });
        expect(result).toMatchObject({ inserted: 0, updated: 1 });
        expect((await store.get("services", svcId))?.host).toBe("new");

        const exported = await store.exportAll();
        const wiped = await store.importAll({ _format_version: "3.0" }, { replace: true });
        expect(wiped.deleted).toBeGreaterThan(0);
        expect((await store.list("services")).data).toEqual([]);
        expect(await store.exportAll()).toEqual({ _format_version: "3.0", _transform: false });
        await store.importAll(exported);
        const reimported = await store.exportAll();
        expect(reimported).toEqual(exported);
        expect(configHash(reimported).config).toBe(configHash(exported).config);
      });

      test("export uses Kong's shape: foreign keys as plain ids; skipDisabled leaves out what a data plane must not run", async () => {
        const off = await service({ enabled: false });
        const offRoute = await store.insert("routes", { name: unique("r"), service: { id: off.id } });
        const on = await service({ enabled: true });
        const onRoute = await store.insert("routes", { name: unique("r"), service: { id: on.id } });
        const offPlugin = await store.insert("plugins", {
          name: "cors",
          enabled: false,
          route: { id: onRoute.id },
        });
        const onOffRoute = await store.insert("plugins", { name: "cors", route: { id: offRoute.id } });
        const full = await store.exportAll();
        const ids = (table: Record<string, unknown>, entity: string) =>
          ((table[entity] as Row[] | undefined) ?? []).map((r) => r.id);
        expect((full.routes as Row[]).find((r) => r.id === onRoute.id)?.service).toBe(on.id);
        expect(ids(full, "services")).toContain(off.id);
        const live = await store.exportAll({ skipDisabled: true });
        expect(ids(live, "services")).toContain(on.id);
        expect(ids(live, "services")).not.toContain(off.id);
        expect(ids(live, "routes")).toContain(onRoute.id);
        expect(ids(live, "routes")).not.toContain(offRoute.id);
        expect(ids(live, "plugins")).not.toContain(offPlugin.id);
        expect(ids(live, "plugins")).not.toContain(onOffRoute.id);
      });

      test("an import with a dangling reference or a duplicate name writes nothing", async () => {
        const version = await store.version();
        const svcId = crypto.randomUUID();
        const dangling = crypto.randomUUID();
        const bad = await failure(
          store.importAll({
            _format_version: "3.0",
            services: [{ id: svcId, name: unique("ok"), host: "h" }],
            routes: [{ id: crypto.randomUUID(), name: unique("r"), service: { id: dangling } }],
          }),
        );
        expect(bad.body.message).toBe(
          `the foreign key '{id="${dangling}"}' does not reference an existing 'services' entity.`,
        );
        expect(await store.get("services", svcId)).toBeNull();
        const name = unique("dup");
        const dup = await failure(
          store.importAll({
            _format_version: "3.0",
            services: [
              { id: crypto.randomUUID(), name, host: "h" },
              { id: crypto.randomUUID(), name, host: "h" },
            ],
          }),
        );
        expect(dup).toMatchObject({
          status: 409,
          body: { message: `UNIQUE violation detected on '{name="${name}"}'` },
        });
        expect(await store.version()).toBe(version);
      });
    });

    describe("data planes", () => {
      test("a data plane is listed with its remaining ttl, updated in place, and purged when stale", async () => {
        const id = crypto.randomUUID();
        const now = Math.floor(Date.now() / 1000);
        const dp = {
          id,
          hostname: "dp-1",
          ip: "127.0.0.1",
          last_seen: now,
          config_hash: "a".repeat(32),
          version: "3.10.0",
          sync_status: "normal",
          labels: { region: "eu" },
          cert_details: { expiry_timestamp: now + 1000 },
        };
        await store.upsertDataPlane(dp, 3600);
        await store.upsertDataPlane({ ...dp, config_hash: "b".repeat(32) }, 3600);
        const listed = (await store.listDataPlanes()).data.find((d) => d.id === id)!;
        expect(listed).toMatchObject({
          hostname: "dp-1",
          config_hash: "b".repeat(32),
          labels: { region: "eu" },
        });
        expect(listed.cert_details).toEqual({ expiry_timestamp: now + 1000 });
        expect(listed.ttl).toBeGreaterThan(3500);
        expect(listed.ttl).toBeLessThanOrEqual(3600);

        const expired = crypto.randomUUID();
        await store.upsertDataPlane({ ...dp, id: expired }, 0);
        expect((await store.listDataPlanes()).data.map((d) => d.id)).not.toContain(expired);
        const other = crypto.randomUUID();
        await store.upsertDataPlane({ ...dp, id: other, hostname: "dp-2" }, 3600);
        const page1 = await store.listDataPlanes({ size: 1 });
        const page2 = await store.listDataPlanes({ size: 1, offset: page1.offset });
        expect([...page1.data, ...page2.data].map((d) => d.id).sort()).toEqual([id, other].sort());
        expect(page2.offset).toBeUndefined();
        await store.upsertDataPlane({ ...dp, id: other, last_seen: now - 20_000 }, 3600);

        const stale = crypto.randomUUID();
        await store.upsertDataPlane({ ...dp, id: stale, last_seen: now - 10_000 }, 3600);
        expect(await store.purgeDataPlanes(now - 5000)).toBe(3);
        expect((await store.listDataPlanes()).data.map((d) => d.id)).toEqual([id]);
      });
    });
  });
}
