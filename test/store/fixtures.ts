/** Store test helpers: the entity models and the two backends every store test runs against. */

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SQL } from "bun";
import type { StoreSettings } from "../../src/store/connect";
import { entityModels } from "../../src/store/registry";

/** Store tests create PostgreSQL databases and walk real transactions; on a busy machine that exceeds 5 s. */
export const DATABASE_TEST_TIMEOUT = 60_000;

/** The real entity registry: the suite checks the constraints users will meet. */
export const MODELS = entityModels();

const PG_ADMIN = { hostname: "127.0.0.1", port: 5432, username: "postgres", database: "postgres" };

export interface Backend {
  name: "sqlite" | "postgres";
  /** A fresh, empty database; `drop` removes it. */
  create(): Promise<{ settings: StoreSettings; drop(): Promise<void> }>;
}

export const BACKENDS: Backend[] = [
  {
    name: "sqlite",
    async create() {
      const prefix = join(mkdtempSync(join(tmpdir(), "gw-store-")), "prefix");
      return {
        settings: { database: "sqlite", prefix },
        drop: async () => rmSync(join(prefix, ".."), { recursive: true, force: true }),
      };
    },
  },
  {
    name: "postgres",
    async create() {
      const database = `gw_test_${crypto.randomUUID().replaceAll("-", "").slice(0, 12)}`;
      const admin = new SQL(PG_ADMIN);
      await admin.unsafe(`CREATE DATABASE ${database}`);
      await admin.close();
      return {
        settings: {
          database: "postgres",
          prefix: tmpdir(),
          pg_host: "127.0.0.1",
          pg_port: 5432,
          pg_user: "postgres",
          pg_database: database,
        },
        drop: async () => {
          const sql = new SQL(PG_ADMIN);
          await sql.unsafe(`DROP DATABASE IF EXISTS ${database} WITH (FORCE)`);
          await sql.close();
        },
      };
    },
  },
];

/** Resolves once `predicate` holds for something `events` collected; the test's own timeout bounds the wait. */
export async function until<T>(events: T[], predicate: (events: T[]) => boolean): Promise<void> {
  while (!predicate(events)) await Bun.sleep(10);
}
