/** Admin writes: validate with the entity schemas (defaults, Kong's errors, transformations), then store. */
import { notFound as entityNotFound } from "../entities/errors";
import { type FieldJson, fieldJson, type KongSchemaJson, schemaJson } from "../entities/kong-schema";
import { type EntityDefinition, entityDefinition, type PluginSchemas } from "../entities/schemas";
import { validateOrThrow, withNulls } from "../entities/validate";
import type { Row, Scope, StoreOps } from "../store/store";
import type { FieldType, FieldTypeOf, FieldTypesFor } from "./body";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** Walks Kong's schema JSON so form strings are typed by the same schema that validates them. */
function typeLookup(schema: KongSchemaJson): FieldTypeOf {
  const find = (fields: Record<string, FieldJson>[] | undefined, name: string): FieldJson | undefined =>
    fields?.find((f) => name in f)?.[name] as FieldJson | undefined;
  return (path) => {
    let field: FieldJson | undefined;
    let fields: Record<string, FieldJson>[] | undefined = schema.fields;
    for (const segment of path) {
      if (segment === "[]") {
        field = field?.elements as FieldJson | undefined;
        continue;
      }
      field = field?.type === "map" ? (field.values as FieldJson | undefined) : find(fields, segment);
      fields = field?.fields as Record<string, FieldJson>[] | undefined;
    }
    return field?.type as FieldType | undefined;
  };
}

export class EntityValidator {
  private readonly types = new Map<string, FieldTypeOf>();

  constructor(private readonly plugins: PluginSchemas) {}

  /** Form field types; a plugin's `config.*` fields are typed by the schema of the plugin the body names. */
  fieldTypes(def: EntityDefinition): FieldTypesFor {
    const base = this.lookup(def.name, () => schemaJson(def.schema));
    if (def.name !== "plugins") return () => base;
    return (pairs) => {
      const name = pairs.find(([k]) => k === "name")?.[1];
      const entry = name ? this.plugins.get(name) : undefined;
      if (!entry) return base;
      const config = this.lookup(`plugin:${name}`, () => ({ fields: [{ config: fieldJson(entry.schema) }] }));
      return (path) => (path[0] === "config" ? config(path) : base(path));
    };
  }

  private lookup(key: string, schema: () => KongSchemaJson): FieldTypeOf {
    let found = this.types.get(key);
    if (!found) {
      found = typeLookup(schema());
      this.types.set(key, found);
    }
    return found;
  }

  /** Kong shows every declared field, `null` when unset. */
  present(def: EntityDefinition, row: Row): Row {
    return withNulls(def.schema, row) as Row;
  }

  async create(tx: StoreOps, def: EntityDefinition, input: Record<string, unknown>): Promise<Row> {
    const entity = validateOrThrow(def, input, { mode: "create", plugins: this.plugins });
    return await this.write(tx, def, entity, (row) => tx.insert(def.name, row));
  }

  /** PUT: the body replaces the entity named by id or endpoint key, or creates it. */
  async upsert(
    tx: StoreOps,
    def: EntityDefinition,
    key: string,
    input: Record<string, unknown>,
    scope?: Scope,
  ) {
    const existing = await tx.get(def.name, key, scope);
    const entity = validateOrThrow(
      def,
      { ...input, id: (existing?.id as string | undefined) ?? input.id },
      {
        mode: "replace",
        plugins: this.plugins,
      },
    );
    if (existing) entity.created_at = existing.created_at;
    return await this.write(tx, def, entity, (row) =>
      tx.upsert(def.name, UUID.test(key) ? key : (row.id as string), row, scope),
    );
  }

  /** PATCH: merged into the stored entity, the whole result validated again. */
  async update(
    tx: StoreOps,
    def: EntityDefinition,
    key: string,
    patch: Record<string, unknown>,
    scope?: Scope,
  ) {
    const existing = await tx.get(def.name, key, scope);
    if (!existing) throw entityNotFound(UUID.test(key) ? { id: key } : { [def.endpointKey ?? "id"]: key });
    const entity = validateOrThrow(def, patch, { mode: "update", existing, plugins: this.plugins });
    return await this.write(tx, def, entity, (row) => tx.upsert(def.name, existing.id as string, row, scope));
  }

  /** Transient inputs (a certificate's `snis`) become their own entities in the same transaction. */
  private async write(
    tx: StoreOps,
    def: EntityDefinition,
    entity: Record<string, unknown>,
    save: (row: Row) => Promise<Row>,
  ) {
    const transient: Record<string, unknown> = {};
    for (const field of def.transientFields) {
      transient[field] = entity[field];
      delete entity[field];
    }
    const row = await save(entity);
    if (def.name === "certificates" && Array.isArray(transient.snis)) {
      const snis = entityDefinition("snis")!;
      for (const name of transient.snis as string[]) {
        await tx.insert(
          "snis",
          validateOrThrow(snis, { name, certificate: { id: row.id } }, { mode: "create" }),
        );
      }
      return { ...row, snis: transient.snis };
    }
    return row;
  }
}
