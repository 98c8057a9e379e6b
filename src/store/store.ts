/** The Store interface the Admin API and the control plane use, identical over SQLite and PostgreSQL. */

export type Row = Record<string, unknown>;

/** `{service: "<uuid>"}`: restricts a lookup or listing to the children of one parent, as nested Admin API paths do. */
export type Scope = Record<string, string>;

export interface ListOptions {
  /** Page size, 1..1000, default 100 (Kong's). */
  size?: number;
  /** The opaque token a previous page returned. */
  offset?: string;
  /** `?tags=a,b` is `{all: ["a","b"]}`, `?tags=a/b` is `{any: ["a","b"]}`. */
  tags?: { all: string[] } | { any: string[] };
  /** Foreign-key filter, e.g. `{service: id}` for `/services/{id}/routes`. */
  filter?: Scope;
}

export interface Page<T = Row> {
  data: T[];
  /** Present while more rows follow; pass it back as `offset`. */
  offset?: string;
}

/** What one committed transaction changed: `entity`/`id` are set when it touched exactly one row. */
export interface ChangeEvent {
  version: number;
  op: "create" | "update" | "delete" | "import" | "batch" | "resync";
  entity?: string;
  id?: string;
  /** True when another process (or an out-of-band write) made the change. */
  remote: boolean;
}

export type ChangeListener = (event: ChangeEvent) => void;

/**
 * A declarative config table: `_format_version` plus one flat array of rows per entity. Exports use Kong's export
 * shape (`_transform: false`, foreign keys as plain id strings, the shape the config hash is computed on); imports
 * also accept foreign keys as `{id}`.
 */
export type ConfigTable = { _format_version: string } & Record<string, unknown>;

export interface ImportResult {
  inserted: number;
  updated: number;
  deleted: number;
  unchanged: number;
  /** The config version after the import (unchanged when nothing changed). */
  version: number;
}

export interface TagRow {
  tag: string;
  entity_name: string;
  entity_id: string;
}

/** A row of `clustering_data_planes`, as Kong keeps it for `GET /clustering/data-planes`. */
export interface DataPlane {
  id: string;
  hostname: string;
  ip: string;
  last_seen: number;
  config_hash: string;
  version?: string | null;
  sync_status: string;
  labels?: Record<string, string> | null;
  cert_details?: { expiry_timestamp?: number } | null;
  rpc_capabilities?: string[] | null;
  updated_at?: number;
  /** Seconds left before the row expires (Kong's `ttl` in listings). */
  ttl?: number;
}

/** Entity operations; inside `transaction(fn)` they all see the transaction's own writes. */
export interface StoreOps {
  list(entity: string, options?: ListOptions): Promise<Page>;
  /** By uuid, or by the entity's endpoint key (`name`, `username`…); `scope` restricts to one parent. */
  get(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null>;
  /** Generates `id`, `created_at`, `updated_at` when absent. */
  insert(entity: string, row: Row): Promise<Row>;
  /** PUT semantics: replaces the row named by id or endpoint key, creating it if absent. */
  upsert(entity: string, idOrKey: string, row: Row, scope?: Scope): Promise<Row>;
  /** PATCH semantics: merges into the stored row; 404 `EntityError` when absent. */
  update(entity: string, idOrKey: string, patch: Row, scope?: Scope): Promise<Row>;
  /** Returns the deleted row, or null when there was none (Kong answers 204 either way). */
  delete(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null>;
}

export interface Store extends StoreOps {
  readonly dialect: "sqlite" | "postgres";
  /** Runs `fn` in one database transaction: all of its writes commit together or none do; one change event. */
  transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T>;
  /**
   * Every entity, parents first, in Kong's export shape. `skipDisabled` leaves out disabled services, their routes
   * and disabled plugins, as Kong does for what a control plane sends to data planes.
   */
  exportAll(options?: { skipDisabled?: boolean }): Promise<ConfigTable>;
  /** Idempotent bulk load in one transaction; `replace` also deletes rows the table does not mention. */
  importAll(table: ConfigTable, options?: { replace?: boolean }): Promise<ImportResult>;
  tags(options?: { tag?: string; size?: number; offset?: string }): Promise<Page<TagRow>>;
  pluginNamesInUse(): Promise<string[]>;
  /** The config revision, bumped once by every committed write. */
  version(): Promise<number>;
  onChange(listener: ChangeListener): () => void;
  ping(): Promise<void>;
  close(): Promise<void>;
  upsertDataPlane(dp: DataPlane, ttlSeconds: number): Promise<void>;
  listDataPlanes(options?: { size?: number; offset?: string }): Promise<Page<DataPlane>>;
  /** Deletes data planes last seen before `olderThan` (epoch seconds) or past their ttl; returns how many. */
  purgeDataPlanes(olderThan: number): Promise<number>;
}
