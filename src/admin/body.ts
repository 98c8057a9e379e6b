/** Admin API request bodies as Kong reads them: JSON, form-encoded (`paths[]=/a`, `config.minute=5`) or multipart. */

/** Kong schema field types, as `/schemas/{entity}` lists them. */
export type FieldType =
  | "string"
  | "integer"
  | "number"
  | "boolean"
  | "array"
  | "set"
  | "map"
  | "record"
  | "foreign"
  | "json";

/**
 * Answers a field's type by its path (`["config", "minute"]`), so form strings become the values the schema wants;
 * `[...path, "[]"]` asks for the element type of an array or set.
 */
export type FieldTypeOf = (path: readonly string[]) => FieldType | undefined;

export class BodyError extends Error {}

/** Picks the field types for a form body; plugins need the body's own `name` to know their config's types. */
export type FieldTypesFor = (pairs: readonly [string, string][]) => FieldTypeOf;

export async function readBody(req: Request, typesFor: FieldTypesFor): Promise<Record<string, unknown>> {
  const type = (req.headers.get("content-type") ?? "").toLowerCase();
  if (type.includes("application/json")) {
    const text = await req.text();
    if (text.trim() === "") return {};
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch {
      throw new BodyError("Cannot parse JSON body");
    }
    if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
      throw new BodyError("JSON body must be an object");
    return parsed as Record<string, unknown>;
  }
  if (type.includes("multipart/form-data")) {
    const form = await req.formData();
    const pairs: [string, string][] = [];
    for (const [k, v] of form) pairs.push([k, typeof v === "string" ? v : await v.text()]);
    return fromPairs(pairs, typesFor(pairs));
  }
  const pairs = [...new URLSearchParams(await req.text())];
  return fromPairs(pairs, typesFor(pairs));
}

/** Query strings use the same grammar for filters; exported for the GET handlers. */
export function fromPairs(pairs: Iterable<[string, string]>, typeOf: FieldTypeOf): Record<string, unknown> {
  const root: Record<string, unknown> = {};
  for (const [rawKey, value] of pairs) {
    const path = splitKey(rawKey);
    if (path.length === 0) continue;
    assign(root, path, value, typeOf);
  }
  return root;
}

/** `a.b[]`, `a[b][c]`, `a[1]` → path segments; `""` marks an append. */
function splitKey(key: string): string[] {
  const out: string[] = [];
  for (const part of key.split(".")) {
    const m = part.match(/^([^[\]]*)((?:\[[^\]]*\])*)$/);
    if (!m) {
      out.push(part);
      continue;
    }
    if (m[1]) out.push(m[1]);
    for (const b of m[2]!.matchAll(/\[([^\]]*)\]/g)) out.push(b[1]!);
  }
  return out;
}

function assign(root: Record<string, unknown>, path: string[], raw: string, typeOf: FieldTypeOf): void {
  const fieldPath = path.filter((p) => p !== "" && !/^\d+$/.test(p));
  let node: Record<string, unknown> = root;
  for (let i = 0; i < path.length - 1; i++) {
    const key = path[i]!;
    const nextKey = path[i + 1]!;
    const isIndex = nextKey === "" || /^\d+$/.test(nextKey);
    if (isIndex) {
      const list = (Array.isArray(node[key]) ? node[key] : []) as unknown[];
      node[key] = list;
      const value = coerce(raw, typeOf([...fieldPath, "[]"]), true);
      if (nextKey === "") list.push(value);
      else list[Math.max(0, Number(nextKey) - 1)] = value;
      return;
    }
    if (!node[key] || typeof node[key] !== "object" || Array.isArray(node[key])) node[key] = {};
    node = node[key] as Record<string, unknown>;
  }
  const last = path[path.length - 1]!;
  const type = typeOf(fieldPath);
  // Kong accepts a single form value for an array field (`methods=GET`) as a one-element array.
  if (type === "array" || type === "set") {
    const list = (Array.isArray(node[last]) ? node[last] : []) as unknown[];
    if (raw !== "") list.push(coerce(raw, typeOf([...fieldPath, "[]"]), true));
    node[last] = list;
    return;
  }
  node[last] = coerce(raw, type, false);
}

/** Form values are strings; convert those whose field is numeric or boolean. Unparseable values stay strings for the validator to reject. */
function coerce(raw: string, type: FieldType | undefined, element: boolean): unknown {
  if (!element && raw === "" && type !== "string") return null;
  switch (type) {
    case "integer":
    case "number": {
      const n = Number(raw);
      return raw.trim() !== "" && Number.isFinite(n) ? n : raw;
    }
    case "boolean":
      return raw === "true" ? true : raw === "false" ? false : raw;
    default:
      return raw;
  }
}
