/** The narrow seam between the generic store and a database: a connection, a write transaction, SQL dialect bits. */

export type DbRow = Record<string, unknown>;

/** Queries use `?` placeholders; the PostgreSQL driver renumbers them. */
export interface Conn {
  all(sql: string, params?: unknown[]): Promise<DbRow[]>;
  /** Returns the number of rows changed. */
  run(sql: string, params?: unknown[]): Promise<number>;
}

/** A constraint the database refused, in terms the store maps to Kong's errors. */
export type ConstraintFailure = { kind: "unique"; column?: string } | { kind: "foreign_key" } | null;

export interface Dialect {
  readonly name: "sqlite" | "postgres";
  readonly types: { double: string; bigint: string; json: string };
  /** The column rows are listed and paged by: insertion order, which timestamps in seconds cannot give. */
  readonly order: string;
  /** Its definition, when the database does not provide one (SQLite's rowid). */
  readonly orderColumn?: string;
  /** Extra DDL for the tags column (PostgreSQL indexes it with GIN). */
  tagsIndex(table: string): string[];
  /** A condition true when column `tags` of alias `t` holds every tag of the JSON-array parameter. */
  tagsAll: string;
  /** A condition true when column `tags` of alias `t` holds one of the tags of the JSON-array parameter. */
  tagsAny: string;
  /** Turns a JSON-text expression into a value the tags column accepts. */
  jsonFromText(expr: string): string;
  /** `FROM` clause expanding a JSON array parameter of arrays into rows named `r`. */
  bulkSource: string;
  /** Element `i` of a bulk row as text. */
  bulkText(i: number): string;
  /** Every tag of every row of `table` as rows `(tag, id)`. */
  tagRows(table: string): string;
  /** Field `field` of the JSON text column `doc`. */
  docField(field: string): string;
  tableExists(conn: Conn, table: string): Promise<boolean>;
  /** Keeps two processes from migrating at once; runs inside the migration transaction. */
  migrationLock(conn: Conn): Promise<void>;
}

export interface Driver {
  readonly dialect: Dialect;
  /** Reads outside any transaction (see only committed data). */
  readonly read: Conn;
  /**
   * Runs `fn` in one write transaction, one at a time per process. `afterCommit` runs once the commit succeeded and
   * before the next write starts, so change events leave in commit order.
   */
  writeTx<T>(fn: (conn: Conn) => Promise<T>, afterCommit?: (result: T) => void): Promise<T>;
  /** Runs `fn` on one consistent read snapshot (an export must not see half of a concurrent write). */
  snapshot<T>(fn: (conn: Conn) => Promise<T>): Promise<T>;
  classify(error: unknown): ConstraintFailure;
  /** Cross-process change notification, sent inside the transaction so it leaves only on commit. */
  publish?(conn: Conn, payload: string): Promise<void>;
  /** Calls `onPayload` for every notification and `onConnected` on (re)connect; resolves to an unsubscribe. */
  subscribe?(onPayload: (payload: string) => void, onConnected: () => void): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** Serializes async critical sections: one connection cannot hold two transactions. */
export class Mutex {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(fn: () => Promise<T>): Promise<T> {
    const result = this.tail.then(fn);
    this.tail = result.catch(() => {});
    return result;
  }
}
