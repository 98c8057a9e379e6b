import { afterAll, beforeAll, expect, setDefaultTimeout, test } from "bun:test";
import { SQL } from "bun";
import { openStore } from "../../src/store/index";
import { migrationsCommand } from "../../src/store/migrations";
import type { ChangeEvent, Store } from "../../src/store/store";
import { BACKENDS, DATABASE_TEST_TIMEOUT, until } from "./fixtures";

setDefaultTimeout(DATABASE_TEST_TIMEOUT);

let a: Store;
let b: Store;
let drop: () => Promise<void>;
let database: string;

beforeAll(async () => {
  const db = await BACKENDS.find((x) => x.name === "postgres")!.create();
  drop = db.drop;
  database = db.settings.pg_database!;
  await migrationsCommand("bootstrap", db.settings);
  a = await openStore(db.settings);
  b = await openStore(db.settings);
});

afterAll(async () => {
  await a?.close();
  await b?.close();
  await drop?.();
});

test("two control planes on one database each see the other's writes on their change feed", async () => {
  const seenByA: ChangeEvent[] = [];
  const seenByB: ChangeEvent[] = [];
  a.onChange((e) => seenByA.push(e));
  b.onChange((e) => seenByB.push(e));

  const fromA = await a.insert("services", { name: "from-a", host: "h" });
  await until(seenByB, (e) => e.some((x) => x.id === fromA.id));
  expect(seenByB.find((x) => x.id === fromA.id)).toMatchObject({
    op: "create",
    entity: "services",
    remote: true,
  });
  expect(await b.get("services", "from-a")).toEqual(fromA);

  const fromB = await b.update("services", "from-a", { host: "changed" });
  await until(seenByA, (e) => e.some((x) => x.op === "update"));
  expect(seenByA.filter((x) => x.op === "update")).toEqual([
    { version: await a.version(), op: "update", entity: "services", id: fromB.id as string, remote: true },
  ]);
  expect(seenByA.filter((x) => !x.remote)).toHaveLength(1);
});

test("a listener whose connection dropped catches up on the version it missed", async () => {
  const seen: ChangeEvent[] = [];
  b.onChange((e) => seen.push(e));
  const admin = new SQL({ hostname: "127.0.0.1", port: 5432, username: "postgres", database: "postgres" });
  await admin.unsafe(
    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = $1 AND query ILIKE 'LISTEN%'",
    [database],
  );
  await admin.close();
  const row = await a.insert("consumers", { username: "while-reconnecting" });
  const version = await a.version();
  await until(seen, (e) => e.some((x) => x.version >= version));
  expect(seen.some((x) => x.id === row.id || x.op === "resync")).toBe(true);
});
