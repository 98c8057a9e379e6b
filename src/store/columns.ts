/** How an entity row maps onto its table: the JSON document plus indexed columns the database constrains. */
import type { Dialect } from "./driver";
import type { EntityModel } from "./model";
import type { Row } from "./store";

/** One indexed column derived from the row; `unique` and `references` become constraints in the DDL. */
export interface Column {
  name: string;
  field?: string;
  unique: boolean;
  references?: { table: string; onDelete: "CASCADE" | "RESTRICT" };
  value(row: Row): string | null;
}

export const quote = (identifier: string) => `"${identifier}"`;

/** `{id: "…"}` or a bare id string, as foreign keys arrive from the Admin API and declarative files. */
export function foreignId(value: unknown): string | null {
  if (typeof value === "string") return value;
  if (value && typeof value === "object" && typeof (value as Row).id === "string")
    return (value as Row).id as string;
  return null;
}

function scalar(value: unknown): string | null {
  if (value === null || value === undefined) return null;
  return typeof value === "string" ? value : JSON.stringify(value);
}

const cache = new WeakMap<EntityModel, Column[]>();

/** The indexed columns of an entity, in a fixed order (after `id, doc, tags`). */
export function columnsOf(model: EntityModel): Column[] {
  const known = cache.get(model);
  if (known) return known;
  const fkFields = new Set(model.foreignKeys.map((fk) => fk.field));
  const columns: Column[] = model.foreignKeys.map((fk) => ({
    name: `fk_${fk.field}`,
    field: fk.field,
    unique: false,
    references: { table: fk.reference, onDelete: fk.onDelete === "cascade" ? "CASCADE" : "RESTRICT" },
    value: (row) => foreignId(row[fk.field]),
  }));
  for (const field of model.unique) {
    columns.push({ name: `u_${field}`, field, unique: true, value: (row) => scalar(row[field]) });
  }
  const key = model.endpointKey;
  if (key && !model.unique.includes(key) && !fkFields.has(key)) {
    columns.push({ name: `k_${key}`, field: key, unique: false, value: (row) => scalar(row[key]) });
  }
  const cacheKey = model.cacheKey;
  if (cacheKey) {
    columns.push({
      name: "cache_key",
      unique: true,
      value: (row) =>
        JSON.stringify(cacheKey.map((f) => (fkFields.has(f) ? foreignId(row[f]) : (row[f] ?? null)))),
    });
  }
  cache.set(model, columns);
  return columns;
}

/** The column a lookup by field uses (endpoint key or unique field), if the field has one. */
export function columnForField(model: EntityModel, field: string): Column | undefined {
  return columnsOf(model).find((c) => c.field === field);
}

export function createTableStatements(model: EntityModel, dialect: Dialect): string[] {
  const table = quote(model.name);
  const defs = ["id TEXT PRIMARY KEY", "doc TEXT NOT NULL", `tags ${dialect.types.json}`];
  const indexes: string[] = [];
  if (dialect.orderColumn) {
    defs.push(dialect.orderColumn);
    indexes.push(
      `CREATE UNIQUE INDEX ${quote(`${model.name}_${dialect.order}_idx`)} ON ${table} (${dialect.order})`,
    );
  }
  for (const column of columnsOf(model)) {
    let def = `${quote(column.name)} TEXT`;
    if (column.unique) def += " UNIQUE";
    if (column.references) {
      def += ` REFERENCES ${quote(column.references.table)} (id) ON DELETE ${column.references.onDelete}`;
    }
    defs.push(def);
    if (!column.unique) {
      indexes.push(
        `CREATE INDEX ${quote(`${model.name}_${column.name}_idx`)} ON ${table} (${quote(column.name)})`,
      );
    }
  }
  return [`CREATE TABLE ${table} (${defs.join(", ")})`, ...indexes, ...dialect.tagsIndex(model.name)];
}
