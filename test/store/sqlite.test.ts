import { afterAll, expect, setDefaultTimeout, test } from "bun:test";
import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { ChangeEvent } from "../../src/store/store";
import { DATABASE_TEST_TIMEOUT, until } from "./fixtures";

setDefaultTimeout(DATABASE_TEST_TIMEOUT);

const root = mkdtempSync(join(tmpdir(), "gw-sqlite-"));
afterAll(() => rmSync(root, { recursive: true, force: true }));

test("the embedded store bootstraps itself in a private directory and a private file", async () => {
  const prefix = join(root, "fresh", "prefix");
  const store = await openStore({ database: "sqlite", prefix });
  await store.insert("services", { name: "first", host: "h" });
  await store.close();
  expect(statSync(prefix).mode & 0o777).toBe(0o700);
  expect(statSync(join(prefix, "gw.db")).mode & 0o777).toBe(0o600);
  expect((await migrationsCommand("list", { database: "sqlite", prefix })).code).toBe(0);

  const reopened = await openStore({ database: "sqlite", prefix });
  expect((await reopened.get("services", "first"))?.host).toBe("h");
  await reopened.close();
});

test("a write by another process on the same file reaches the change feed", async () => {
  const prefix = join(root, "shared");
  const node = await openStore({ database: "sqlite", prefix });
  const importer = await openStore({ database: "sqlite", prefix });
  const events: ChangeEvent[] = [];
  node.onChange((e) => events.push(e));
  try {
    await importer.importAll({
      _format_version: "3.0",
      services: [{ id: crypto.randomUUID(), name: "s", host: "h" }],
    });
    const version = await importer.version();
    await until(events, (e) => e.some((x) => x.version === version));
    expect(events).toEqual([{ version, op: "resync", remote: true }]);
  } finally {
    await importer.close();
    await node.close();
  }
});
