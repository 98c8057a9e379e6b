/** response-transformer: removes, renames, replaces, adds and appends response headers and JSON body fields. */
import { z } from "zod";
import { array, check, oneOf, str } from "../entities/fields";
import {
  appendValue,
  clearResponseHeader,
  defaultedRecord,
  headerPairProblem,
  pairShapeProblem,
  responseHeader,
  setResponseHeader,
  splitPair,
} from "./common";
import { definePlugin } from "./plugin";

const strings = () => array(str()).default([]);
const pairs = () => array(check(str(), pairShapeProblem)).default([]);
const renames = () =>
  array(check(str(), (e) => pairShapeProblem(e) ?? headerPairProblem(e, true))).default([]);
const jsonTypes = () => array(oneOf(["boolean", "number", "string"])).default([]);

const valueRecord = () => defaultedRecord({ json: pairs(), json_types: jsonTypes(), headers: pairs() });

export const responseTransformerSchema = z.strictObject({
  remove: defaultedRecord({ json: strings(), headers: strings() }),
  rename: defaultedRecord({ json: pairs(), headers: renames() }),
  replace: valueRecord(),
  add: valueRecord(),
  append: valueRecord(),
});

type ResponseTransformerConfig = z.output<typeof responseTransformerSchema>;
type JsonType = "boolean" | "number" | "string";

/** `name:value` entries; an empty value means "no value" and the entry is skipped where Kong skips it. */
function* entries(items: readonly string[]): Generator<[string, string | null, number]> {
  for (let i = 0; i < items.length; i++) {
    const [name, value] = splitPair(items[i]!);
    yield [name, value === "" ? null : value, i];
  }
}

const hasBodyRules = (c: ResponseTransformerConfig) =>
  c.remove.json.length +
    c.rename.json.length +
    c.replace.json.length +
    c.add.json.length +
    c.append.json.length >
  0;

/** Kong's `is_json_body`: any comma-separated media type that is exactly application/json. */
function isJson(contentType: string | null): boolean {
  if (!contentType) return false;
  return contentType.split(",").some((ct) => ct.split(";")[0]!.trim().toLowerCase() === "application/json");
}

/** Kong casts configured values by `json_types`: numbers that do not parse are dropped, booleans are `== "true"`. */
function cast(value: string, type: JsonType | undefined): unknown {
  if (type === "number") {
    const n = Number(value);
    return value.trim() === "" || Number.isNaN(n) ? undefined : n;
  }
  if (type === "boolean") return value === "true";
  return value;
}

const truthy = (v: unknown) => v !== undefined && v !== null && v !== false;

function transformJson(conf: ResponseTransformerConfig, body: Record<string, unknown>): void {
  for (const name of conf.remove.json) delete body[name];
  for (const [from, to] of entries(conf.rename.json)) {
    if (body[from] === undefined || to === null) continue;
    body[to] = body[from];
    delete body[from];
  }
  for (const [name, value, i] of entries(conf.replace.json)) {
    const v = value === null ? undefined : cast(value, conf.replace.json_types[i]);
    if (truthy(body[name]) && v !== undefined) body[name] = v;
  }
  for (const [name, value, i] of entries(conf.add.json)) {
    const v = value === null ? undefined : cast(value, conf.add.json_types[i]);
    if (!truthy(body[name]) && v !== undefined) body[name] = v;
  }
  for (const [name, value, i] of entries(conf.append.json)) {
    const v = value === null ? undefined : cast(value, conf.append.json_types[i]);
    if (v !== undefined) body[name] = appendValue(body[name], v);
  }
}

function allValues(flat: readonly string[], lower: string): string[] {
  const out: string[] = [];
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === lower) out.push(flat[i + 1]!);
  return out;
}

export const responseTransformer = definePlugin<ResponseTransformerConfig>({
  name: "response-transformer",
  version: "3.10.0",
  priority: 800,
  configSchema: responseTransformerSchema,
  headerFilter(_ctx, conf, res) {
    const h = res.headers;
    for (const name of conf.remove.headers) clearResponseHeader(h, name.toLowerCase());
    for (const [from, to] of entries(conf.rename.headers)) {
      const values = allValues(h, from.toLowerCase());
      if (values.length === 0 || to === null) continue;
      clearResponseHeader(h, from.toLowerCase());
      clearResponseHeader(h, to.toLowerCase());
      for (const v of values) h.push(to, v);
    }
    for (const [name, value] of entries(conf.replace.headers)) {
      if (value !== null && responseHeader(h, name.toLowerCase()) !== null) setResponseHeader(h, name, value);
    }
    for (const [name, value] of entries(conf.add.headers)) {
      if (value !== null && responseHeader(h, name.toLowerCase()) === null) setResponseHeader(h, name, value);
    }
    for (const [name, value] of entries(conf.append.headers)) if (value !== null) h.push(name, value);
    if (hasBodyRules(conf) && isJson(responseHeader(h, "content-type")))
      clearResponseHeader(h, "content-length");
  },
  bodyFilter(_ctx, conf, body, res) {
    if (!hasBodyRules(conf) || !isJson(responseHeader(res.headers, "content-type"))) return body;
    let json: unknown;
    try {
      json = JSON.parse(new TextDecoder().decode(body));
    } catch {
      return body;
    }
    if (!json || typeof json !== "object" || Array.isArray(json)) return body;
    transformJson(conf, json as Record<string, unknown>);
    return new TextEncoder().encode(JSON.stringify(json));
  },
});
