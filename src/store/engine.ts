/** The Store over any Driver: every write in one transaction that bumps the config version once and emits one event. */
import { AsyncLocalStorage } from "node:async_hooks";
import { logger } from "../log/logger";
import { ChangeFeed, type ChangeMessage } from "./change-feed";
import { foreignId, quote } from "./columns";
import type { Conn, Driver } from "./driver";
import { Importer } from "./importer";
import type { EntityModel, ModelSet } from "./model";
import { type Change, decodeOffset, encodeOffset, pageSize, Session } from "./session";
import type {
  ChangeListener,
  ConfigTable,
  DataPlane,
  ImportResult,
  ListOptions,
  Page,
  Row,
  Scope,
  Store,
  StoreOps,
  TagRow,
} from "./store";

const log = logger("store");

/** SQLite has no NOTIFY: another process' writes (a `db_import` next to a running node) are noticed by polling. */
const POLL_INTERVAL_MS = 1000;

const FORMAT_VERSION = "3.0";

/** Set while a write transaction runs, to refuse a nested write that would queue behind it forever. */
const insideWrite = new AsyncLocalStorage<boolean>();

function summarize(version: number, changes: Change[]): ChangeMessage {
  if (changes.some((c) => c.op === "import")) return { v: version, op: "import" };
  const only = changes.length === 1 ? changes[0] : undefined;
  if (!only) return { v: version, op: "batch" };
  const message: ChangeMessage = { v: version, op: only.op };
  if (only.entity) message.e = only.entity;
  if (only.id) message.id = only.id;
  return message;
}

/** Kong exports a foreign key as the parent's id alone. */
function flattenForeignKeys(model: EntityModel, doc: Row): Row {
  for (const fk of model.foreignKeys) {
    const id = foreignId(doc[fk.field]);
    if (id) doc[fk.field] = id;
  }
  return doc;
}

/**
 * Kong's `skip_disabled_entities`: disabled services and plugins stay out, and so does anything pointing at a
 * disabled service or at a route of one.
 */
function disabledFilter(): (model: EntityModel, doc: Row) => boolean {
  const disabled = new Set<unknown>();
  return (model, doc) => {
    if (model.name === "services" && doc.enabled === false) {
      disabled.add(doc.id);
      return true;
    }
    if (model.name === "plugins" && doc.enabled === false) return true;
    if (!model.foreignKeys.some((fk) => disabled.has(doc[fk.field]))) return false;
    if (model.name === "routes") disabled.add(doc.id);
    return true;
  };
}

const DP_COLUMNS = [
  "id",
  "hostname",
  "ip",
  "last_seen",
  "config_hash",
  "version",
  "sync_status",
  "labels",
  "cert_details",
  "rpc_capabilities",
  "updated_at",
  "expires_at",
] as const;
const DP_JSON = new Set(["labels", "cert_details", "rpc_capabilities"]);

export class SqlStore implements Store {
  readonly dialect: "sqlite" | "postgres";
  private readonly feed = new ChangeFeed();
  private stopWatching?: () => Promise<void>;

  private constructor(
    private readonly driver: Driver,
    private readonly models: ModelSet,
  ) {
    this.dialect = driver.dialect.name;
  }

  static async open(driver: Driver, models: ModelSet): Promise<SqlStore> {
    const store = new SqlStore(driver, models);
    store.feed.start(await store.version());
    // Listening from the start means a change committed after open() resolved always arrives with its details.
    await store.watch();
    return store;
  }

  private reader(): Session {
    return new Session(this.models, this.driver, this.driver.read, null);
  }

  list(entity: string, options?: ListOptions): Promise<Page> {
    return this.reader().list(entity, options);
  }

  get(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null> {
    return this.reader().get(entity, idOrKey, scope);
  }

  async insert(entity: string, row: Row): Promise<Row> {
    return (await this.write((s) => s.insert(entity, row))).result;
  }

  async upsert(entity: string, idOrKey: string, row: Row, scope?: Scope): Promise<Row> {
    return (await this.write((s) => s.upsert(entity, idOrKey, row, scope))).result;
  }

  async update(entity: string, idOrKey: string, patch: Row, scope?: Scope): Promise<Row> {
    return (await this.write((s) => s.update(entity, idOrKey, patch, scope))).result;
  }

  async delete(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null> {
    return (await this.write((s) => s.delete(entity, idOrKey, scope))).result;
  }

  async transaction<T>(fn: (tx: StoreOps) => Promise<T>): Promise<T> {
    return (await this.write((s) => fn(s))).result;
  }

  /** The one path every write takes: transaction, version bump + NOTIFY when something changed, event after commit. */
  private async write<T>(
    fn: (session: Session, conn: Conn, changes: Change[]) => Promise<T>,
  ): Promise<{ result: T; version: number | null }> {
    if (insideWrite.getStore()) {
      throw new Error(
        "a write inside transaction() must use its tx argument: the store itself waits for the transaction",
      );
    }
    let version: number | null = null;
    let message: ChangeMessage | null = null;
    try {
      const result = await this.driver.writeTx(
        async (conn) => {
          const changes: Change[] = [];
          version = null;
          message = null;
          const session = new Session(this.models, this.driver, conn, changes);
          const result = await insideWrite.run(true, () => fn(session, conn, changes));
          if (changes.length > 0) {
            const [row] = await conn.all("UPDATE config_version SET version = version + 1 RETURNING version");
            version = Number(row!.version);
            this.feed.expect(version);
            message = summarize(version, changes);
            await this.driver.publish?.(conn, JSON.stringify(message));
          }
          return result;
        },
        () => {
          if (message) this.feed.local(message);
        },
      );
      return { result, version };
    } catch (error) {
      if (version !== null) this.feed.abandon(version);
      throw error;
    }
  }

  async exportAll(options: { skipDisabled?: boolean } = {}): Promise<ConfigTable> {
    const skip = options.skipDisabled ? disabledFilter() : () => false;
    return this.driver.snapshot(async (conn) => {
      const table: ConfigTable = { _format_version: FORMAT_VERSION, _transform: false };
      for (const model of this.models.ordered) {
        const rows = await conn.all(
          `SELECT doc FROM ${quote(model.name)} ORDER BY ${this.driver.dialect.order}`,
        );
        const docs = rows.map((r) => flattenForeignKeys(model, JSON.parse(r.doc as string) as Row));
        const kept = docs.filter((doc) => !skip(model, doc));
        if (kept.length > 0) table[model.name] = kept;
      }
      return table;
    });
  }

  async importAll(table: ConfigTable, options: { replace?: boolean } = {}): Promise<ImportResult> {
    const { result, version } = await this.write(async (_session, conn, changes) => {
      const counts = await new Importer(this.models, this.driver, conn).run(table, options.replace === true);
      if (counts.inserted + counts.updated + counts.deleted > 0) changes.push({ op: "import" });
      return counts;
    });
    return { ...result, version: version ?? (await this.version()) };
  }

  async tags(options: { tag?: string; size?: number; offset?: string } = {}): Promise<Page<TagRow>> {
    const size = pageSize(options.size);
    const union = this.models.ordered
      .map(
        (m) =>
          `SELECT x.tag AS tag, '${m.name}' AS entity_name, x.id AS entity_id FROM (${this.driver.dialect.tagRows(m.name)}) x`,
      )
      .join(" UNION ALL ");
    const where: string[] = [];
    const params: unknown[] = [];
    if (options.tag !== undefined) {
      where.push("u.tag = ?");
      params.push(options.tag);
    }
    if (options.offset !== undefined) {
      const [tag, name, id] = decodeOffset(options.offset, 3);
      where.push(
        "(u.tag > ? OR (u.tag = ? AND (u.entity_name > ? OR (u.entity_name = ? AND u.entity_id > ?))))",
      );
      params.push(tag, tag, name, name, id);
    }
    const rows = await this.driver.read.all(
      `SELECT u.tag, u.entity_name, u.entity_id FROM (${union}) u${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY u.tag, u.entity_name, u.entity_id LIMIT ?`,
      [...params, size + 1],
    );
    const data = rows.slice(0, size).map((r) => ({
      tag: r.tag as string,
      entity_name: r.entity_name as string,
      entity_id: r.entity_id as string,
    }));
    const page: Page<TagRow> = { data };
    const last = data[size - 1];
    if (rows.length > size && last) page.offset = encodeOffset([last.tag, last.entity_name, last.entity_id]);
    return page;
  }

  async pluginNamesInUse(): Promise<string[]> {
    if (!this.models.has("plugins")) return [];
    const rows = await this.driver.read.all(
      `SELECT DISTINCT ${this.driver.dialect.docField("name")} AS name FROM ${quote("plugins")} ORDER BY 1`,
    );
    return rows.map((r) => r.name as string);
  }

  async version(): Promise<number> {
    const [row] = await this.driver.read.all("SELECT version FROM config_version");
    return Number(row?.version ?? 0);
  }

  onChange(listener: ChangeListener): () => void {
    return this.feed.subscribe(listener);
  }

  private async watch(): Promise<void> {
    const catchUp = () =>
      this.version().then(
        (v) => this.feed.caughtUp(v),
        (error) => log.warn("could not read the config version:", error),
      );
    if (this.driver.subscribe) {
      this.stopWatching = await this.driver.subscribe((payload) => this.feed.remote(payload), catchUp);
      return;
    }
    const timer = setInterval(catchUp, POLL_INTERVAL_MS);
    timer.unref();
    this.stopWatching = async () => clearInterval(timer);
  }

  async ping(): Promise<void> {
    await this.driver.read.all("SELECT 1 AS ok");
  }

  async close(): Promise<void> {
    await this.stopWatching?.();
    await this.driver.close();
  }

  async upsertDataPlane(dp: DataPlane, ttlSeconds: number): Promise<void> {
    const now = Math.floor(Date.now() / 1000);
    const row: Record<string, unknown> = { ...dp, updated_at: now, expires_at: now + ttlSeconds };
    const values = DP_COLUMNS.map((c) => {
      const v = row[c] ?? null;
      return DP_JSON.has(c) && v !== null ? JSON.stringify(v) : v;
    });
    const updates = DP_COLUMNS.filter((c) => c !== "id").map((c) => `${c} = excluded.${c}`);
    await this.driver.writeTx((conn) =>
      conn.run(
        `INSERT INTO clustering_data_planes (${DP_COLUMNS.join(", ")}) VALUES (${DP_COLUMNS.map(() => "?").join(", ")}) ON CONFLICT (id) DO UPDATE SET ${updates.join(", ")}`,
        values,
      ),
    );
  }

  async listDataPlanes(options: { size?: number; offset?: string } = {}): Promise<Page<DataPlane>> {
    const size = pageSize(options.size);
    const now = Math.floor(Date.now() / 1000);
    const params: unknown[] = [now];
    let after = "";
    if (options.offset !== undefined) {
      after = " AND id > ?";
      params.push(decodeOffset(options.offset, 1)[0]);
    }
    const rows = await this.driver.read.all(
      `SELECT * FROM clustering_data_planes WHERE expires_at > ?${after} ORDER BY id LIMIT ?`,
      [...params, size + 1],
    );
    const data = rows.slice(0, size).map((r) => {
      const dp: Record<string, unknown> = {};
      for (const c of DP_COLUMNS) {
        const v = r[c] ?? null;
        dp[c] = DP_JSON.has(c) && typeof v === "string" ? JSON.parse(v) : v;
      }
      for (const c of ["last_seen", "updated_at"]) dp[c] = dp[c] === null ? null : Number(dp[c]);
      dp.ttl = Number(dp.expires_at) - now;
      delete dp.expires_at;
      return dp as unknown as DataPlane;
    });
    const page: Page<DataPlane> = { data };
    if (rows.length > size) page.offset = encodeOffset([data[size - 1]!.id]);
    return page;
  }

  async purgeDataPlanes(olderThan: number): Promise<number> {
    const now = Math.floor(Date.now() / 1000);
    return this.driver.writeTx((conn) =>
      conn.run("DELETE FROM clustering_data_planes WHERE last_seen < ? OR expires_at <= ?", [olderThan, now]),
    );
  }
}
