/** request-transformer: removes, renames, replaces, adds and appends headers, query arguments and body fields. */
import { z } from "zod";
import { array, check, opt, str } from "../entities/fields";
import { logger } from "../log/logger";
import {
  appendValue,
  type BodyKind,
  bodyKind,
  defaultedRecord,
  headerPairProblem,
  pairShapeProblem,
  rawBody,
  setUpstreamBody,
  splitPair,
} from "./common";
import { definePlugin, type RequestContext } from "./plugin";

const log = logger("request-transformer");

const list = (element: z.ZodType<string>) => array(element).default([]);
const strings = () => list(str());
/** `name:value` entries whose value may not be empty. */
const pairs = () =>
  list(
    check(str(), (e) => {
      const [name, value] = splitPair(e);
      return value === "" ? `key '${name}' has no value` : undefined;
    }),
  );
const headerPairs = (checkValue: boolean) =>
  list(check(str(), (e) => pairShapeProblem(e) ?? headerPairProblem(e, checkValue)));

export const requestTransformerSchema = z.strictObject({
  http_method: opt(check(str(), (v) => (/^[A-Z]+$/.test(v) ? undefined : `invalid value: ${v}`))),
  remove: defaultedRecord({
    body: strings(),
    headers: list(check(str(), (e) => headerPairProblem(e, false))),
    querystring: strings(),
  }),
  rename: defaultedRecord({ body: pairs(), headers: headerPairs(true), querystring: pairs() }),
  replace: defaultedRecord({
    body: pairs(),
    headers: headerPairs(false),
    querystring: pairs(),
    uri: opt(str()),
  }),
  add: defaultedRecord({ body: pairs(), headers: headerPairs(false), querystring: pairs() }),
  append: defaultedRecord({ body: pairs(), headers: headerPairs(false), querystring: pairs() }),
});

type RequestTransformerConfig = z.output<typeof requestTransformerSchema>;
type Section = "body" | "headers" | "querystring";

// ---------------------------------------------------------------- templates

const TEMPLATE = /\$\((\w+)(?:\.([\w-]+)|\[\s*["']([^"']+)["']\s*\])\)/g;

/**
 * Kong renders values as Lua templates. gw has no Lua: it renders the common lookups `$(headers.x)`,
 * `$(headers["x-y"])`, `$(query_params.x)` and `$(query_params["x"])`; anything else is sent as written.
 */
function render(value: string, ctx: RequestContext): string {
  if (!value.includes("$(")) return value;
  return value.replace(TEMPLATE, (whole, source: string, dotted?: string, quoted?: string) => {
    const key = dotted ?? quoted ?? "";
    if (source === "headers") return ctx.req.headers.get(key.replaceAll("_", "-")) ?? "";
    if (source === "query_params") return new URLSearchParams(ctx.query).get(key) ?? "";
    return whole;
  });
}

function* entries(items: readonly string[], ctx: RequestContext): Generator<[string, string]> {
  for (const item of items) {
    const [name, value] = splitPair(item);
    yield [name, render(value, ctx)];
  }
}

// ---------------------------------------------------------------- headers

/** Header names are case-insensitive; earlier plugins' changes count as the current value. */
function currentHeader(ctx: RequestContext, name: string): string | null {
  return ctx.upstreamHeaders.has(name) ? ctx.upstreamHeaders.get(name)! : ctx.req.headers.get(name);
}

function transformHeaders(ctx: RequestContext, conf: RequestTransformerConfig): void {
  const h = ctx.upstreamHeaders;
  for (const name of conf.remove.headers)
    if (currentHeader(ctx, name.toLowerCase()) !== null) h.set(name.toLowerCase(), null);
  for (const [from, to] of entries(conf.rename.headers, ctx)) {
    const value = currentHeader(ctx, from.toLowerCase());
    if (value === null || from.toLowerCase() === to.toLowerCase()) continue;
    h.set(to.toLowerCase(), value);
    h.set(from.toLowerCase(), null);
  }
  for (const [name, value] of entries(conf.replace.headers, ctx)) {
    const lower = name.toLowerCase();
    if (currentHeader(ctx, lower) !== null || lower === "host") h.set(lower, value);
  }
  for (const [name, value] of entries(conf.add.headers, ctx)) {
    const lower = name.toLowerCase();
    if (currentHeader(ctx, lower) === null && lower !== "host") h.set(lower, value);
  }
  for (const [name, value] of entries(conf.append.headers, ctx)) {
    const lower = name.toLowerCase();
    if (lower === "host") continue;
    const existing = currentHeader(ctx, lower);
    h.set(lower, existing === null ? value : `${existing}, ${value}`);
  }
}

// ---------------------------------------------------------------- query and form bodies

/** Applies one section's operations to an argument list (query string or form body) in Kong's order. */
function transformArgs(
  params: URLSearchParams,
  conf: RequestTransformerConfig,
  section: Exclude<Section, "headers">,
  ctx: RequestContext,
  hasContent: boolean,
): boolean {
  let changed = false;
  if (hasContent) {
    for (const name of conf.remove[section]) {
      changed ||= params.has(name);
      params.delete(name);
    }
    for (const [from, to] of entries(conf.rename[section], ctx)) {
      if (!params.has(from) || from === to) continue;
      for (const v of params.getAll(from)) params.append(to, v);
      params.delete(from);
      changed = true;
    }
    for (const [name, value] of entries(conf.replace[section], ctx)) {
      if (!params.has(name)) continue;
      params.set(name, value);
      changed = true;
    }
  }
  for (const [name, value] of entries(conf.add[section], ctx)) {
    if (params.has(name)) continue;
    params.append(name, value);
    changed = true;
  }
  for (const [name, value] of entries(conf.append[section], ctx)) {
    params.append(name, value);
    changed = true;
  }
  return changed;
}

function transformQuery(ctx: RequestContext, conf: RequestTransformerConfig): void {
  const params = new URLSearchParams(ctx.query);
  if (transformArgs(params, conf, "querystring", ctx, true)) ctx.query = params.toString();
}

// ---------------------------------------------------------------- bodies

function transformJson(
  body: Record<string, unknown>,
  conf: RequestTransformerConfig,
  ctx: RequestContext,
  hasContent: boolean,
): boolean {
  let changed = false;
  if (hasContent) {
    for (const name of conf.remove.body) {
      delete body[name];
      changed = true;
    }
    for (const [from, to] of entries(conf.rename.body, ctx)) {
      if (body[from] === undefined || body[from] === null || from === to) continue;
      body[to] = body[from];
      delete body[from];
      changed = true;
    }
    for (const [name, value] of entries(conf.replace.body, ctx)) {
      if (body[name] === undefined || body[name] === null || body[name] === false) continue;
      body[name] = value;
      changed = true;
    }
  }
  for (const [name, value] of entries(conf.add.body, ctx)) {
    if (body[name] !== undefined && body[name] !== null && body[name] !== false) continue;
    body[name] = value;
    changed = true;
  }
  for (const [name, value] of entries(conf.append.body, ctx)) {
    body[name] = appendValue(body[name], value);
    changed = true;
  }
  return changed;
}

async function transformMultipart(
  bytes: Uint8Array,
  contentType: string,
  conf: RequestTransformerConfig,
  ctx: RequestContext,
): Promise<{ body: Uint8Array; contentType: string } | null> {
  const form = await new Response(bytes, { headers: { "content-type": contentType } }).formData();
  let changed = false;
  const has = bytes.length > 0;
  if (has) {
    for (const [from, to] of entries(conf.rename.body, ctx)) {
      const value = form.get(from);
      if (value === null || from === to) continue;
      form.set(to, value);
      form.delete(from);
      changed = true;
    }
    for (const name of conf.remove.body) {
      form.delete(name);
      changed = true;
    }
    for (const [name, value] of entries(conf.replace.body, ctx)) {
      if (!form.has(name)) continue;
      form.set(name, value);
      changed = true;
    }
  }
  for (const [name, value] of entries(conf.add.body, ctx)) {
    if (form.has(name)) continue;
    form.set(name, value);
    changed = true;
  }
  if (!changed) return null;
  // Re-encoding picks a new boundary, so the Content-Type travels with the body.
  const encoded = new Response(form as unknown as ConstructorParameters<typeof Response>[0]);
  // Read the type before the body: Bun drops it once the body has been consumed.
  const type = encoded.headers.get("content-type")!;
  return { body: new Uint8Array(await encoded.arrayBuffer()), contentType: type };
}

const hasBodyRules = (conf: RequestTransformerConfig) =>
  conf.remove.body.length +
    conf.rename.body.length +
    conf.replace.body.length +
    conf.add.body.length +
    conf.append.body.length >
  0;

async function transformBody(
  ctx: RequestContext,
  conf: RequestTransformerConfig,
  kind: BodyKind,
): Promise<void> {
  const bytes = await rawBody(ctx);
  const text = new TextDecoder().decode(bytes);
  if (kind === "form") {
    const params = new URLSearchParams(text);
    if (transformArgs(params, conf, "body", ctx, bytes.length > 0)) setUpstreamBody(ctx, params.toString());
  } else if (kind === "json") {
    let body: unknown = {};
    try {
      if (bytes.length > 0) body = JSON.parse(text);
    } catch {
      return;
    }
    if (!body || typeof body !== "object" || Array.isArray(body)) return;
    if (transformJson(body as Record<string, unknown>, conf, ctx, bytes.length > 0))
      setUpstreamBody(ctx, JSON.stringify(body));
  } else {
    const result = await transformMultipart(bytes, ctx.req.headers.get("content-type")!, conf, ctx);
    if (!result) return;
    setUpstreamBody(ctx, result.body);
    ctx.upstreamHeaders.set("content-type", result.contentType);
  }
}

/** The method sent upstream; plugin.ts has no field for it yet, so it travels in `ctx.shared`. */
export const UPSTREAM_METHOD = "upstream_method";

async function transformMethod(ctx: RequestContext, conf: RequestTransformerConfig): Promise<void> {
  const method = conf.http_method;
  if (!method) return;
  ctx.shared[UPSTREAM_METHOD] = method;
  // Kong moves a form body into the query string when the new method has no body.
  if (!["GET", "HEAD", "TRACE"].includes(method) || bodyKind(ctx.req.headers.get("content-type")) !== "form")
    return;
  const form = new URLSearchParams(new TextDecoder().decode(await rawBody(ctx)));
  if (form.size === 0) return;
  const query = new URLSearchParams(ctx.query);
  for (const [k, v] of form) query.append(k, v);
  ctx.query = query.toString();
}

export const requestTransformer = definePlugin<RequestTransformerConfig>({
  name: "request-transformer",
  version: "3.10.0",
  priority: 801,
  configSchema: requestTransformerSchema,
  async access(ctx, conf) {
    if (conf.replace.uri) ctx.upstreamPath = render(conf.replace.uri, ctx);
    await transformMethod(ctx, conf);
    transformHeaders(ctx, conf);
    const kind = bodyKind(ctx.req.headers.get("content-type"));
    if (kind && hasBodyRules(conf)) {
      try {
        await transformBody(ctx, conf, kind);
      } catch (e) {
        log.warn(`body not transformed: ${(e as Error).message}`);
      }
    }
    transformQuery(ctx, conf);
    return undefined;
  },
});
