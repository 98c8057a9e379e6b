import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { configHash } from "../../src/entities/hash";
import { dbExport, dbExportToFile, dbImport } from "../../src/store/import-export";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { Store } from "../../src/store/store";
import { BACKENDS, type Backend, DATABASE_TEST_TIMEOUT } from "./fixtures";

setDefaultTimeout(DATABASE_TEST_TIMEOUT);

const dir = mkdtempSync(join(tmpdir(), "gw-export-"));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

for (const backend of BACKENDS) {
  describe(`db_export on ${backend.name}`, () => {
    let store: Store;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      const db = await backend.create();
      drop = db.drop;
      if (backend.name === "postgres") await migrationsCommand("bootstrap", db.settings);
      store = await openStore(db.settings);
      const svc = await store.insert("services", {
        name: "httpbin",
        host: "httpbin.org",
        path: null,
        tags: ["a: b"],
      });
      await store.insert("routes", { name: "r1", paths: ["/x"], service: { id: svc.id } });
    });

    afterAll(async () => {
      await store?.close();
      await drop?.();
    });

    test("the YAML export reads back as exactly what the store holds", async () => {
      const yaml = await dbExport(store);
      expect(yaml.startsWith('_format_version: "3.0"\n_transform: false\n')).toBe(true);
      expect(Bun.YAML.parse(yaml)).toEqual(await store.exportAll());
    });

    test("a .json file name gets JSON", async () => {
      expect(JSON.parse(await dbExport(store, "out.json"))).toEqual(await store.exportAll());
    });

    test("exporting to a file writes it privately and never overwrites one", async () => {
      const file = join(dir, `${backend.name}.yml`);
      await dbExportToFile(store, file);
      expect(Bun.YAML.parse(readFileSync(file, "utf8"))).toEqual(await store.exportAll());
      expect(statSync(file).mode & 0o777).toBe(0o600);
      await expect(dbExportToFile(store, file)).rejects.toThrow(
        `${file} already exists. Will not overwrite it.`,
      );
    });
  });
}

const KONG_YML = `
_format_version: "3.0"
services:
  - name: httpbin
    url: http://httpbin.org/anything
    tags: [demo]
    routes:
      - name: get
        paths: [/get]
        plugins:
          - name: cors
    plugins:
      - name: rate-limiting
        config: { minute: 5 }
consumers:
  - username: alice
    keyauth_credentials:
      - key: alice-secret
upstreams:
  - name: backends
    targets:
      - target: 10.0.0.1:80
      - target: 10.0.0.2
`;

async function freshStore(backend: Backend): Promise<{ store: Store; drop(): Promise<void> }> {
  const db = await backend.create();
  if (backend.name === "postgres") await migrationsCommand("bootstrap", db.settings);
  return { store: await openStore(db.settings), drop: db.drop };
}

for (const backend of BACKENDS) {
  describe(`db_import on ${backend.name}`, () => {
    test("importing a nested kong.yml twice: the second import changes nothing and keeps every id", async () => {
      const { store, drop } = await freshStore(backend);
      try {
        const first = await dbImport(store, KONG_YML, "kong.yml");
        expect(first).toMatchObject({ inserted: 9, updated: 0, deleted: 0, unchanged: 0 });
        const route = await store.get("routes", "get");
        expect(route?.service).toEqual({ id: (await store.get("services", "httpbin"))?.id });
        const before = await store.exportAll();
        const second = await dbImport(store, KONG_YML, "kong.yml");
        expect(second).toMatchObject({ inserted: 0, updated: 0, unchanged: 9, version: first.version });
        expect((await store.list("keyauth_credentials")).data).toHaveLength(1);
        expect(await store.exportAll()).toEqual(before);
      } finally {
        await store.close();
        await drop();
      }
    });

    test("an edited file updates only what changed", async () => {
      const { store, drop } = await freshStore(backend);
      try {
        await dbImport(store, KONG_YML, "kong.yml");
        const result = await dbImport(store, KONG_YML.replace("/anything", "/status"), "kong.yml");
        expect(result).toMatchObject({ inserted: 0, updated: 1, unchanged: 8 });
        expect((await store.get("services", "httpbin"))?.path).toBe("/status");
      } finally {
        await store.close();
        await drop();
      }
    });

    test("db_export imports into an empty database as the same state with the same config hash", async () => {
      const source = await freshStore(backend);
      const target = await freshStore(backend);
      try {
        await dbImport(source.store, KONG_YML, "kong.yml");
        const exported = await dbExport(source.store);
        await dbImport(target.store, exported, "kong.yml");
        expect(await target.store.exportAll()).toEqual(await source.store.exportAll());
        expect(configHash(await target.store.exportAll({ skipDisabled: true }))).toEqual(
          configHash(await source.store.exportAll({ skipDisabled: true })),
        );
        expect(await dbExport(target.store)).toBe(exported);
      } finally {
        await source.store.close();
        await target.store.close();
        await source.drop();
        await target.drop();
      }
    });

    test("errors read as Kong's: what failed to parse, with its path; what failed to import, and nothing written", async () => {
      const { store, drop } = await freshStore(backend);
      try {
        const badParse = dbImport(
          store,
          "_format_version: '3.0'\nservices:\n  - name: x\n    host: x.example\n    port: 99999\n",
          "kong.yml",
        );
        await expect(badParse).rejects.toThrow(
          "Failed parsing:\nservices[0].port: value should be between 0 and 65535",
        );
        await store.insert("services", { name: "httpbin", host: "taken.example" });
        const version = await store.version();
        await expect(dbImport(store, KONG_YML, "kong.yml")).rejects.toThrow(
          `Failed importing:\nUNIQUE violation detected on '{name="httpbin"}'`,
        );
        expect(await store.version()).toBe(version);
        expect(await store.get("consumers", "alice")).toBeNull();
      } finally {
        await store.close();
        await drop();
      }
    });
  });
}
