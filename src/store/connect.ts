/** Picks and opens the database driver from the settings (`database = sqlite | postgres`), with Kong's pg_* defaults. */
import type { Driver } from "./driver";
import { openPostgresDriver } from "./postgres";
import { openSqliteDriver } from "./sqlite";

/** The settings the store reads; structurally a subset of gw's Settings so either can be passed. */
export interface StoreSettings {
  database: string;
  prefix: string;
  pg_host?: string;
  pg_port?: number;
  pg_user?: string;
  pg_password?: string | null;
  pg_database?: string;
  pg_ssl?: boolean;
  pg_ssl_verify?: boolean;
  /** Milliseconds, as Kong's `pg_timeout`. */
  pg_timeout?: number;
  pg_pool_size?: number;
}

export function describeDatabase(settings: StoreSettings): string {
  if (settings.database !== "postgres") return `SQLite database in '${settings.prefix}'`;
  return `PostgreSQL database '${settings.pg_database ?? "kong"}' at ${settings.pg_host ?? "127.0.0.1"}:${settings.pg_port ?? 5432} (user '${settings.pg_user ?? "kong"}')`;
}

/** Errors the driver raises before any query ran: the database is unreachable or refuses us. */
function isConnectionError(error: unknown): boolean {
  const e = error as { code?: string; errno?: string };
  return (
    /^ERR_POSTGRES_(CONNECTION|AUTH|TLS|SASL|IDLE)/.test(e?.code ?? "") ||
    ["28P01", "28000", "3D000"].includes(e?.errno ?? "")
  );
}

/** Says which database gw tried to reach when it could not, so the pg_* setting to fix is obvious. */
export function explainConnectionError(settings: StoreSettings, error: unknown): unknown {
  if (!isConnectionError(error)) return error;
  return new Error(`could not connect to the ${describeDatabase(settings)}: ${(error as Error).message}`, {
    cause: error,
  });
}

export function openDriver(settings: StoreSettings): Driver {
  switch (settings.database) {
    case "sqlite":
      return openSqliteDriver(settings.prefix);
    case "postgres":
      return openPostgresDriver({
        host: settings.pg_host ?? "127.0.0.1",
        port: settings.pg_port ?? 5432,
        user: settings.pg_user ?? "kong",
        password: settings.pg_password,
        database: settings.pg_database ?? "kong",
        ssl: settings.pg_ssl ?? false,
        sslVerify: settings.pg_ssl_verify ?? false,
        timeoutMs: settings.pg_timeout ?? 5000,
        poolSize: settings.pg_pool_size ?? 10,
      });
    default:
      throw new Error(
        `database has an invalid value: '${settings.database}' (expected one of: sqlite, postgres; 'off' runs without a store)`,
      );
  }
}
