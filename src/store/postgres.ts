/** The shared store: PostgreSQL through Bun.sql, with LISTEN/NOTIFY so every control plane on the database sees every change. */
import { SQL } from "bun";
import { type Conn, type ConstraintFailure, type DbRow, type Dialect, type Driver, Mutex } from "./driver";

/** The NOTIFY channel every gw control plane on the database listens to. */
const CHANGE_CHANNEL = "gw_config_changes";
/** Arbitrary but fixed: the advisory lock two processes take before migrating. */
const MIGRATION_LOCK_KEY = 7_467_710;

export interface PostgresOptions {
  host: string;
  port: number;
  user: string;
  password?: string | null;
  database: string;
  ssl: boolean;
  sslVerify: boolean;
  /** Kong's `pg_timeout`, in milliseconds. */
  timeoutMs: number;
  poolSize: number;
}

const q = (identifier: string) => `"${identifier}"`;

const postgresDialect: Dialect = {
  name: "postgres",
  types: { double: "DOUBLE PRECISION", bigint: "BIGINT", json: "JSONB" },
  order: "seq",
  orderColumn: "seq BIGINT GENERATED ALWAYS AS IDENTITY",
  tagsIndex: (table) => [`CREATE INDEX ${q(`${table}_tags_idx`)} ON ${q(table)} USING GIN (tags)`],
  // Parameters are typed TEXT first: Bun.sql would JSON-encode a string sent for a JSONB parameter a second time.
  tagsAll: "t.tags @> CAST(CAST(? AS TEXT) AS JSONB)",
  tagsAny:
    "jsonb_exists_any(t.tags, ARRAY(SELECT jsonb_array_elements_text(CAST(CAST(? AS TEXT) AS JSONB))))",
  jsonFromText: (expr) => `CAST(CAST(${expr} AS TEXT) AS JSONB)`,
  bulkSource: "jsonb_array_elements(CAST(CAST(? AS TEXT) AS JSONB)) AS r(value)",
  bulkText: (i) => `(r.value ->> ${i})`,
  tagRows: (table) => `SELECT jsonb_array_elements_text(t.tags) AS tag, t.id AS id FROM ${q(table)} t`,
  docField: (field) => `(CAST(doc AS JSONB) ->> '${field}')`,
  tableExists: async (conn, table) =>
    (
      await conn.all(
        "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?",
        [table],
      )
    ).length > 0,
  migrationLock: async (conn) => {
    await conn.all(`SELECT pg_advisory_xact_lock(${MIGRATION_LOCK_KEY})`);
  },
};

const numbered = new Map<string, string>();

/** Our SQL uses `?`; PostgreSQL wants `$1, $2…`. None of our statements has a literal `?`. */
function toPostgres(sql: string): string {
  let text = numbered.get(sql);
  if (text === undefined) {
    let n = 0;
    text = sql.replace(/\?/g, () => `$${++n}`);
    numbered.set(sql, text);
  }
  return text;
}

function connOf(sql: SQL): Conn {
  return {
    all: async (text, params = []) => [...((await sql.unsafe(toPostgres(text), params)) as DbRow[])],
    run: async (text, params = []) => Number((await sql.unsafe(toPostgres(text), params)).count ?? 0),
  };
}

function classify(error: unknown): ConstraintFailure {
  const e = error as { errno?: string; detail?: string };
  if (e?.errno === "23503") return { kind: "foreign_key" };
  if (e?.errno === "23505") return { kind: "unique", column: /Key \(([^)]+)\)=/.exec(e.detail ?? "")?.[1] };
  return null;
}

export function openPostgresDriver(options: PostgresOptions): Driver {
  const sql = new SQL({
    adapter: "postgres",
    hostname: options.host,
    port: options.port,
    username: options.user,
    password: options.password ?? undefined,
    database: options.database,
    tls: options.ssl ? { rejectUnauthorized: options.sslVerify } : false,
    max: options.poolSize,
    connectionTimeout: Math.max(1, Math.ceil(options.timeoutMs / 1000)),
    idleTimeout: 60,
  });
  // Every write bumps one row anyway; queueing them here keeps change events in commit order.
  const writes = new Mutex();
  return {
    dialect: postgresDialect,
    read: connOf(sql),
    writeTx: (fn, afterCommit) =>
      writes.run(async () => {
        const result = await sql.begin((tx) => fn(connOf(tx)));
        afterCommit?.(result);
        return result;
      }),
    snapshot: (fn) => sql.begin("isolation level repeatable read read only", (tx) => fn(connOf(tx))),
    classify,
    publish: async (conn, payload) => {
      await conn.all("SELECT pg_notify(?, ?)", [CHANGE_CHANNEL, payload]);
    },
    subscribe: async (onPayload, onConnected) => {
      const subscription = await sql.listen(CHANGE_CHANNEL, onPayload, onConnected);
      return () => subscription.unlisten();
    },
    close: async () => {
      await writes.run(async () => {});
      await sql.close();
    },
  };
}
