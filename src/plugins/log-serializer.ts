/** Kong's `kong.log.serialize()`: the per-request JSON object logging plugins (http-log, file-log) send. */
import { logger } from "../log/logger";
import type { DownstreamRequest } from "../proxy/downstream/types";
import { decodeArg } from "./common";
import type { LogEntry, RequestContext, ResponseView } from "./plugin";

const log = logger("plugins");
const luaNoticed = new WeakSet<object>();

/** gw runs no Lua: a config carrying `custom_fields_by_lua` loads, and the first use says the fields are skipped. */
export function noticeIgnoredLua(plugin: string, conf: { custom_fields_by_lua?: unknown }): void {
  if (!conf.custom_fields_by_lua || luaNoticed.has(conf)) return;
  luaNoticed.add(conf);
  log.notice(`${plugin}: custom_fields_by_lua is ignored (gw does not run Lua)`);
}

/** What the header phase saw, kept for the log phase (LogEntry carries neither headers nor the response source). */
interface SeenResponse {
  headers: Record<string, string | string[]>;
  generated: boolean;
}

const SEEN = "gw.log.response";

/** Call from a logging plugin's headerFilter: the response headers and source as the client will get them. */
export function recordResponse(ctx: RequestContext, res: ResponseView): void {
  ctx.shared[SEEN] = { headers: headerTable(res.headers), generated: res.generated } satisfies SeenResponse;
}

function addValue(out: Record<string, string | string[]>, name: string, value: string): void {
  const existing = out[name];
  if (existing === undefined) out[name] = value;
  else if (Array.isArray(existing)) existing.push(value);
  else out[name] = [existing, value];
}

/** Lowercase names; repeated headers become arrays, as ngx's `get_headers()` returns them. */
function headerTable(flat: readonly string[]): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (let i = 0; i < flat.length; i += 2) addValue(out, flat[i]!.toLowerCase(), flat[i + 1]!);
  return out;
}

function requestHeaders(req: DownstreamRequest): Record<string, string | string[]> {
  const out: Record<string, string | string[]> = {};
  for (const [name, value] of req.headers) addValue(out, name, value);
  // Kong never logs credentials sent in these headers.
  if (out.authorization !== undefined) out.authorization = "REDACTED";
  if (out["proxy-authorization"] !== undefined) out["proxy-authorization"] = "REDACTED";
  return out;
}

/** Kong's `get_query()`: an argument without `=` is `true`, repeated ones are arrays. */
function queryTable(query: string): Record<string, string | boolean | (string | boolean)[]> {
  const out: Record<string, string | boolean | (string | boolean)[]> = {};
  if (!query) return out;
  for (const part of query.split("&")) {
    if (!part) continue;
    const eq = part.indexOf("=");
    const name = decodeArg(eq < 0 ? part : part.slice(0, eq));
    const value: string | boolean = eq < 0 ? true : decodeArg(part.slice(eq + 1));
    const existing = out[name];
    if (existing === undefined) out[name] = value;
    else if (Array.isArray(existing)) existing.push(value);
    else out[name] = [existing, value];
  }
  return out;
}

function requestUri(ctx: RequestContext): string {
  return ctx.req.query ? `${ctx.path}?${ctx.req.query}` : ctx.path;
}

/** Extra fields logging plugins add to their entries (Kong's `kong.log.set_serialize_value`). */
export function serializeValues(ctx: RequestContext): Record<string, unknown> {
  let values = ctx.shared.serialize_values as Record<string, unknown> | undefined;
  if (!values) {
    values = {};
    ctx.shared.serialize_values = values;
  }
  return values;
}

/** The serialized entry; `serialize_values` (Kong's `set_serialize_value`, e.g. correlation_id) are merged last. */
export function serialize(ctx: RequestContext, entry: LogEntry): Record<string, unknown> {
  const seen = ctx.shared[SEEN] as SeenResponse | undefined;
  const uri = requestUri(ctx);
  const [hostname, port] = ctx.host.split(/:(?=\d+$)/) as [string, string?];
  const url = `${ctx.protocol}://${hostname}:${port ?? (ctx.protocol === "https" ? "443" : "80")}${uri}`;
  const upstreamPath = ctx.upstreamPath ?? entry.upstreamUri;
  const length = Number(ctx.req.headers.get("content-length") ?? 0);
  const root: Record<string, unknown> = {
    request: {
      id: ctx.requestId,
      uri,
      url,
      querystring: queryTable(ctx.req.query),
      method: ctx.method,
      headers: requestHeaders(ctx.req),
      size: Number.isFinite(length) ? length : 0,
    },
    upstream_uri: ctx.query ? `${upstreamPath}?${ctx.query}` : upstreamPath,
    upstream_status: seen?.generated === false ? String(entry.status) : "",
    response: { status: entry.status, headers: seen?.headers ?? {}, size: entry.bytesSent },
    latencies: {
      kong: Math.round(entry.latencies.kong),
      proxy: seen?.generated === false ? Math.round(entry.latencies.proxy) : -1,
      request: Math.round(entry.latencies.request),
      receive: 0,
    },
    authenticated_entity: ctx.credential
      ? { id: ctx.credential.id, consumer_id: ctx.credential.consumer?.id ?? ctx.consumer?.id }
      : undefined,
    route: ctx.routeId ? { id: ctx.routeId } : undefined,
    service: ctx.serviceId ? { id: ctx.serviceId } : undefined,
    consumer: ctx.consumer ? { ...ctx.consumer } : undefined,
    client_ip: ctx.clientIp,
    started_at: entry.startedAt,
    source: seen?.generated === false ? "upstream" : "kong",
    workspace_name: "default",
  };
  const extra = ctx.shared.serialize_values as Record<string, unknown> | undefined;
  return extra ? { ...root, ...extra } : root;
}
