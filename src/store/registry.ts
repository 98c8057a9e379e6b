/** The store's models of gw's entities, read from the entity registry (src/entities) so no entity is hand-described. */
import { z } from "zod";
import { leafOf } from "../entities/fields";
import { ENTITIES, type EntityDefinition } from "../entities/schemas";
import { type EntityModel, ModelSet } from "./model";
import { mergeRecords } from "./session";

/** Kong's PATCH merges records field by field but replaces maps (route `headers`) whole, like any other value. */
function mergeFor(definition: EntityDefinition): EntityModel["merge"] {
  const maps = Object.entries(definition.schema.shape)
    .filter(([, schema]) => leafOf(schema as z.ZodType) instanceof z.ZodRecord)
    .map(([field]) => field);
  if (maps.length === 0) return undefined;
  return (existing, patch) => {
    const merged = mergeRecords(existing, patch);
    for (const field of maps) if (field in patch) merged[field] = patch[field];
    return merged;
  };
}

let models: ModelSet | undefined;

export function entityModels(): ModelSet {
  models ??= new ModelSet(ENTITIES.map((definition) => ({ ...definition, merge: mergeFor(definition) })));
  return models;
}
