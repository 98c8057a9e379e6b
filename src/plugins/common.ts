/** Helpers the bundled plugins share: per-config compile caches, request bodies, Kong's consumer headers, `name:value` pairs. */
import { z } from "zod";
import type { ConsumerRef, PluginExit, PluginServices, RequestContext } from "./plugin";

/** Memoises work derived from one plugin config object; configs live as long as the config version that holds them. */
export function perConfig<C extends object, T>(build: (conf: C) => T): (conf: C) => T {
  const cache = new WeakMap<C, T>();
  return (conf) => {
    let value = cache.get(conf);
    if (value === undefined) {
      value = build(conf);
      cache.set(conf, value);
    }
    return value;
  };
}

const RAW_BODY = "gw.raw_body";

/**
 * The client's request body, read once per request and shared by every plugin that needs it. Reading consumes the
 * stream, so the bytes become the body sent upstream unless a plugin already replaced it.
 */
export async function rawBody(ctx: RequestContext): Promise<Uint8Array> {
  return (await rawBodyUpTo(ctx, Number.POSITIVE_INFINITY))!;
}

/** Like `rawBody`, but stops reading and answers null once the body grows past `max` bytes. */
export async function rawBodyUpTo(ctx: RequestContext, max: number): Promise<Uint8Array | null> {
  const cached = ctx.shared[RAW_BODY] as Uint8Array | undefined;
  if (cached) return cached.length > max ? null : cached;
  const chunks: Uint8Array[] = [];
  let size = 0;
  const body = ctx.req.body;
  if (body instanceof Uint8Array) {
    if (body.length > max) return null;
    chunks.push(body);
  } else if (body && !body.locked) {
    const reader = body.getReader();
    for (let r = await reader.read(); !r.done; r = await reader.read()) {
      size += r.value.length;
      if (size > max) {
        await reader.cancel();
        return null;
      }
      chunks.push(r.value);
    }
  }
  const bytes = chunks.length === 1 ? chunks[0]! : new Uint8Array(Buffer.concat(chunks));
  ctx.shared[RAW_BODY] = bytes;
  ctx.upstreamBody ??= bytes;
  return bytes;
}

/** Replaces the body sent upstream and its Content-Length, as Kong's `set_raw_body` does. */
export function setUpstreamBody(ctx: RequestContext, body: string | Uint8Array): void {
  ctx.upstreamBody = body;
  ctx.upstreamHeaders.set(
    "content-length",
    String(typeof body === "string" ? Buffer.byteLength(body) : body.length),
  );
}

export type BodyKind = "json" | "form" | "multipart";

/** Kong's content-type sniffing: a substring match, so `application/json; charset=utf-8` counts. */
export function bodyKind(contentType: string | null): BodyKind | null {
  if (!contentType) return null;
  const ct = contentType.toLowerCase();
  if (ct.includes("application/json")) return "json";
  if (ct.includes("multipart/form-data")) return "multipart";
  if (ct.includes("application/x-www-form-urlencoded")) return "form";
  return null;
}

/** Kong's `kong.request.get_body()`: the body as a flat object, or null when it is absent or unparseable. */
export async function parsedBody(ctx: RequestContext): Promise<Record<string, unknown> | null> {
  const contentType = ctx.req.headers.get("content-type");
  const kind = bodyKind(contentType);
  if (!kind) return null;
  const bytes = await rawBody(ctx);
  if (bytes.length === 0) return null;
  try {
    if (kind === "json") {
      const value = JSON.parse(new TextDecoder().decode(bytes));
      return value && typeof value === "object" && !Array.isArray(value) ? value : null;
    }
    if (kind === "form") return Object.fromEntries(new URLSearchParams(new TextDecoder().decode(bytes)));
    const form = await new Response(bytes, { headers: { "content-type": contentType! } }).formData();
    const out: Record<string, unknown> = {};
    for (const [k, v] of form) if (typeof v === "string") out[k] = v;
    return out;
  } catch {
    return null;
  }
}

export const HEADERS = {
  consumerId: "x-consumer-id",
  consumerCustomId: "x-consumer-custom-id",
  consumerUsername: "x-consumer-username",
  credentialIdentifier: "x-credential-identifier",
  anonymous: "x-anonymous-consumer",
  consumerGroups: "x-consumer-groups",
  authenticatedGroups: "x-authenticated-groups",
} as const;

/**
 * Kong's `set_consumer` of the auth plugins: records who the client is and tells the upstream through the
 * X-Consumer-* headers, clearing any the client sent itself. No credential means the anonymous consumer.
 */
export function authenticate(
  ctx: RequestContext,
  consumer: ConsumerRef | null,
  credential: { id: string; consumer?: { id: string } | null } | null,
  identifier: string | null,
): void {
  ctx.consumer = consumer;
  ctx.credential = credential;
  const h = ctx.upstreamHeaders;
  h.set(HEADERS.consumerId, consumer?.id ?? null);
  h.set(HEADERS.consumerCustomId, consumer?.custom_id ?? null);
  h.set(HEADERS.consumerUsername, consumer?.username ?? null);
  h.set(HEADERS.credentialIdentifier, credential ? identifier : null);
  h.set(HEADERS.anonymous, credential ? null : "true");
}

/** Kong's `load_consumer(x, true)`: the anonymous consumer is named by id or by username. */
export function findConsumer(services: PluginServices, idOrUsername: string): ConsumerRef | null {
  const byId = services.consumerById(idOrUsername);
  if (byId) return byId;
  try {
    return services.credentials<ConsumerRef>("consumers", "username", idOrUsername);
  } catch {
    return null;
  }
}

/**
 * The end of a failed authentication: with `anonymous` set the request goes on as that consumer (Kong's "logical
 * OR" of auth plugins); without it the client gets the plugin's own rejection.
 */
export function failAuthentication(
  ctx: RequestContext,
  services: PluginServices,
  anonymous: string | null | undefined,
  rejection: PluginExit,
): PluginExit | undefined {
  if (!anonymous) return rejection;
  const consumer = findConsumer(services, anonymous);
  if (!consumer)
    return { status: 500, message: `anonymous consumer ${anonymous} is configured but doesn't exist` };
  authenticate(ctx, consumer, null, null);
  return undefined;
}

/** Splits Kong's `name:value` config entries (`^([^:]+):*(.-)$`): the name ends at the first colon, extra colons go. */
export function splitPair(entry: string): [string, string] {
  const m = /^([^:]+):*([\s\S]*)$/.exec(entry);
  return m ? [m[1]!, m[2]!] : [entry, ""];
}

/** The first value of a response header in a flat name/value list (names compared case-insensitively). */
export function responseHeader(flat: readonly string[], name: string): string | null {
  for (let i = 0; i < flat.length; i += 2) if (flat[i]!.toLowerCase() === name) return flat[i + 1]!;
  return null;
}

/** Removes every occurrence of a response header. */
export function clearResponseHeader(flat: string[], name: string): void {
  for (let i = flat.length - 2; i >= 0; i -= 2) if (flat[i]!.toLowerCase() === name) flat.splice(i, 2);
}

/** Kong's `kong.response.set_header`: replaces every existing value with one. */
export function setResponseHeader(flat: string[], name: string, value: string): void {
  clearResponseHeader(flat, name.toLowerCase());
  flat.push(name, value);
}

/** A query-string component decoded as nginx does (`+` is a space); malformed escapes stay as written. */
export function decodeArg(raw: string): string {
  try {
    return decodeURIComponent(raw.replaceAll("+", " "));
  } catch {
    return raw;
  }
}

/** The query string without every `name` argument, other arguments kept byte for byte. */
export function withoutQueryArg(query: string, name: string): string {
  if (!query) return query;
  return query
    .split("&")
    .filter((part) => {
      const eq = part.indexOf("=");
      return decodeArg(eq < 0 ? part : part.slice(0, eq)) !== name;
    })
    .join("&");
}

/** Re-encodes a parsed body the way it arrived (JSON or form); multipart bodies are left untouched. */
export function encodeBody(kind: BodyKind, body: Record<string, unknown>): string | null {
  if (kind === "json") return JSON.stringify(body);
  if (kind === "form") {
    const params = new URLSearchParams();
    for (const [k, v] of Object.entries(body)) {
      for (const item of Array.isArray(v) ? v : [v]) params.append(k, String(item));
    }
    return params.toString();
  }
  return null;
}

// ---------------------------------------------------------------- transformer config vocabulary

const HEADER_TOKEN = /^[A-Za-z0-9_-]+$/;

/** Kong's `match = "^[^:]+:.*$"` on transformer entries. */
export function pairShapeProblem(entry: string): string | undefined {
  return /^[^:]+:.*$/s.test(entry) ? undefined : `invalid value: ${entry}`;
}

/** Kong's `validate_headers`: the name (and for renames the new name too) must be a header token. */
export function headerPairProblem(entry: string, checkValue: boolean): string | undefined {
  const [name, value] = splitPair(entry);
  if (!HEADER_TOKEN.test(name)) return `'${name}' is not a valid header`;
  if (checkValue && !HEADER_TOKEN.test(value)) return `'${value}' is not a valid header`;
  return undefined;
}

/** A nested config record whose fields all have defaults, filled even when the record is absent (Kong's way). */
export function defaultedRecord<T extends z.core.$ZodLooseShape>(shape: T) {
  return z.strictObject(shape).prefault({} as never);
}

/** Kong's `append_value`: a string becomes a two-element array, an array grows, anything else is replaced. */
export function appendValue(current: unknown, value: unknown): unknown[] {
  if (typeof current === "string") return [current, value];
  if (Array.isArray(current)) return [...current, value];
  return [value];
}
