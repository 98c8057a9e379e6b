/** Validates entity input for create, full replace or partial update and turns zod issues into Kong's errors. */
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { type FieldErrors, schemaViolation } from "./errors";
import { fieldMeta, hasDefault, innerOf, isRequired, leafOf, msg } from "./fields";
import {
  certDigest,
  type EntityDefinition,
  entityDefinition,
  hashBasicAuthPassword,
  type PluginSchemas,
  pluginDefaultProtocols,
} from "./schemas";

export type ValidateMode = "create" | "replace" | "update";

export interface ValidateOptions {
  /** `create` (POST) and `replace` (PUT) fill defaults; `update` (PATCH) merges into `existing`. */
  mode?: ValidateMode;
  /** The stored entity a PATCH applies to; without it only the fields present are checked. */
  existing?: Record<string, unknown>;
  /** The loaded plugins; without it plugin names and configs are not checked. */
  plugins?: PluginSchemas;
  /** Runs Kong's write transformations (basic-auth password hashing, CA cert digest); default true. */
  transform?: boolean;
  /** Fills auto fields when absent (`id`, timestamps, key-auth `key`); default true. */
  auto?: boolean;
  /** Clock in seconds, for timestamps. */
  now?: number;
}

export type ValidateResult =
  | { ok: true; entity: Record<string, unknown> }
  | { ok: false; fields: FieldErrors };

type Issue = z.core.$ZodIssue;

const TYPE_NAMES: Record<string, string> = {
  object: "a record",
  record: "a map",
  array: "an array",
  int: "an integer",
  integer: "an integer",
};

/** Kong's wording for the zod issues that carry no schema-level message (plugin schemas written in plain zod). */
export function kongMessage(iss: z.core.$ZodRawIssue): string | undefined {
  switch (iss.code) {
    case "invalid_type":
      if (iss.input === undefined || iss.input === null) return msg.required;
      return `expected ${TYPE_NAMES[iss.expected] ?? `a ${iss.expected}`}`;
    case "invalid_value":
      return msg.oneOf(iss.values.map(String));
    case "too_small":
      if (iss.origin !== "number" && iss.origin !== "bigint") return msg.lenMin(Number(iss.minimum));
      return iss.inclusive
        ? `value must be at least ${iss.minimum}`
        : `value must be greater than ${iss.minimum}`;
    case "too_big":
      if (iss.origin !== "number" && iss.origin !== "bigint") return msg.lenMax(Number(iss.maximum));
      return iss.inclusive
        ? `value must be at most ${iss.maximum}`
        : `value must be less than ${iss.maximum}`;
    case "not_multiple_of":
      return `value must be a multiple of ${iss.divisor}`;
    case "invalid_format":
    case "invalid_union":
      return `invalid value: ${typeof iss.input === "string" ? iss.input : JSON.stringify(iss.input)}`;
    case "invalid_key":
      return "invalid key";
    default:
      return undefined;
  }
}

type Tree = Record<string | number, unknown>;

function setAt(root: Tree, path: readonly PropertyKey[], message: string): void {
  let node = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i] as string | number;
    const nextIsIndex = typeof path[i + 1] === "number";
    let child = node[key];
    if (typeof child !== "object" || child === null) {
      child = nextIsIndex ? [] : {};
      node[key] = child;
    }
    node = child as Tree;
  }
  const last = path[path.length - 1] as string | number;
  if (node[last] === undefined) node[last] = message;
}

/** Kong's `fields` tree from zod issues: nested by path, `unknown field` per stray key, entity checks under `@entity`. */
export function issuesToFields(issues: readonly Issue[], prefix: readonly PropertyKey[] = []): FieldErrors {
  const fields: Tree = {};
  const entity: string[] = [];
  for (const iss of issues) {
    const path = [...prefix, ...iss.path];
    if (iss.code === "unrecognized_keys") {
      for (const key of iss.keys) setAt(fields, [...path, key], "unknown field");
    } else if (path.length === 0) {
      entity.push(iss.message);
    } else if (iss.code === "custom" && iss.params?.entity) {
      addEntityMessage(fields, path, iss.message);
    } else {
      setAt(fields, path, iss.message);
    }
  }
  for (const arr of Object.values(fields)) fillHoles(arr);
  if (entity.length > 0) fields["@entity"] = entity;
  return fields as FieldErrors;
}

/** Entity checks of nested records (e.g. route `sources`) land under the record's own `@entity`. */
function addEntityMessage(fields: Tree, path: readonly PropertyKey[], message: string): void {
  let node = fields;
  path.forEach((key, i) => {
    const k = key as string | number;
    if (typeof node[k] !== "object" || node[k] === null) node[k] = typeof path[i + 1] === "number" ? [] : {};
    node = node[k] as Tree;
  });
  const list = (node["@entity"] as string[] | undefined) ?? [];
  list.push(message);
  node["@entity"] = list;
}

/** Sparse arrays become `null`-padded arrays, as Kong's JSON encoder writes them. */
function fillHoles(value: unknown): void {
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) value[i] = null;
      else fillHoles(value[i]);
    }
  } else if (value && typeof value === "object") {
    for (const v of Object.values(value)) fillHoles(v);
  }
}

function asObject(value: z.ZodType): z.ZodObject | undefined {
  const leaf = leafOf(value);
  return leaf._zod.def.type === "object" ? (leaf as z.ZodObject) : undefined;
}

/** How to fill nulls into values of one schema, worked out once per schema (parsing 100k entities asks often). */
type NullPlan =
  | { kind: "object"; fields: [string, NullPlan][] }
  | { kind: "array"; element: NullPlan }
  | { kind: "leaf" };

const LEAF: NullPlan = { kind: "leaf" };
const plans = new WeakMap<z.ZodType, NullPlan>();

function nullPlan(schema: z.ZodType): NullPlan {
  let plan = plans.get(schema);
  if (plan) return plan;
  const def = leafOf(schema)._zod.def as {
    type: string;
    element?: z.ZodType;
    shape?: Record<string, z.ZodType>;
  };
  if (def.type === "array" && def.element) {
    const element = nullPlan(def.element);
    plan = element === LEAF ? LEAF : { kind: "array", element };
  } else if (def.type === "object" && def.shape) {
    plan = { kind: "object", fields: Object.entries(def.shape).map(([k, f]) => [k, nullPlan(f)]) };
  } else plan = LEAF;
  plans.set(schema, plan);
  return plan;
}

function fillNulls(plan: NullPlan, value: unknown): unknown {
  if (plan.kind === "leaf" || value === null || value === undefined || typeof value !== "object")
    return value;
  if (plan.kind === "array")
    return Array.isArray(value) ? value.map((v) => fillNulls(plan.element, v)) : value;
  if (Array.isArray(value)) return value;
  const src = value as Record<string, unknown>;
  const out: Record<string, unknown> = {};
  for (const [k, p] of plan.fields) out[k] = k in src ? fillNulls(p, src[k]) : null;
  for (const k in src) if (!(k in out)) out[k] = src[k];
  return out;
}

/** Every declared field of every record present, `null` when unset: Kong's `nulls = true` entity shape. */
export function withNulls(schema: z.ZodType, value: unknown): unknown {
  return fillNulls(nullPlan(schema), value);
}

/** PATCH semantics: records merge field by field (recursively), everything else is replaced. */
export function mergePatch(schema: z.ZodType | undefined, existing: unknown, patch: unknown): unknown {
  if (patch === undefined) return existing;
  if (!isPlainObject(existing) || !isPlainObject(patch)) return patch;
  const obj = schema ? asObject(schema) : undefined;
  // Maps are replaced; an abstract record (a plugin's config when its schema is unknown) merges like a record.
  if (schema && !obj && !fieldMeta(schema).abstract) return patch;
  const out: Record<string, unknown> = { ...existing };
  for (const [k, v] of Object.entries(patch))
    out[k] = mergePatch(obj?.shape[k] as z.ZodType | undefined, existing[k], v);
  return out;
}

/** A PATCH merged into the stored entity; a plugin's config merges by the plugin's own schema (records merge, maps replace). */
function mergeEntity(
  def: EntityDefinition,
  existing: Record<string, unknown>,
  patch: Record<string, unknown>,
  plugins: PluginSchemas | undefined,
): Record<string, unknown> {
  const merged = mergePatch(def.schema, existing, patch) as Record<string, unknown>;
  const entry = def.name === "plugins" ? plugins?.get(String(merged.name)) : undefined;
  if (entry && patch.config !== undefined)
    merged.config = mergePatch(entry.schema, existing.config, patch.config);
  return merged;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** Plugin-specific checks: name loaded, protocols allowed, scope restrictions, and `config` against its schema. */
function validatePluginParts(
  entity: Record<string, unknown>,
  plugins: PluginSchemas,
  input: Record<string, unknown>,
): { fields: FieldErrors; config?: unknown } {
  const fields: Tree = {};
  const name = entity.name as string;
  const entry = plugins.get(name);
  if (!entry) {
    fields.name = `plugin '${name}' not enabled; add it to the 'plugins' configuration property`;
    return { fields: fields as FieldErrors };
  }
  const allowed = entry.protocols;
  if (input.protocols === undefined && allowed) entity.protocols = pluginDefaultProtocols(allowed);
  if (allowed && Array.isArray(entity.protocols)) {
    const errs = (entity.protocols as string[]).map((p) => (allowed.includes(p) ? null : msg.oneOf(allowed)));
    if (errs.some((e) => e !== null)) fields.protocols = errs;
  }
  for (const [flag, field] of [
    ["noConsumer", "consumer"],
    ["noRoute", "route"],
    ["noService", "service"],
  ] as const) {
    if (entry[flag] && entity[field] !== null && entity[field] !== undefined) fields[field] = msg.mustBeNull;
  }
  const parsed = entry.schema.safeParse(dropOptionalNulls(entry.schema, entity.config ?? {}), {
    error: kongMessage,
  });
  if (!parsed.success) fields.config = issuesToFields(parsed.error.issues);
  const config = parsed.success ? withNulls(entry.schema, parsed.data) : undefined;
  return { fields: fields as FieldErrors, config };
}

/**
 * Kong accepts `null` for any field that is not required, and entities (and exports) list unset fields as
 * `null`; plugin schemas written with `.optional()` only take `undefined`, so those nulls are dropped first.
 */
function dropOptionalNulls(schema: z.ZodType, value: unknown): unknown {
  const leaf = asObject(schema);
  if (!leaf || !isPlainObject(value)) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    const field = leaf.shape[k] as z.ZodType | undefined;
    if (v === null && field && !acceptsNull(field) && !isRequired(field)) continue;
    out[k] = field ? dropOptionalNulls(field, v) : v;
  }
  return out;
}

function acceptsNull(schema: z.ZodType): boolean {
  for (let cur: z.ZodType | undefined = schema; cur; cur = innerOf(cur)) {
    if (cur._zod.def.type === "nullable") return true;
  }
  return false;
}

function randomKey(): string {
  return randomUUID().replaceAll("-", "");
}

/** Kong's on-write transformations, applied only to the fields this write sets. */
function transform(
  def: EntityDefinition,
  entity: Record<string, unknown>,
  input: Record<string, unknown>,
): Record<string, unknown> {
  switch (def.name) {
    case "basicauth_credentials": {
      if (input.password === undefined) return entity;
      const consumer = entity.consumer as { id: string };
      return { ...entity, password: hashBasicAuthPassword(entity.password as string, consumer.id) };
    }
    case "ca_certificates":
      return input.cert === undefined
        ? entity
        : { ...entity, cert_digest: certDigest(entity.cert as string) };
    default:
      return entity;
  }
}

function fillAuto(def: EntityDefinition, entity: Record<string, unknown>, mode: ValidateMode, now: number) {
  const ts = def.timestampsMs ? Math.round(now * 1000) / 1000 : Math.floor(now);
  entity.id ??= randomUUID();
  // key-auth's `key` is an auto field: Kong generates it on insert, transformations or not.
  if (def.name === "keyauth_credentials") entity.key ??= randomKey();
  entity.created_at ??= ts;
  if (def.hasUpdatedAt) entity.updated_at = mode === "create" ? (entity.updated_at ?? ts) : ts;
}

/** Checks each field a PATCH carries on its own: no defaults, no entity checks (nothing to merge into). */
function validateFieldsOnly(def: EntityDefinition, input: Record<string, unknown>): ValidateResult {
  const issues: Issue[] = [];
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    const field = def.schema.shape[k] as z.ZodType | undefined;
    if (!field) {
      issues.push({ code: "custom", path: [k], message: "unknown field", input: v } as Issue);
      continue;
    }
    const r = field.safeParse(v, { error: kongMessage });
    if (r.success) out[k] = r.data;
    else for (const iss of r.error.issues) issues.push({ ...iss, path: [k, ...iss.path] });
  }
  return issues.length ? { ok: false, fields: issuesToFields(issues) } : { ok: true, entity: out };
}

/**
 * Validates one entity input the way Kong's DAO does for POST/PUT (defaults filled) or PATCH (merged into
 * `existing`), then applies shorthands, normalization and on-write transformations.
 */
export function validateEntity(
  entityOrName: EntityDefinition | string,
  input: unknown,
  opts: ValidateOptions = {},
): ValidateResult {
  const def = typeof entityOrName === "string" ? entityDefinition(entityOrName) : entityOrName;
  if (!def) throw new Error(`unknown entity '${String(entityOrName)}'`);
  if (!isPlainObject(input))
    return { ok: false, fields: { "@entity": ["expected an input table"] } as FieldErrors };
  const mode = opts.mode ?? "create";
  const prepared = def.prepare ? def.prepare(input) : input;
  if (mode === "update" && !opts.existing) return validateFieldsOnly(def, prepared);
  const candidate = mode === "update" ? mergeEntity(def, opts.existing!, prepared, opts.plugins) : prepared;
  const stripped = stripNulls(def, candidate);
  const parsed = def.schema.safeParse(stripped, { error: kongMessage });
  let fields: FieldErrors = parsed.success ? {} : issuesToFields(parsed.error.issues);
  let entity = parsed.success ? (parsed.data as Record<string, unknown>) : undefined;
  if (def.name === "plugins" && opts.plugins && entity) {
    const extra = validatePluginParts(entity, opts.plugins, candidate);
    fields = { ...fields, ...extra.fields };
    if (extra.config !== undefined) entity.config = extra.config;
  }
  if (!entity || Object.keys(fields).length > 0) return { ok: false, fields };
  if (def.normalize) entity = def.normalize(entity);
  if (opts.transform !== false) entity = transform(def, entity, mode === "update" ? prepared : candidate);
  entity = withNulls(def.schema, entity) as Record<string, unknown>;
  if (opts.auto !== false) fillAuto(def, entity, mode, opts.now ?? Date.now() / 1000);
  return { ok: true, entity };
}

/** An explicit `null` on a defaulted field Kong does not mark required (retries, weight) means the default. */
function stripNulls(def: EntityDefinition, input: Record<string, unknown>): Record<string, unknown> {
  let hasNull = false;
  for (const k in input) if (input[k] === null) hasNull = true;
  if (!hasNull) return input;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(input)) {
    const field = def.schema.shape[k] as z.ZodType | undefined;
    if (v === null && field && !isRequired(field) && hasDefault(field)) continue;
    out[k] = v;
  }
  return out;
}

/** Validates or throws Kong's schema-violation error (for callers that answer HTTP directly). */
export function validateOrThrow(
  entityOrName: EntityDefinition | string,
  input: unknown,
  opts: ValidateOptions = {},
): Record<string, unknown> {
  const r = validateEntity(entityOrName, input, opts);
  if (!r.ok) throw schemaViolation(r.fields);
  return r.entity;
}
