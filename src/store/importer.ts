/** Loads a whole config table in bulk: checks references and uniqueness up front, writes only what differs. */

import { databaseError, foreignKeyViolation, primaryKeyViolation, uniqueViolation } from "../entities/errors";
import { columnsOf, foreignId, quote } from "./columns";
import type { Conn, Driver } from "./driver";
import type { EntityModel, ModelSet } from "./model";
import { fieldViolation, isRecord, isUuid, rowValues, timestamp, touch, uniqueKey } from "./session";
import type { ConfigTable, Row } from "./store";

/** Rows per statement: one JSON parameter each, well under either database's limits. */
const CHUNK = 2000;

export interface ImportCounts {
  inserted: number;
  updated: number;
  deleted: number;
  unchanged: number;
}

interface Plan {
  model: EntityModel;
  inserts: Row[];
  updates: Row[];
  deletes: string[];
  unchanged: number;
}

/** JSON with sorted keys, so equal rows compare equal whatever order their fields were written in. */
function canonical(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(canonical).join(",")}]`;
  if (isRecord(value)) {
    const keys = Object.keys(value)
      .filter((k) => value[k] !== undefined)
      .sort();
    return `{${keys.map((k) => `${JSON.stringify(k)}:${canonical(value[k])}`).join(",")}}`;
  }
  return JSON.stringify(value ?? null);
}

/** Kong's declarative ids are UUIDv5; a file that names its rows that way always names them the same. */
const isDeterministic = (id: string) => id[14] === "5";

export class Importer {
  /** Per entity: ids the file used → ids of the stored rows they were matched to. */
  private readonly remapped = new Map<string, Map<string, string>>();

  constructor(
    private readonly models: ModelSet,
    private readonly driver: Driver,
    private readonly conn: Conn,
  ) {}

  async run(table: ConfigTable, replace: boolean): Promise<ImportCounts> {
    for (const key of Object.keys(table)) {
      if (!key.startsWith("_") && !this.models.has(key)) throw fieldViolation(key, "unknown field");
    }
    const kept = new Map<string, Set<string>>();
    const plans: Plan[] = [];
    for (const model of this.models.ordered) {
      plans.push(await this.plan(model, table[model.name], replace, kept));
    }
    for (const plan of [...plans].reverse()) {
      await this.bulk(
        plan.model,
        plan.deletes.map((id) => [id]),
        (select) => this.deleteSql(plan.model, select),
      );
    }
    for (const plan of plans) {
      await this.bulk(
        plan.model,
        plan.updates.map((doc) => rowValues(plan.model, doc)),
        (s) => this.updateSql(plan.model, s),
      );
      await this.bulk(
        plan.model,
        plan.inserts.map((doc) => rowValues(plan.model, doc)),
        (s) => this.insertSql(plan.model, s),
      );
    }
    const sum = (f: (p: Plan) => number) => plans.reduce((n, p) => n + f(p), 0);
    return {
      inserted: sum((p) => p.inserts.length),
      updated: sum((p) => p.updates.length),
      deleted: sum((p) => p.deletes.length),
      unchanged: sum((p) => p.unchanged),
    };
  }

  private async plan(model: EntityModel, input: unknown, replace: boolean, kept: Map<string, Set<string>>) {
    if (input !== undefined && !Array.isArray(input)) throw fieldViolation(model.name, "expected an array");
    const current = new Map<string, Row>();
    const stored = new Map<string, string>();
    for (const row of await this.conn.all(`SELECT id, doc FROM ${quote(model.name)}`)) {
      current.set(row.id as string, JSON.parse(row.doc as string) as Row);
      stored.set(row.id as string, row.doc as string);
    }
    const docs = ((input ?? []) as unknown[]).map((raw, i) => {
      if (!isRecord(raw)) throw fieldViolation(`${model.name}.${i}`, "expected a record");
      return this.normalize(model, raw);
    });
    this.adoptStoredIds(model, docs, current);
    const incoming = new Map<string, Row>();
    for (const doc of docs) {
      if (incoming.has(doc.id as string)) throw primaryKeyViolation({ id: doc.id });
      incoming.set(doc.id as string, doc);
    }
    const survivors = new Set(replace ? incoming.keys() : [...current.keys(), ...incoming.keys()]);
    kept.set(model.name, survivors);
    for (const doc of incoming.values()) this.assertReferences(model, doc, kept);
    this.assertUnique(model, current, incoming, survivors);

    const plan: Plan = { model, inserts: [], updates: [], deletes: [], unchanged: 0 };
    const now = timestamp(model);
    for (const doc of incoming.values()) {
      const previous = current.get(doc.id as string);
      if (!previous) {
        plan.inserts.push(touch(model, { ...doc, created_at: doc.created_at ?? now }, doc.updated_at ?? now));
        continue;
      }
      const same = touch(
        model,
        { ...doc, created_at: doc.created_at ?? previous.created_at },
        doc.updated_at ?? previous.updated_at,
      );
      // Re-importing the same file writes rows out in the same field order: the text comparison settles most rows.
      const unchanged =
        JSON.stringify(same) === stored.get(doc.id as string) || canonical(same) === canonical(previous);
      if (unchanged) plan.unchanged++;
      else plan.updates.push(touch(model, { ...same }, doc.updated_at ?? now));
    }
    if (replace) plan.deletes = [...current.keys()].filter((id) => !incoming.has(id));
    return plan;
  }

  /**
   * A row whose id is neither stored nor deterministic (the parser made up a random one, as Kong does for key-auth
   * credentials or consumers known by custom_id only) takes the id of the stored row with the same unique value, so
   * importing a file twice changes nothing. Its children follow through `remapped`.
   */
  private adoptStoredIds(model: EntityModel, docs: Row[], current: Map<string, Row>): void {
    const given = new Set(docs.map((d) => d.id));
    const columns = columnsOf(model).filter((c) => c.unique);
    const owners = columns.map((column) => {
      const owner = new Map<string, string>();
      for (const [id, doc] of current) {
        const value = column.value(doc);
        if (value !== null && !given.has(id)) owner.set(value, id);
      }
      return owner;
    });
    const remapped = new Map<string, string>();
    for (const doc of docs) {
      if (current.has(doc.id as string) || isDeterministic(doc.id as string)) continue;
      const stored = columns.map((c, i) => owners[i]!.get(c.value(doc) ?? "")).find((id) => id !== undefined);
      if (stored === undefined) continue;
      remapped.set(doc.id as string, stored);
      doc.id = stored;
    }
    if (remapped.size > 0) this.remapped.set(model.name, remapped);
  }

  private normalize(model: EntityModel, raw: Row): Row {
    const doc: Row = { ...raw };
    for (const fk of model.foreignKeys) {
      const value = doc[fk.field];
      if (value === null || value === undefined) continue;
      const id = foreignId(value)?.toLowerCase();
      if (!isUuid(id)) throw fieldViolation(`${model.name}.${fk.field}`, "expected a valid UUID");
      doc[fk.field] = { id: this.remapped.get(fk.reference)?.get(id) ?? id };
    }
    doc.id ??= crypto.randomUUID();
    if (!isUuid(doc.id)) throw fieldViolation(`${model.name}.id`, "expected a valid UUID");
    doc.id = doc.id.toLowerCase();
    return doc;
  }

  private assertReferences(model: EntityModel, doc: Row, kept: Map<string, Set<string>>): void {
    for (const fk of model.foreignKeys) {
      const id = foreignId(doc[fk.field]);
      if (id && !kept.get(fk.reference)?.has(id)) throw foreignKeyViolation(fk.field, { id }, fk.reference);
    }
  }

  private assertUnique(
    model: EntityModel,
    current: Map<string, Row>,
    incoming: Map<string, Row>,
    kept: Set<string>,
  ) {
    for (const column of columnsOf(model).filter((c) => c.unique)) {
      const owner = new Map<string, string>();
      for (const [id, doc] of current) {
        const value = column.value(doc);
        if (value !== null && kept.has(id) && !incoming.has(id)) owner.set(value, id);
      }
      for (const doc of incoming.values()) {
        const value = column.value(doc);
        if (value === null) continue;
        const other = owner.get(value);
        if (other !== undefined && other !== doc.id) throw uniqueViolation(uniqueKey(model, column, doc));
        owner.set(value, doc.id as string);
      }
    }
  }

  private async bulk(model: EntityModel, rows: unknown[][], sql: (select: string) => string): Promise<void> {
    if (rows.length === 0) return;
    const d = this.driver.dialect;
    const arity = rows[0]!.length;
    const names = ["id", "doc", "tags", ...columnsOf(model).map((c) => c.name)].slice(0, arity);
    const exprs = names.map((name, i) => {
      const text = d.bulkText(i);
      return `${name === "tags" ? d.jsonFromText(text) : text} AS ${quote(name)}`;
    });
    const statement = sql(`SELECT ${exprs.join(", ")} FROM ${d.bulkSource}`);
    for (let i = 0; i < rows.length; i += CHUNK) {
      try {
        await this.conn.run(statement, [JSON.stringify(rows.slice(i, i + CHUNK))]);
      } catch (error) {
        if (!this.driver.classify(error)) throw error;
        throw databaseError(`import into '${model.name}' failed: ${(error as Error).message}`);
      }
    }
  }

  private insertSql(model: EntityModel, select: string): string {
    const names = ["id", "doc", "tags", ...columnsOf(model).map((c) => c.name)].map(quote);
    return `INSERT INTO ${quote(model.name)} (${names.join(", ")}) ${select}`;
  }

  private updateSql(model: EntityModel, select: string): string {
    const names = ["doc", "tags", ...columnsOf(model).map((c) => c.name)].map(quote);
    const table = quote(model.name);
    return `UPDATE ${table} SET ${names.map((n) => `${n} = x.${n}`).join(", ")} FROM (${select}) AS x WHERE ${table}.id = x.id`;
  }

  private deleteSql(model: EntityModel, select: string): string {
    return `DELETE FROM ${quote(model.name)} WHERE id IN (SELECT x.id FROM (${select}) AS x)`;
  }
}
