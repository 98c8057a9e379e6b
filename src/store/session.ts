/** Entity reads and writes on one connection, generic over the model; constraint failures become Kong's errors. */

import {
  databaseError,
  type EntityError,
  foreignKeyViolation,
  invalidOffset,
  invalidSize,
  notFound,
  notFoundByField,
  primaryKeyViolation,
  referencedByOthers,
  schemaViolation,
  uniqueViolation,
} from "../entities/errors";
import { type Column, columnForField, columnsOf, foreignId, quote } from "./columns";
import type { Conn, Driver } from "./driver";
import type { EntityModel, ModelSet } from "./model";
import type { ListOptions, Page, Row, Scope, StoreOps } from "./store";

const DEFAULT_PAGE_SIZE = 100;
const MAX_PAGE_SIZE = 1000;
/** Deeper cascades than this are a modelling mistake, not data. */
const MAX_CASCADE_DEPTH = 8;

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
/** A schema violation on one field, e.g. `fieldViolation("id", "expected a valid UUID")`. */
export const fieldViolation = (field: string, problem: string) => schemaViolation({ [field]: problem });

export const isUuid = (value: unknown): value is string => typeof value === "string" && UUID.test(value);

/** One write inside a transaction; an import records a single `import` change however many rows it touched. */
export interface Change {
  op: "create" | "update" | "delete" | "import";
  entity?: string;
  id?: string;
}

export function timestamp(model: EntityModel): number {
  return model.timestampsMs ? Date.now() / 1000 : Math.floor(Date.now() / 1000);
}

/** Sets `updated_at` on entities that have one. */
export function touch(model: EntityModel, doc: Row, updatedAt: unknown): Row {
  if (model.hasUpdatedAt !== false) doc.updated_at = updatedAt;
  return doc;
}

export const isRecord = (v: unknown): v is Row => typeof v === "object" && v !== null && !Array.isArray(v);

/** PATCH merge: nested records merge, everything else (arrays, scalars, null) replaces. */
export function mergeRecords(existing: Row, patch: Row): Row {
  const out: Row = { ...existing };
  for (const [key, value] of Object.entries(patch)) {
    const current = out[key];
    out[key] = isRecord(value) && isRecord(current) ? mergeRecords(current, value) : value;
  }
  return out;
}

export function pageSize(size: number | undefined): number {
  if (size === undefined) return DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(size) || size < 1 || size > MAX_PAGE_SIZE) throw invalidSize();
  return size;
}

export function encodeOffset(position: unknown[]): string {
  return Buffer.from(JSON.stringify(position)).toString("base64");
}

/** Decodes a token `encodeOffset` made; anything else is Kong's `invalid offset`. */
export function decodeOffset(offset: string, arity: number): unknown[] {
  if (!/^[A-Za-z0-9+/]+=*$/.test(offset)) throw invalidOffset(offset, "bad base64 encoding");
  try {
    const position = JSON.parse(Buffer.from(offset, "base64").toString("utf8"));
    if (Array.isArray(position) && position.length === arity) return position;
  } catch {}
  throw invalidOffset(offset, "bad offset");
}

const tagsJson = (row: Row): string | null => (Array.isArray(row.tags) ? JSON.stringify(row.tags) : null);

/** The values written to `id, doc, tags, <indexed columns…>` for one row. */
export function rowValues(model: EntityModel, row: Row): unknown[] {
  return [row.id, JSON.stringify(row), tagsJson(row), ...columnsOf(model).map((c) => c.value(row))];
}

interface Found {
  id: string;
  doc: Row;
}

export class Session implements StoreOps {
  constructor(
    private readonly models: ModelSet,
    private readonly driver: Driver,
    private readonly conn: Conn,
    /** Null on read-only sessions: a write there is a bug. */
    private readonly changes: Change[] | null,
  ) {}

  async list(entity: string, options: ListOptions = {}): Promise<Page> {
    const model = this.models.get(entity);
    const size = pageSize(options.size);
    const order = this.driver.dialect.order;
    const where: string[] = [];
    const params: unknown[] = [];
    for (const [field, id] of Object.entries(options.filter ?? {})) {
      where.push(`t.${quote(this.foreignColumn(model, field))} = ?`);
      params.push(id);
    }
    if (options.tags) {
      const all = "all" in options.tags;
      where.push(all ? this.driver.dialect.tagsAll : this.driver.dialect.tagsAny);
      params.push(JSON.stringify("all" in options.tags ? options.tags.all : options.tags.any));
    }
    if (options.offset !== undefined) {
      const [position] = decodeOffset(options.offset, 1);
      if (!Number.isSafeInteger(position)) throw invalidOffset(options.offset, "bad offset");
      where.push(`t.${order} > ?`);
      params.push(position);
    }
    const rows = await this.conn.all(
      `SELECT t.${order} AS position, t.doc FROM ${quote(model.name)} t${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY t.${order} LIMIT ?`,
      [...params, size + 1],
    );
    const page: Page = { data: rows.slice(0, size).map((r) => JSON.parse(r.doc as string) as Row) };
    if (rows.length > size) {
      const last = rows[size - 1]!;
      page.offset = encodeOffset([Number(last.position)]);
    }
    return page;
  }

  async get(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null> {
    return (await this.find(this.models.get(entity), idOrKey, scope))?.doc ?? null;
  }

  async insert(entity: string, row: Row): Promise<Row> {
    const model = this.models.get(entity);
    const now = timestamp(model);
    const doc: Row = { ...row, id: row.id ?? crypto.randomUUID() };
    if (!isUuid(doc.id)) throw fieldViolation("id", "expected a valid UUID");
    doc.id = doc.id.toLowerCase();
    doc.created_at ??= now;
    touch(model, doc, doc.updated_at ?? now);
    await this.writeRow(model, doc, "create");
    return doc;
  }

  async upsert(entity: string, idOrKey: string, row: Row, scope?: Scope): Promise<Row> {
    const model = this.models.get(entity);
    const doc: Row = { ...row, ...scopeFields(scope) };
    if (isUuid(idOrKey)) doc.id = idOrKey.toLowerCase();
    else if (model.endpointKey) doc[model.endpointKey] = idOrKey;
    else throw fieldViolation("id", "expected a valid UUID");
    // An endpoint key may be unique only under its parent (a target under its upstream); an id is global.
    const existing = await this.find(model, idOrKey, isUuid(idOrKey) ? undefined : scope);
    if (!existing) return this.insert(entity, doc);
    doc.id = existing.id;
    doc.created_at = existing.doc.created_at;
    touch(model, doc, timestamp(model));
    await this.writeRow(model, doc, "update");
    return doc;
  }

  async update(entity: string, idOrKey: string, patch: Row, scope?: Scope): Promise<Row> {
    const model = this.models.get(entity);
    const existing = await this.find(model, idOrKey, scope);
    if (!existing) throw this.notFound(model, idOrKey);
    const doc = (model.merge ?? mergeRecords)(existing.doc, patch);
    doc.id = existing.id;
    doc.created_at = existing.doc.created_at;
    touch(model, doc, timestamp(model));
    await this.writeRow(model, doc, "update");
    return doc;
  }

  async delete(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null> {
    const model = this.models.get(entity);
    const existing = await this.find(model, idOrKey, scope);
    if (!existing) return null;
    await this.assertUnreferenced(model, "?", [existing.id], 0);
    try {
      await this.conn.run(`DELETE FROM ${quote(model.name)} WHERE id = ?`, [existing.id]);
    } catch (error) {
      if (this.driver.classify(error)?.kind === "foreign_key") throw referencedByOthers(entity, "unknown");
      throw error;
    }
    this.record({ entity, op: "delete", id: existing.id });
    return existing.doc;
  }

  /** Rows referencing the doomed ones without cascade refuse the delete, through cascades too (Kong's check). */
  private async assertUnreferenced(model: EntityModel, idsSql: string, params: unknown[], depth: number) {
    if (depth > MAX_CASCADE_DEPTH) return;
    for (const { model: child, fk } of this.models.childrenOf(model.name)) {
      const ids = `SELECT id FROM ${quote(child.name)} WHERE ${quote(`fk_${fk.field}`)} IN (${idsSql})`;
      if (fk.onDelete === "cascade") {
        await this.assertUnreferenced(child, ids, params, depth + 1);
      } else if ((await this.conn.all(`${ids} LIMIT 1`, params)).length > 0) {
        throw referencedByOthers(model.name, child.name);
      }
    }
  }

  private async writeRow(model: EntityModel, doc: Row, op: "create" | "update"): Promise<void> {
    await this.assertReferencesExist(model, doc);
    const columns = columnsOf(model);
    const values = rowValues(model, doc);
    const json = this.driver.dialect.jsonFromText("?");
    const sql =
      op === "create"
        ? `INSERT INTO ${quote(model.name)} (id, doc, tags${columns.map((c) => `, ${quote(c.name)}`).join("")}) VALUES (?, ?, ${json}${", ?".repeat(columns.length)})`
        : `UPDATE ${quote(model.name)} SET doc = ?, tags = ${json}${columns.map((c) => `, ${quote(c.name)} = ?`).join("")} WHERE id = ?`;
    try {
      await this.conn.run(sql, op === "create" ? values : [...values.slice(1), doc.id]);
    } catch (error) {
      throw this.constraintError(model, doc, error);
    }
    this.record({ entity: model.name, op, id: doc.id as string });
  }

  private async assertReferencesExist(model: EntityModel, doc: Row): Promise<void> {
    for (const fk of model.foreignKeys) {
      const value = doc[fk.field];
      if (value === null || value === undefined) continue;
      const id = foreignId(value);
      if (!isUuid(id)) throw fieldViolation(`${fk.field}.id`, "expected a valid UUID");
      const found = await this.conn.all(`SELECT 1 FROM ${quote(fk.reference)} WHERE id = ?`, [id]);
      if (found.length === 0) throw foreignKeyViolation(fk.field, { id }, fk.reference);
    }
  }

  /** Maps what the database refused to the Kong error naming the offending field and value. */
  private constraintError(model: EntityModel, doc: Row, error: unknown): unknown {
    const failure = this.driver.classify(error);
    if (!failure) return error;
    if (failure.kind === "foreign_key") {
      const fk = model.foreignKeys.find((f) => doc[f.field] !== null && doc[f.field] !== undefined);
      return fk
        ? foreignKeyViolation(fk.field, { id: foreignId(doc[fk.field]) }, fk.reference)
        : databaseError(String((error as Error).message));
    }
    if (failure.column === "id") return primaryKeyViolation({ id: doc.id });
    const column = columnsOf(model).find((c) => c.name === failure.column);
    return uniqueViolation(column ? uniqueKey(model, column, doc) : { id: doc.id });
  }

  private record(change: Change): void {
    if (!this.changes) throw new Error("write on a read-only session");
    this.changes.push(change);
  }

  private async find(model: EntityModel, idOrKey: string, scope?: Scope): Promise<Found | null> {
    const where: string[] = [];
    const params: unknown[] = [];
    if (isUuid(idOrKey)) {
      where.push("id = ?");
      params.push(idOrKey.toLowerCase());
    } else {
      const column = model.endpointKey && columnForField(model, model.endpointKey);
      if (!column) return null;
      where.push(`${quote(column.name)} = ?`);
      params.push(idOrKey);
    }
    for (const [field, id] of Object.entries(scope ?? {})) {
      where.push(`${quote(this.foreignColumn(model, field))} = ?`);
      params.push(id);
    }
    const rows = await this.conn.all(
      `SELECT id, doc FROM ${quote(model.name)} WHERE ${where.join(" AND ")} LIMIT 1`,
      params,
    );
    const row = rows[0];
    return row ? { id: row.id as string, doc: JSON.parse(row.doc as string) as Row } : null;
  }

  /** Kong words a miss by id and a miss by endpoint key differently. */
  private notFound(model: EntityModel, idOrKey: string): EntityError {
    return isUuid(idOrKey) || !model.endpointKey
      ? notFound({ id: idOrKey })
      : notFoundByField({ [model.endpointKey]: idOrKey });
  }

  private foreignColumn(model: EntityModel, field: string): string {
    if (!model.foreignKeys.some((fk) => fk.field === field)) {
      throw new Error(`entity '${model.name}' has no foreign key '${field}'`);
    }
    return `fk_${field}`;
  }
}

function scopeFields(scope: Scope | undefined): Row {
  return Object.fromEntries(Object.entries(scope ?? {}).map(([field, id]) => [field, { id }]));
}

/** The `{field=value}` Kong prints for a unique violation; a cache key lists every field (sorted, as penlight prints), foreign keys as `{id}`. */
export function uniqueKey(model: EntityModel, column: Column, doc: Row): Row {
  if (column.field) return { [column.field]: doc[column.field] ?? null };
  const fkFields = new Set(model.foreignKeys.map((fk) => fk.field));
  return Object.fromEntries(
    [...(model.cacheKey ?? [])].sort().map((f) => {
      const id = fkFields.has(f) ? foreignId(doc[f]) : null;
      return [f, fkFields.has(f) ? (id ? { id } : null) : (doc[f] ?? null)];
    }),
  );
}
