/** What the store needs to know about an entity to give it a table, constraints and lookups: no per-entity code. */

export interface ForeignKeyModel {
  /** Field in the row holding `{id}` of the parent, e.g. `service`. */
  field: string;
  /** Parent entity name, e.g. `services`. */
  reference: string;
  /** `cascade` deletes children with the parent; `restrict` refuses to delete a referenced parent (Kong's default). */
  onDelete: "cascade" | "restrict";
}

export interface EntityModel {
  /** Entity and table name, e.g. `services`. */
  name: string;
  /** Field the Admin API accepts in place of the id (`name`, `username`, `target`…), if any. */
  endpointKey?: string;
  /** Fields unique on their own across the entity. */
  unique: string[];
  foreignKeys: ForeignKeyModel[];
  /** Fields whose combined values are unique (Kong's `cache_key`), e.g. plugins `{name, route, service, consumer}`. */
  cacheKey?: string[];
  /** False for entities Kong gives no `updated_at` (the store then never adds one). */
  hasUpdatedAt?: boolean;
  /** Kong stores some timestamps (targets) as seconds with millisecond decimals. */
  timestampsMs?: boolean;
  /** Merges a PATCH into the stored row; defaults to merging nested records and replacing everything else. */
  merge?: (existing: Record<string, unknown>, patch: Record<string, unknown>) => Record<string, unknown>;
}

/** The store's view of every entity, parents before children (the order import, export and DDL follow). */
export class ModelSet {
  private readonly byName = new Map<string, EntityModel>();

  constructor(readonly ordered: readonly EntityModel[]) {
    for (const model of ordered) {
      for (const field of [
        model.endpointKey,
        ...model.unique,
        ...(model.cacheKey ?? []),
        ...model.foreignKeys.map((fk) => fk.field),
      ]) {
        if (field !== undefined && !/^[a-z][a-z0-9_]*$/.test(field)) {
          throw new Error(`entity '${model.name}': field name '${field}' cannot become a column`);
        }
      }
      for (const fk of model.foreignKeys) {
        if (!this.byName.has(fk.reference) && fk.reference !== model.name) {
          throw new Error(`entity '${model.name}' references '${fk.reference}', which must come before it`);
        }
      }
      this.byName.set(model.name, model);
    }
  }

  get(name: string): EntityModel {
    const model = this.byName.get(name);
    if (!model) throw new Error(`unknown entity '${name}'`);
    return model;
  }

  has(name: string): boolean {
    return this.byName.has(name);
  }

  /** Entities whose rows point at `parent`, with the field that does. */
  childrenOf(parent: string): { model: EntityModel; fk: ForeignKeyModel }[] {
    return this.ordered.flatMap((model) =>
      model.foreignKeys.filter((fk) => fk.reference === parent).map((fk) => ({ model, fk })),
    );
  }
}
