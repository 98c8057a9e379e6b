/** Versioned schema migrations for both databases and Kong's `migrations bootstrap | up | list | reset` verbs. */
import { createTableStatements, quote } from "./columns";
import { describeDatabase, explainConnectionError, openDriver, type StoreSettings } from "./connect";
import type { Conn, Dialect, Driver } from "./driver";
import type { ModelSet } from "./model";
import { entityModels } from "./registry";

export interface Migration {
  name: string;
  /** Entity tables this migration creates, shaped by the entity registry. */
  entities?: readonly string[];
  statements?: (dialect: Dialect) => string[];
}

function baseTables(d: Dialect): string[] {
  return [
    `CREATE TABLE config_version (id INTEGER PRIMARY KEY CHECK (id = 1), version ${d.types.bigint} NOT NULL)`,
    "INSERT INTO config_version (id, version) VALUES (1, 0)",
    `CREATE TABLE clustering_data_planes (id TEXT PRIMARY KEY, hostname TEXT NOT NULL, ip TEXT NOT NULL,
      last_seen ${d.types.double}, config_hash TEXT, version TEXT, sync_status TEXT NOT NULL DEFAULT 'unknown',
      labels TEXT, cert_details TEXT, rpc_capabilities TEXT, updated_at ${d.types.double}, expires_at ${d.types.double})`,
    "CREATE INDEX clustering_data_planes_expires_at_idx ON clustering_data_planes (expires_at)",
  ];
}

/** Append only: a released migration never changes, a new table or column is a new entry. */
export const MIGRATIONS: readonly Migration[] = [
  { name: "000_base", statements: baseTables },
  {
    name: "001_core_entities",
    entities: [
      "certificates",
      "ca_certificates",
      "snis",
      "services",
      "routes",
      "consumers",
      "upstreams",
      "targets",
      "plugins",
      "keyauth_credentials",
      "basicauth_credentials",
      "acls",
    ],
  },
];

const BOOKKEEPING = "schema_migrations";

export const NEEDS_BOOTSTRAP =
  "Database needs bootstrapping or is older than Kong 1.0.\n\nTo start a new installation from scratch, run 'gw migrations bootstrap'.";
export const NEW_MIGRATIONS = "New migrations available; run 'gw migrations up' to proceed";

export interface SchemaState {
  bootstrapped: boolean;
  executed: string[];
  pending: string[];
}

/** Fails fast when the registry has an entity no migration creates: it would have no table. */
export function assertMigrationsCover(models: ModelSet, migrations: readonly Migration[] = MIGRATIONS): void {
  const created = new Set(migrations.flatMap((m) => m.entities ?? []));
  const missing = models.ordered.filter((m) => !created.has(m.name)).map((m) => m.name);
  if (missing.length > 0) throw new Error(`no migration creates the table of: ${missing.join(", ")}`);
}

function statementsOf(migration: Migration, dialect: Dialect, models: ModelSet): string[] {
  const wanted = new Set(migration.entities ?? []);
  return [
    ...(migration.statements?.(dialect) ?? []),
    ...models.ordered.filter((m) => wanted.has(m.name)).flatMap((m) => createTableStatements(m, dialect)),
  ];
}

async function executed(conn: Conn): Promise<string[]> {
  return (await conn.all(`SELECT name FROM ${BOOKKEEPING} ORDER BY name`)).map((r) => r.name as string);
}

export async function schemaState(
  driver: Driver,
  migrations: readonly Migration[] = MIGRATIONS,
): Promise<SchemaState> {
  if (!(await driver.dialect.tableExists(driver.read, BOOKKEEPING))) {
    return { bootstrapped: false, executed: [], pending: migrations.map((m) => m.name) };
  }
  const done = await executed(driver.read);
  return {
    bootstrapped: true,
    executed: done,
    pending: migrations.map((m) => m.name).filter((n) => !done.includes(n)),
  };
}

/** Runs what is not yet recorded, in one transaction under the migration lock; returns the names it ran. */
async function runPending(conn: Conn, driver: Driver, models: ModelSet, migrations: readonly Migration[]) {
  const done = new Set(await executed(conn));
  const ran: string[] = [];
  for (const migration of migrations.filter((m) => !done.has(m.name))) {
    for (const statement of statementsOf(migration, driver.dialect, models)) await conn.run(statement);
    await conn.run(`INSERT INTO ${BOOKKEEPING} (name, executed_at) VALUES (?, ?)`, [
      migration.name,
      Math.floor(Date.now() / 1000),
    ]);
    ran.push(migration.name);
  }
  return ran;
}

/** Creates the schema on an empty database; false when it was already bootstrapped. */
export async function bootstrap(driver: Driver, models: ModelSet, migrations = MIGRATIONS): Promise<boolean> {
  return driver.writeTx(async (conn) => {
    await driver.dialect.migrationLock(conn);
    if (await driver.dialect.tableExists(conn, BOOKKEEPING)) return false;
    await conn.run(
      `CREATE TABLE ${BOOKKEEPING} (name TEXT PRIMARY KEY, executed_at ${driver.dialect.types.double})`,
    );
    await runPending(conn, driver, models, migrations);
    return true;
  });
}

export async function up(driver: Driver, models: ModelSet, migrations = MIGRATIONS): Promise<string[]> {
  return driver.writeTx(async (conn) => {
    await driver.dialect.migrationLock(conn);
    if (!(await driver.dialect.tableExists(conn, BOOKKEEPING)))
      throw new Error(`Cannot run migrations: ${NEEDS_BOOTSTRAP}`);
    return runPending(conn, driver, models, migrations);
  });
}

/** Drops every gw table; false when there was nothing to drop. */
export async function reset(driver: Driver, models: ModelSet): Promise<boolean> {
  return driver.writeTx(async (conn) => {
    await driver.dialect.migrationLock(conn);
    if (!(await driver.dialect.tableExists(conn, BOOKKEEPING))) return false;
    const tables = [
      ...models.ordered.map((m) => m.name).reverse(),
      "clustering_data_planes",
      "config_version",
      BOOKKEEPING,
    ];
    for (const table of tables) await conn.run(`DROP TABLE IF EXISTS ${quote(table)}`);
    return true;
  });
}

/** `finish` exists for scripts written for Kong (`up && finish`): gw's migrations complete in `up`. */
const VERBS = ["bootstrap", "up", "finish", "list", "reset"] as const;
export type MigrationsVerb = (typeof VERBS)[number];

export interface CommandResult {
  /** Kong's exit codes: 0 fine, 1 error, 3 needs bootstrap (list), 5 new migrations available (list). */
  code: number;
  output: string;
}

async function runVerb(verb: MigrationsVerb, driver: Driver, models: ModelSet, yes: boolean, where: string) {
  const state = await schemaState(driver);
  switch (verb) {
    case "bootstrap":
      if (!(await bootstrap(driver, models))) return { code: 0, output: "Database already bootstrapped" };
      return { code: 0, output: "Bootstrapping database...\nDatabase is up-to-date" };
    case "up": {
      if (!state.bootstrapped) return { code: 1, output: `Error: Cannot run migrations: ${NEEDS_BOOTSTRAP}` };
      const ran = await up(driver, models);
      if (ran.length === 0) return { code: 0, output: "Database is already up-to-date" };
      return {
        code: 0,
        output: `migrating core on ${where}...\ncore migrated up to: ${ran.at(-1)}\n${ran.length} migrations executed\nDatabase is up-to-date`,
      };
    }
    case "list": {
      if (!state.bootstrapped) return { code: 3, output: NEEDS_BOOTSTRAP };
      const lines = [`Executed migrations:\ncore: ${state.executed.join(", ")}`];
      if (state.pending.length === 0) return { code: 0, output: lines[0]! };
      lines.push(
        `\nNew migrations available:\ncore: ${state.pending.join(", ")}`,
        "\nRun 'gw migrations up' to proceed",
      );
      return { code: 5, output: lines.join("\n") };
    }
    case "finish":
      if (!state.bootstrapped) return { code: 1, output: `Error: Cannot run migrations: ${NEEDS_BOOTSTRAP}` };
      return { code: 0, output: "No pending migrations to finish" };
    case "reset":
      if (!yes)
        return { code: 1, output: "Error: not a tty: invoke 'reset' non-interactively with the --yes flag" };
      if (!(await reset(driver, models)))
        return { code: 0, output: "Database not bootstrapped, nothing to reset" };
      return { code: 0, output: "Resetting database...\nDatabase successfully reset" };
  }
}

/** `gw migrations <verb>`: the CLI prints `output` and exits with `code`. `reset` needs `yes` (Kong's `--yes`). */
export async function migrationsCommand(
  verb: string,
  settings: StoreSettings,
  options: { yes?: boolean; models?: ModelSet } = {},
): Promise<CommandResult> {
  if (!(VERBS as readonly string[]).includes(verb)) {
    return {
      code: 1,
      output: `Error: unknown migrations command '${verb}' (expected one of: ${VERBS.join(", ")})`,
    };
  }
  let driver: Driver | undefined;
  try {
    driver = openDriver(settings);
    return await runVerb(
      verb as MigrationsVerb,
      driver,
      options.models ?? entityModels(),
      options.yes === true,
      describeDatabase(settings),
    );
  } catch (error) {
    return { code: 1, output: `Error: ${(explainConnectionError(settings, error) as Error).message}` };
  } finally {
    await driver?.close();
  }
}
