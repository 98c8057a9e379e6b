import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { openDriver, type StoreSettings } from "../../src/store/connect";
import { openStore } from "../../src/store/index";
import { MIGRATIONS, migrationsCommand, NEEDS_BOOTSTRAP, schemaState, up } from "../../src/store/migrations";
import { BACKENDS, DATABASE_TEST_TIMEOUT, MODELS } from "./fixtures";

setDefaultTimeout(DATABASE_TEST_TIMEOUT);

for (const backend of BACKENDS) {
  describe(`migrations on ${backend.name}`, () => {
    let settings: StoreSettings;
    let drop: () => Promise<void>;

    beforeAll(async () => {
      ({ settings, drop } = await backend.create());
    });
    afterAll(() => drop?.());

    test("the verbs walk an empty database through bootstrap, list, up and reset as Kong's do", async () => {
      expect(await migrationsCommand("list", settings)).toEqual({ code: 3, output: NEEDS_BOOTSTRAP });
      const upFirst = await migrationsCommand("up", settings);
      expect(upFirst.code).toBe(1);
      expect(upFirst.output).toContain("run 'gw migrations bootstrap'");

      expect(await migrationsCommand("bootstrap", settings)).toEqual({
        code: 0,
        output: "Bootstrapping database...\nDatabase is up-to-date",
      });
      expect(await migrationsCommand("bootstrap", settings)).toEqual({
        code: 0,
        output: "Database already bootstrapped",
      });
      expect(await migrationsCommand("list", settings)).toEqual({
        code: 0,
        output: `Executed migrations:\ncore: ${MIGRATIONS.map((m) => m.name).join(", ")}`,
      });
      expect(await migrationsCommand("up", settings)).toEqual({
        code: 0,
        output: "Database is already up-to-date",
      });
      expect(await migrationsCommand("finish", settings)).toEqual({
        code: 0,
        output: "No pending migrations to finish",
      });

      const store = await openStore(settings);
      await store.insert("services", { name: "kept-until-reset", host: "h" });
      await store.close();

      const refused = await migrationsCommand("reset", settings);
      expect(refused.code).toBe(1);
      expect(refused.output).toContain("--yes");
      expect(await migrationsCommand("reset", settings, { yes: true })).toEqual({
        code: 0,
        output: "Resetting database...\nDatabase successfully reset",
      });
      expect((await migrationsCommand("list", settings)).code).toBe(3);
      expect(await migrationsCommand("reset", settings, { yes: true })).toEqual({
        code: 0,
        output: "Database not bootstrapped, nothing to reset",
      });
    });

    test("a new migration is listed as pending, and up runs it once", async () => {
      await migrationsCommand("bootstrap", settings);
      const extra = [
        ...MIGRATIONS,
        { name: "999_test_extra", statements: () => ["CREATE TABLE gw_test_extra (id TEXT PRIMARY KEY)"] },
      ];
      const driver = openDriver(settings);
      try {
        expect((await schemaState(driver, extra)).pending).toEqual(["999_test_extra"]);
        expect(await up(driver, MODELS, extra)).toEqual(["999_test_extra"]);
        expect(await up(driver, MODELS, extra)).toEqual([]);
        expect((await schemaState(driver, extra)).pending).toEqual([]);
      } finally {
        await driver.close();
      }
      await migrationsCommand("reset", settings, { yes: true });
    });

    test("an unknown verb names the valid ones", async () => {
      expect(await migrationsCommand("migrate-apis", settings)).toEqual({
        code: 1,
        output:
          "Error: unknown migrations command 'migrate-apis' (expected one of: bootstrap, up, finish, list, reset)",
      });
    });
  });
}

describe("opening a store", () => {
  test("PostgreSQL that was never bootstrapped refuses with Kong's message", async () => {
    const { settings, drop } = await BACKENDS.find((b) => b.name === "postgres")!.create();
    try {
      await expect(openStore(settings)).rejects.toThrow(NEEDS_BOOTSTRAP);
    } finally {
      await drop();
    }
  });

  test("an unreachable PostgreSQL is reported with where gw tried to connect", async () => {
    const settings = {
      database: "postgres",
      prefix: "/tmp",
      pg_host: "127.0.0.1",
      pg_port: 1,
      pg_timeout: 1000,
    };
    await expect(openStore(settings)).rejects.toThrow(
      /could not connect to the PostgreSQL database 'kong' at 127\.0\.0\.1:1/,
    );
  });

  test("a missing PostgreSQL database is named in the migrations error", async () => {
    const settings = {
      database: "postgres",
      prefix: "/tmp",
      pg_user: "postgres",
      pg_database: "gw_never_created",
    };
    const result = await migrationsCommand("bootstrap", settings);
    expect(result.code).toBe(1);
    expect(result.output).toStartWith(
      "Error: could not connect to the PostgreSQL database 'gw_never_created' at 127.0.0.1:5432 (user 'postgres'): ",
    );
    expect(result.output).toContain("does not exist");
  });

  test("an unknown database setting names the accepted values", async () => {
    await expect(openStore({ database: "mysql", prefix: "/tmp" })).rejects.toThrow(
      "database has an invalid value: 'mysql' (expected one of: sqlite, postgres",
    );
  });
});
