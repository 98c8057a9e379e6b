/** Declarative config: parses nested or flat files, resolves references, assigns Kong's ids, reports every error by path. */
import { randomUUID } from "node:crypto";
import type { z } from "zod";
import { declarativeConfigError, type EntityError } from "./errors";
import { fieldMeta, isRequired, isUuid } from "./fields";
import {
  type Acl,
  type BasicAuthCredential,
  type CaCertificate,
  type Certificate,
  type Consumer,
  ENTITIES,
  type EntityDefinition,
  type KeyAuthCredential,
  normalizePath,
  type Plugin,
  type PluginSchemas,
  type Route,
  type Service,
  type Sni,
  type Target,
  type Upstream,
} from "./schemas";
import { cacheKeyString, declarativeId } from "./uuid";
import { validateEntity } from "./validate";

export const FORMAT_VERSIONS = ["1.1", "2.1", "3.0"] as const;

/** A parsed config: every entity flat, parents first, canonical shapes (defaults filled, FKs as `{ id }`). */
export interface ConfigTable {
  _format_version: string;
  _transform: boolean;
  certificates: Certificate[];
  ca_certificates: CaCertificate[];
  snis: Sni[];
  services: Service[];
  routes: Route[];
  consumers: Consumer[];
  upstreams: Upstream[];
  targets: Target[];
  plugins: Plugin[];
  keyauth_credentials: KeyAuthCredential[];
  basicauth_credentials: BasicAuthCredential[];
  acls: Acl[];
}

export type PathSegment = string | number;

/** One problem, located: `services[0].routes[2].paths[0]`. */
export interface DeclarativeIssue {
  path: PathSegment[];
  message: string;
  /** The entity the problem is in, when it is in one: its table, input, and where its own fields start in `path`. */
  entity?: { type: string; input: Record<string, unknown>; at: number };
}

/** One entity's problems in Kong's `flatten_errors=1` shape (what KIC and decK read from `POST /config`). */
export interface FlattenedEntityErrors {
  entity_type: string;
  entity_name?: string;
  entity_id?: string;
  entity_tags?: string[];
  entity: Record<string, unknown>;
  errors: ({ type: "field"; field: string; message: string } | { type: "entity"; message: string })[];
}

/** `services[0].routes[2].paths[0]`; an entity-level problem points at the entity itself. */
export function formatPath(path: readonly PathSegment[]): string {
  let out = "";
  for (const seg of path) {
    if (seg === "@entity") continue;
    out += typeof seg === "number" ? `[${seg}]` : out === "" ? seg : `.${seg}`;
  }
  return out;
}

/** All problems of one config, reported together. */
export class DeclarativeError extends Error {
  constructor(readonly issues: DeclarativeIssue[]) {
    super(issues.map((i) => (i.path.length ? `${formatPath(i.path)}: ${i.message}` : i.message)).join("\n"));
    this.name = "DeclarativeError";
  }

  /** The lines users read: `path: message`. */
  get lines(): string[] {
    return this.message.split("\n");
  }

  /** Kong's code-14 error body for `POST /config`: the errors nested like the input, flattened per entity if asked. */
  toEntityError(opts: { flatten?: boolean } = {}): EntityError {
    const tree: Record<string, unknown> = {};
    for (const issue of this.issues) insertIssue(tree, issue);
    const err = declarativeConfigError(tree, this.lines);
    if (opts.flatten) (err.body as unknown as Record<string, unknown>).flattened_errors = this.flattened();
    return err;
  }

  /** Kong's `flattened_errors`: per entity, field errors as dotted paths (array positions 1-based). */
  flattened(): FlattenedEntityErrors[] {
    const byEntity = new Map<Record<string, unknown>, FlattenedEntityErrors>();
    for (const issue of this.issues) {
      if (!issue.entity) continue;
      const { type, input, at } = issue.entity;
      let entry = byEntity.get(input);
      if (!entry) {
        entry = { entity_type: type.endsWith("s") ? type.slice(0, -1) : type, entity: input, errors: [] };
        if (typeof input.name === "string" && input.name !== "") entry.entity_name = input.name;
        if (typeof input.id === "string" && isUuid(input.id)) entry.entity_id = input.id;
        if (Array.isArray(input.tags) && input.tags.every((t) => typeof t === "string"))
          entry.entity_tags = input.tags;
        byEntity.set(input, entry);
      }
      const field = issue.path.slice(at).filter((seg) => seg !== "@entity");
      if (field.length === 0) entry.errors.push({ type: "entity", message: issue.message });
      else entry.errors.push({ type: "field", field: dottedField(field), message: issue.message });
    }
    return [...byEntity.values()];
  }
}

function dottedField(path: readonly PathSegment[]): string {
  return path.map((seg) => (typeof seg === "number" ? String(seg + 1) : seg)).join(".");
}

function insertIssue(tree: Record<PathSegment, unknown>, issue: DeclarativeIssue): void {
  if (issue.path.length === 0) {
    const list = (tree["@entity"] as string[] | undefined) ?? [];
    tree["@entity"] = [...list, issue.message];
    return;
  }
  let node = tree;
  issue.path.forEach((seg, i) => {
    const last = i === issue.path.length - 1;
    if (last && seg === "@entity") {
      node[seg] = [...((node[seg] as string[] | undefined) ?? []), issue.message];
    } else if (last) {
      node[seg] ??= issue.message;
    } else {
      if (typeof node[seg] !== "object" || node[seg] === null)
        node[seg] = typeof issue.path[i + 1] === "number" ? [] : {};
      node = node[seg] as Record<PathSegment, unknown>;
    }
  });
}

export interface ParseOptions {
  /** The loaded plugins; plugin names and configs are checked against them when given. */
  plugins?: PluginSchemas;
  /** Clock in seconds for timestamps the file does not carry. */
  now?: number;
  /** Validated rows of the last config parsed with this memo; rows whose input is unchanged skip the schema parse. */
  reuse?: ValidatedRows;
}

/**
 * The per-row schema results of the last successful parse, keyed by entity type and the row's input JSON (after
 * ids and references are filled in). Only the per-row parse is reused: uniqueness and references are checked on
 * the whole config every time. Rows whose result depends on the clock or on chance (timestamps or a key-auth key
 * left to be generated) are never kept, so a reused row is exactly what a full parse would produce.
 */
export class ValidatedRows {
  private rows = new Map<string, Record<string, unknown>>();
  private plugins: PluginSchemas | undefined;
  private transform = true;

  /** Rows kept under other plugin schemas or `_transform` would not be what this parse produces. */
  session(plugins: PluginSchemas | undefined, transform: boolean): ReuseSession {
    const previous = plugins === this.plugins && transform === this.transform ? this.rows : new Map();
    const next = new Map<string, Record<string, unknown>>();
    return {
      // Taken once: an identical duplicate row gets its own object, as a full parse gives it.
      take: (key) => (next.has(key) ? undefined : previous.get(key)),
      keep: (key, row) => next.set(key, row),
      commit: () => {
        this.rows = next;
        this.plugins = plugins;
        this.transform = transform;
      },
    };
  }
}

interface ReuseSession {
  take(key: string): Record<string, unknown> | undefined;
  keep(key: string, row: Record<string, unknown>): void;
  commit(): void;
}

/** The memo key of a row whose validated result depends only on its input, else undefined. */
function reuseKey(item: Item): string | undefined {
  const { def, raw } = item;
  if (raw.created_at == null || (def.hasUpdatedAt && raw.updated_at == null)) return undefined;
  if (def.name === "keyauth_credentials" && raw.key == null) return undefined;
  return `${def.name}\n${JSON.stringify(raw)}`;
}

const META_KEYS = new Set(["_format_version", "_transform", "_comment", "_ignore", "_workspace"]);
const ITEM_META_KEYS = new Set(["_comment", "_ignore"]);
/** Present in a Kong export but not gw's business: workspaces (gw has one) and rows' `ws_id`. */
const IGNORED_TOP_LEVEL = new Set(["workspaces"]);

const BY_NAME = new Map(ENTITIES.map((d) => [d.name, d]));

/** For each parent, the children that may nest under it and the FK field nesting fills (`services` → `routes.service`). */
const NESTED = new Map<string, Map<string, string>>();
for (const def of ENTITIES) {
  for (const fk of def.foreignKeys) {
    const children = NESTED.get(fk.reference) ?? new Map<string, string>();
    children.set(def.name, fk.field);
    NESTED.set(fk.reference, children);
  }
}

interface Item {
  def: EntityDefinition;
  /** The entity as the file writes it (children included); only read to report errors. */
  source: Record<string, unknown>;
  input?: Record<string, unknown>;
  raw: Record<string, unknown>;
  path: PathSegment[];
  id: string;
  parent?: { item: Item; field: string };
  /** FK fields whose reference was reported already; their validation errors would only repeat it. */
  unresolved?: string[];
}

/** Parses a declarative file's text: JSON for `.json` names (or text that opens with `{`), YAML otherwise. */
export function parseDeclarativeText(
  text: string,
  opts: ParseOptions & { filename?: string } = {},
): ConfigTable {
  const json = opts.filename ? opts.filename.endsWith(".json") : text.trimStart().startsWith("{");
  let input: unknown;
  try {
    input = json ? JSON.parse(text) : Bun.YAML.parse(text);
  } catch (e) {
    throw new DeclarativeError([
      { path: [], message: `failed parsing declarative configuration: ${(e as Error).message}` },
    ]);
  }
  return parseDeclarative(input, opts);
}

/** Validates a decoded declarative config (file, `POST /config` body, or a CP's export) into a `ConfigTable`. */
export function parseDeclarative(input: unknown, opts: ParseOptions = {}): ConfigTable {
  const issues: DeclarativeIssue[] = [];
  if (typeof input !== "object" || input === null || Array.isArray(input)) {
    throw new DeclarativeError([{ path: [], message: "expected an object" }]);
  }
  const doc = input as Record<string, unknown>;
  const transform = checkTopLevel(doc, issues);
  const legacyPaths = doc._format_version === "1.1" || doc._format_version === "2.1";
  const items: Item[] = [];
  const collector: Collector = { items, issues, legacyPaths };
  for (const def of ENTITIES) {
    if (doc[def.name] !== undefined) collect(def, doc[def.name], [def.name], undefined, collector);
  }
  const index = indexItems(items, issues);
  for (const item of items) resolveReferences(item, index, issues);
  // Kong migrates 1.1 and 2.1 files on the fly and then treats them as 3.0.
  const table = emptyTable(legacyPaths ? "3.0" : (doc._format_version as string), transform);
  const now = opts.now ?? Date.now() / 1000;
  const itemOf = new Map<object, Item>();
  const reuse = opts.reuse?.session(opts.plugins, transform);
  for (const item of items) {
    const key = reuse && reuseKey(item);
    let entity = key === undefined ? undefined : reuse!.take(key);
    if (!entity) {
      const r = validateEntity(item.def, item.raw, { mode: "create", plugins: opts.plugins, transform, now });
      if (!r.ok) {
        for (const f of item.unresolved ?? []) delete r.fields[f];
        addFieldIssues(item, [], r.fields, issues);
        continue;
      }
      entity = r.entity;
      for (const f of item.def.transientFields) delete entity[f];
    }
    if (key !== undefined) reuse!.keep(key, entity);
    (table[item.def.name as keyof ConfigTable] as unknown[]).push(entity);
    itemOf.set(entity, item);
  }
  checkUniqueFields(table, itemOf, issues);
  if (issues.length > 0) throw new DeclarativeError(issues.sort((a, b) => comparePaths(a.path, b.path)));
  reuse?.commit();
  return table;
}

const ENTITY_RANK = new Map(ENTITIES.map((d, i) => [d.name, i]));

/** Orders issues as the file reads: by entity type, then position, then field. */
function comparePaths(a: readonly PathSegment[], b: readonly PathSegment[]): number {
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    const x = a[i]!;
    const y = b[i]!;
    if (x === y) continue;
    if (typeof x === "number" && typeof y === "number") return x - y;
    const rx = ENTITY_RANK.get(String(x)) ?? -1;
    const ry = ENTITY_RANK.get(String(y)) ?? -1;
    if (rx !== ry) return rx - ry;
    return String(x) < String(y) ? -1 : 1;
  }
  return a.length - b.length;
}

function checkTopLevel(doc: Record<string, unknown>, issues: DeclarativeIssue[]): boolean {
  const version = doc._format_version;
  if (version === undefined || version === null) {
    issues.push({ path: ["_format_version"], message: "required field missing" });
  } else if (!(FORMAT_VERSIONS as readonly unknown[]).includes(version)) {
    issues.push({ path: ["_format_version"], message: `expected one of: ${FORMAT_VERSIONS.join(", ")}` });
  }
  const transform = doc._transform ?? true;
  if (typeof transform !== "boolean") issues.push({ path: ["_transform"], message: "expected a boolean" });
  for (const key of Object.keys(doc)) {
    if (META_KEYS.has(key) || BY_NAME.has(key) || IGNORED_TOP_LEVEL.has(key)) continue;
    const v = doc[key];
    if (v === null || (Array.isArray(v) && v.length === 0)) continue;
    issues.push({ path: [key], message: "unknown field" });
  }
  return transform !== false;
}

function emptyTable(version: string, transform: boolean): ConfigTable {
  const table: Record<string, unknown> = { _format_version: version, _transform: transform };
  for (const def of ENTITIES) table[def.name] = [];
  return table as unknown as ConfigTable;
}

/** Flattens one entity array and everything nested in it, parents before children. */
interface Collector {
  items: Item[];
  issues: DeclarativeIssue[];
  /** Files in format 1.1 or 2.1 get Kong's on-the-fly route path migration. */
  legacyPaths: boolean;
}

function collect(
  def: EntityDefinition,
  value: unknown,
  path: PathSegment[],
  parent: Item["parent"],
  out: Collector,
): void {
  const { items, issues } = out;
  if (value === null) return;
  if (!Array.isArray(value)) {
    issues.push({ path, message: "expected an array" });
    return;
  }
  const children = NESTED.get(def.name);
  value.forEach((element, i) => {
    const itemPath = [...path, i];
    // Certificates may list their SNIs as plain names (Kong's transient `snis` field).
    const record = def.name === "snis" && typeof element === "string" ? { name: element } : element;
    if (typeof record !== "object" || record === null || Array.isArray(record)) {
      issues.push({ path: itemPath, message: "expected a record" });
      return;
    }
    const raw: Record<string, unknown> = {};
    const nested: [EntityDefinition, unknown][] = [];
    const source = record as Record<string, unknown>;
    for (const k in source) {
      const v = source[k];
      if (ITEM_META_KEYS.has(k) || k === "ws_id") continue;
      const child = children?.has(k) ? BY_NAME.get(k) : undefined;
      if (child) nested.push([child, v]);
      else if (v !== null || k in def.schema.shape) raw[k] = v;
    }
    const item: Item = { def, source, raw, path: itemPath, id: "", parent };
    if (parent && raw[parent.field] !== undefined) {
      issues.push(issueAt(item, [parent.field], "unknown field"));
      delete raw[parent.field];
    }
    item.id = idFor(item);
    raw.id ??= item.id;
    items.push(item);
    if (out.legacyPaths && def.name === "routes" && Array.isArray(raw.paths)) {
      raw.paths = raw.paths.map((p) => (typeof p === "string" ? migrateLegacyPath(p) : p));
    }
    for (const [child, v] of nested) {
      collect(child, v, [...itemPath, child.name], { item, field: children!.get(child.name)! }, out);
    }
  });
}

/** Reserved characters keep their (upper-cased) escape in a migrated regex; regex metacharacters are escaped. */
const RESERVED = new Set("!#$%&'()*+,/:;=?@[]");
const REGEX_META: Record<string, string> = {
  ".": "\\.",
  "^": "\\^",
  "-": "\\-",
  "{": "\\{",
  "}": "\\}",
  "\\": "\\\\",
  "|": "\\|",
};

/**
 * Kong's 2.x → 3.0 route path migration: paths that can only be plain prefixes are normalized; anything else was a
 * regex in 2.x and becomes `~`-prefixed, with percent-escapes decoded the way Kong decodes them.
 */
export function migrateLegacyPath(path: string): string {
  if (/^[a-zA-Z0-9.\-_~/%]*$/.test(path)) return normalizePath(path);
  return `~${path.replace(/%([0-9A-Fa-f]{2})/g, (all, hex: string) => {
    const ch = String.fromCharCode(Number.parseInt(hex, 16));
    return RESERVED.has(ch) ? all.toUpperCase() : (REGEX_META[ch] ?? ch);
  })}`;
}

/** The given id, Kong's deterministic id (cache_key or endpoint key), or a random one. */
function idFor(item: Item): string {
  const given = item.raw.id;
  if (typeof given === "string") return given;
  const key = idKey(item);
  return key === undefined ? randomUUID() : declarativeId(item.def.name, key);
}

/** Kong's `get_key_for_uuid_gen`: every endpoint key gw has is unique, so it is used as is. */
function idKey(item: Item): string | undefined {
  const { def, raw } = item;
  if (def.cacheKey) {
    const parts: string[] = [];
    for (const k of def.cacheKey) {
      const field = def.schema.shape[k] as z.ZodType;
      if (fieldMeta(field).auto) return undefined;
      const v = raw[k];
      if (typeof v === "string") parts.push(v);
      else if (v === undefined) {
        if (item.parent?.field === k) parts.push(item.parent.item.id);
        else if (isRequired(field)) return undefined;
        else parts.push("");
      }
      // Kong skips values that are neither strings nor absent (e.g. `{ id = … }` tables) without a placeholder.
    }
    return cacheKeyString(def.name, parts);
  }
  const endpoint = def.endpointKey ? raw[def.endpointKey] : undefined;
  return typeof endpoint === "string" ? endpoint : undefined;
}

interface Index {
  byId: Map<string, Map<string, Item>>;
  byKey: Map<string, Map<string, Item>>;
}

function uniquenessMessage(entity: string, key: string, value: string): string {
  return `uniqueness violation: '${entity}' entity with ${key} set to '${value}' already declared`;
}

function indexItems(items: Item[], issues: DeclarativeIssue[]): Index {
  const byId = new Map(ENTITIES.map((d) => [d.name, new Map<string, Item>()]));
  const byKey = new Map(ENTITIES.map((d) => [d.name, new Map<string, Item>()]));
  for (const item of items) {
    const { def } = item;
    const endpoint =
      def.endpointKey && def.unique.includes(def.endpointKey) ? item.raw[def.endpointKey] : undefined;
    if (typeof endpoint === "string") {
      const keys = byKey.get(def.name)!;
      if (keys.has(endpoint)) {
        issues.push(issueAt(item, [], uniquenessMessage(def.name, def.endpointKey!, endpoint)));
        continue;
      }
      keys.set(endpoint, item);
    }
    const ids = byId.get(def.name)!;
    if (ids.has(item.id)) issues.push(issueAt(item, [], uniquenessMessage(def.name, "primary key", item.id)));
    else ids.set(item.id, item);
  }
  return { byId, byKey };
}

/** FKs given by name or id (or inherited from nesting) become `{ id }`; unknown targets are reported. */
function resolveReferences(item: Item, index: Index, issues: DeclarativeIssue[]): void {
  for (const fk of item.def.foreignKeys) {
    if (item.parent?.field === fk.field) {
      item.raw[fk.field] = { id: item.parent.item.id };
      continue;
    }
    const v = item.raw[fk.field];
    let found: Item | undefined;
    if (typeof v === "string") {
      found = index.byKey.get(fk.reference)?.get(v) ?? index.byId.get(fk.reference)?.get(v);
    } else if (typeof v === "object" && v !== null && typeof (v as { id?: unknown }).id === "string") {
      found = index.byId.get(fk.reference)?.get((v as { id: string }).id);
    } else continue;
    if (found) {
      item.raw[fk.field] = { id: found.id };
    } else {
      item.unresolved = [...(item.unresolved ?? []), fk.field];
      const shown = typeof v === "string" ? v : JSON.stringify(v);
      const message = `invalid reference '${fk.field}: ${shown}' (no such entry in '${fk.reference}')`;
      issues.push(issueAt(item, [fk.field], message));
    }
  }
}

/** A problem in one entity; `field` is the path inside it (empty for the entity as a whole). */
function issueAt(item: Item, field: PathSegment[], message: string): DeclarativeIssue {
  return {
    path: [...item.path, ...field],
    message,
    entity: { type: item.def.name, input: entityInput(item), at: item.path.length },
  };
}

/** The entity as Kong's flattened errors show it: as written, children left out, a nested child's parent by id. */
function entityInput(item: Item): Record<string, unknown> {
  if (item.input) return item.input;
  const children = NESTED.get(item.def.name);
  const input: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(item.source)) if (!children?.has(k)) input[k] = v;
  const parentId = item.parent?.item.source.id;
  if (item.parent && typeof parentId === "string" && isUuid(parentId))
    input[item.parent.field] ??= { id: parentId };
  item.input = input;
  return input;
}

function addFieldIssues(item: Item, field: PathSegment[], errors: unknown, issues: DeclarativeIssue[]): void {
  if (typeof errors === "string") {
    issues.push(issueAt(item, field, errors));
  } else if (Array.isArray(errors)) {
    errors.forEach((e, i) => {
      addFieldIssues(item, [...field, i], e, issues);
    });
  } else if (errors && typeof errors === "object") {
    for (const [k, v] of Object.entries(errors)) {
      if (k === "@entity")
        for (const m of v as string[]) issues.push(issueAt(item, [...field, "@entity"], m));
      else addFieldIssues(item, [...field, k], v, issues);
    }
  }
}

/** Unique fields other than the endpoint key (already checked while indexing), e.g. consumers' `custom_id`. */
function checkUniqueFields(table: ConfigTable, itemOf: Map<object, Item>, issues: DeclarativeIssue[]): void {
  for (const def of ENTITIES) {
    for (const field of def.unique) {
      if (field === def.endpointKey) continue;
      const seen = new Set<unknown>();
      for (const row of table[def.name as keyof ConfigTable] as Record<string, unknown>[]) {
        const v = row[field];
        if (v === null || v === undefined) continue;
        const item = itemOf.get(row);
        if (seen.has(v) && item)
          issues.push(issueAt(item, [], uniquenessMessage(def.name, field, String(v))));
        seen.add(v);
      }
    }
  }
}

/**
 * Kong's export/wire shape (`export_config`): `_format_version` 3.0, `_transform` false, FKs as plain ids,
 * nulls kept, only non-empty entity arrays, and disabled services, their routes, anything pointing at either,
 * and disabled plugins left out.
 */
export function exportConfigTable(table: ConfigTable): Record<string, unknown> {
  const out: Record<string, unknown> = { _format_version: "3.0", _transform: false };
  const disabled = new Set<string>();
  for (const def of ENTITIES) {
    const rows: Record<string, unknown>[] = [];
    for (const row of table[def.name as keyof ConfigTable] as Record<string, unknown>[]) {
      const exported = exportRow(def, row, disabled);
      if (exported) rows.push(exported);
    }
    if (rows.length > 0) out[def.name] = rows;
  }
  return out;
}

function exportRow(
  def: EntityDefinition,
  row: Record<string, unknown>,
  disabled: Set<string>,
): Record<string, unknown> | undefined {
  if (def.name === "services" && row.enabled === false) {
    disabled.add(row.id as string);
    return undefined;
  }
  if (def.name === "plugins" && row.enabled === false) return undefined;
  const out = { ...row };
  for (const fk of def.foreignKeys) {
    const ref = row[fk.field] as { id?: string } | null | undefined;
    if (!ref || typeof ref !== "object" || ref.id === undefined) continue;
    if (disabled.has(ref.id)) {
      if (def.name === "routes") disabled.add(row.id as string);
      return undefined;
    }
    out[fk.field] = ref.id;
  }
  return out;
}
