/** Test helpers for plugin handlers: a real RequestContext from a real Request, services over in-memory entities. */
import type { z } from "zod";
import { issuesToFields, kongMessage, withNulls } from "../../src/entities/validate";
import {
  type ConsumerRef,
  type LogEntry,
  newRequestContext,
  type PluginDefinition,
  type PluginExit,
  type PluginServices,
  type RequestContext,
  type ResponseView,
} from "../../src/plugins/plugin";
import { HeaderList } from "../../src/proxy/downstream/request-head";
import type { DownstreamRequest } from "../../src/proxy/downstream/types";

export interface ContextOptions {
  clientIp?: string;
  routeId?: string | null;
  serviceId?: string | null;
  protocol?: "http" | "https";
}

/** The proxy server's view of a fetch Request: lowercase header pairs, the body as the stream it is. */
export function downstreamOf(req: Request, clientIp = "127.0.0.1"): DownstreamRequest {
  const url = new URL(req.url);
  const flat: string[] = [];
  for (const [name, value] of req.headers) flat.push(name, value);
  const length = req.headers.get("content-length");
  return {
    method: req.method,
    target: url.pathname + url.search,
    path: url.pathname,
    query: url.search.slice(1),
    host: req.headers.get("host") ?? url.host,
    headers: new HeaderList(flat),
    body: req.body,
    contentLength: length === null ? -1 : Number(length),
    httpVersion: "1.1",
    clientIp,
    sni: null,
    proxyAddress: null,
    signal: req.signal,
    upgrade: null,
    connection: req.headers.get("connection"),
  };
}

/** Built the way the proxy builds it: path and query split from the URL, everything else empty. */
export function makeContext(req: Request, opts: ContextOptions = {}): RequestContext {
  const url = new URL(req.url);
  return newRequestContext({
    req: downstreamOf(req, opts.clientIp),
    method: req.method,
    path: url.pathname,
    query: url.search.slice(1),
    host: req.headers.get("host") ?? url.host,
    clientIp: opts.clientIp ?? "127.0.0.1",
    requestId: crypto.randomUUID().replaceAll("-", ""),
    protocol: opts.protocol ?? "http",
    routeId: opts.routeId === undefined ? "11111111-1111-4111-8111-111111111111" : opts.routeId,
    serviceId: opts.serviceId === undefined ? "22222222-2222-4222-8222-222222222222" : opts.serviceId,
  });
}

export const request = (path: string, init?: RequestInit) => new Request(`http://gw.test${path}`, init);

export interface Fixture {
  consumers?: (ConsumerRef & Record<string, unknown>)[];
  /** Rows per credential table: `keyauth_credentials`, `basicauth_credentials`. */
  credentials?: Record<string, Record<string, unknown>[]>;
  acls?: { consumer: { id: string }; group: string }[];
}

/** PluginServices over plain arrays, as the running config would answer. */
export function makeServices(f: Fixture = {}): PluginServices {
  const tables: Record<string, Record<string, unknown>[]> = {
    consumers: f.consumers ?? [],
    ...(f.credentials ?? {}),
  };
  return {
    nodeId: "33333333-3333-4333-8333-333333333333",
    consumerById: (id) => (f.consumers ?? []).find((c) => c.id === id) ?? null,
    credentials: <T>(entity: string, field: string, value: string) =>
      ((tables[entity] ?? []).find((row) => row[field] === value) as T | undefined) ?? null,
    aclGroups: (consumerId) => (f.acls ?? []).filter((a) => a.consumer.id === consumerId).map((a) => a.group),
  };
}

/** The config a handler sees: parsed with defaults, unset optional fields as null (the stored entity's shape). */
export function config<C = Record<string, unknown>>(
  def: PluginDefinition,
  input: Record<string, unknown> = {},
): C {
  const parsed = def.configSchema.parse(input, { error: kongMessage });
  return withNulls(def.configSchema as z.ZodType, parsed) as C;
}

/** Kong's `fields` tree for a bad config, or null when the config is valid. */
export function configErrors(def: PluginDefinition, input: unknown): Record<string, unknown> | null {
  const parsed = (def.configSchema as z.ZodType).safeParse(input, { error: kongMessage });
  return parsed.success ? null : (issuesToFields(parsed.error.issues) as Record<string, unknown>);
}

export async function access(
  def: PluginDefinition,
  ctx: RequestContext,
  conf: unknown,
  services: PluginServices = makeServices(),
): Promise<PluginExit | undefined> {
  return await def.access!(ctx, conf, services);
}

export function responseView(
  status: number,
  headers: Record<string, string> = {},
  generated = false,
): ResponseView {
  return { status, headers: Object.entries(headers).flat(), generated };
}

/** The flat response header list as a lowercase-keyed record (last value wins), for assertions. */
export function headersOf(flat: readonly string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (let i = 0; i < flat.length; i += 2) out[flat[i]!.toLowerCase()] = flat[i + 1]!;
  return out;
}

export function logEntry(status = 200, bytesSent = 42): LogEntry {
  return {
    status,
    latencies: { request: 12.4, kong: 2.2, proxy: 10.2 },
    bytesSent,
    upstreamUri: "/upstream",
    startedAt: 1764400000000,
  };
}
