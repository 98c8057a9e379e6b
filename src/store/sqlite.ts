/** The embedded store: bun:sqlite in WAL mode at `<prefix>/gw.db`, one writer connection and one reader. */
import { Database, SQLiteError, type SQLQueryBindings } from "bun:sqlite";
import { chmodSync, closeSync, existsSync, mkdirSync, openSync } from "node:fs";
import { join } from "node:path";
import { type Conn, type ConstraintFailure, type DbRow, type Dialect, type Driver, Mutex } from "./driver";

const SQLITE_FILE = "gw.db";
/** How long a writer waits for another process' lock (a `gw config db_import` next to a running node). */
const BUSY_TIMEOUT_MS = 5000;

const q = (identifier: string) => `"${identifier}"`;

const sqliteDialect: Dialect = {
  name: "sqlite",
  types: { double: "REAL", bigint: "INTEGER", json: "TEXT" },
  order: "rowid",
  tagsIndex: () => [],
  tagsAll:
    "NOT EXISTS (SELECT 1 FROM json_each(?) w WHERE w.value NOT IN (SELECT g.value FROM json_each(t.tags) g))",
  tagsAny: "EXISTS (SELECT 1 FROM json_each(t.tags) g WHERE g.value IN (SELECT w.value FROM json_each(?) w))",
  jsonFromText: (expr) => expr,
  bulkSource: "json_each(?) r",
  bulkText: (i) => `json_extract(r.value, '$[${i}]')`,
  tagRows: (table) => `SELECT g.value AS tag, t.id AS id FROM ${q(table)} t, json_each(t.tags) g`,
  docField: (field) => `json_extract(doc, '$.${field}')`,
  tableExists: async (conn, table) =>
    (await conn.all("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?", [table])).length > 0,
  // BEGIN IMMEDIATE already holds the only write lock there is.
  migrationLock: async () => {},
};

function connOf(db: Database): Conn {
  return {
    // db.query caches the compiled statement per SQL text.
    all: async (sql, params = []) => db.query(sql).all(...(params as SQLQueryBindings[])) as DbRow[],
    run: async (sql, params = []) => db.query(sql).run(...(params as SQLQueryBindings[])).changes,
  };
}

function classify(error: unknown): ConstraintFailure {
  if (!(error instanceof SQLiteError)) return null;
  if (error.code === "SQLITE_CONSTRAINT_FOREIGNKEY") return { kind: "foreign_key" };
  if (error.code === "SQLITE_CONSTRAINT_UNIQUE" || error.code === "SQLITE_CONSTRAINT_PRIMARYKEY") {
    return { kind: "unique", column: /constraint failed: [^.\s]+\.([^,\s]+)/.exec(error.message)?.[1] };
  }
  return null;
}

function open(path: string, readonly: boolean): Database {
  const db = new Database(path, { create: !readonly, strict: true });
  db.run(`PRAGMA busy_timeout = ${BUSY_TIMEOUT_MS}`);
  db.run("PRAGMA journal_mode = WAL");
  db.run("PRAGMA foreign_keys = ON");
  db.run("PRAGMA synchronous = NORMAL");
  if (readonly) db.run("PRAGMA query_only = ON");
  return db;
}

/** Opens (creating it 0600 in a 0700 directory if needed) the database file under `prefix`. */
export function openSqliteDriver(prefix: string): Driver {
  if (!existsSync(prefix)) mkdirSync(prefix, { recursive: true, mode: 0o700 });
  const path = join(prefix, SQLITE_FILE);
  if (!existsSync(path)) {
    closeSync(openSync(path, "a", 0o600));
    chmodSync(path, 0o600);
  }
  const writer = open(path, false);
  const reader = open(path, true);
  const writes = new Mutex();
  const snapshots = new Mutex();
  const writerConn = connOf(writer);
  const readerConn = connOf(reader);
  return {
    dialect: sqliteDialect,
    read: readerConn,
    writeTx: (fn, afterCommit) =>
      writes.run(async () => {
        writer.run("BEGIN IMMEDIATE");
        let result: Awaited<ReturnType<typeof fn>>;
        try {
          result = await fn(writerConn);
          writer.run("COMMIT");
        } catch (error) {
          if (writer.inTransaction) writer.run("ROLLBACK");
          throw error;
        }
        afterCommit?.(result);
        return result;
      }),
    snapshot: (fn) =>
      snapshots.run(async () => {
        reader.run("BEGIN");
        try {
          return await fn(readerConn);
        } finally {
          reader.run("COMMIT");
        }
      }),
    classify,
    close: async () => {
      await writes.run(async () => {});
      reader.close();
      writer.close();
    },
  };
}
