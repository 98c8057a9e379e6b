import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { dbExport, dbExportToFile } from "../../src/store/import-export";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { Store } from "../../src/store/store";
import { BACKENDS } from "./fixtures";

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
