/** What a plugin is: name, version, priority, a zod config schema, and handlers for only the phases it needs. */
import type { ZodType } from "zod";
import type { DownstreamRequest } from "../proxy/downstream/types";

/** The per-request state plugins read and change; built by the proxy, one per request. */
export interface RequestContext {
  readonly req: DownstreamRequest;
  readonly method: string;
  /** The request path as the client sent it (no query). */
  readonly path: string;
  /** Query string without the leading `?`. */
  query: string;
  readonly host: string;
  readonly clientIp: string;
  readonly requestId: string;
  readonly protocol: "http" | "https";
  readonly routeId: string | null;
  readonly serviceId: string | null;
  /** Set by authentication plugins. */
  consumer: ConsumerRef | null;
  credential: { id: string; consumer?: { id: string } | null } | null;
  /** ACL groups of the authenticated consumer, filled lazily by the acl plugin. */
  authenticatedGroups: string[] | null;
  /** Request headers to set (value) or remove (null) before forwarding; names are lowercase. */
  upstreamHeaders: Map<string, string | null>;
  /** Replaces the path the request is forwarded to (after strip_path), when set. */
  upstreamPath: string | null;
  /** Replaces the request body sent upstream, when set. */
  upstreamBody: Uint8Array | string | null;
  /** Headers added to the response sent to the client (e.g. rate-limit headers). */
  responseHeaders: [string, string][];
  /** Data plugins share within one request (Kong's `kong.ctx.shared`). */
  shared: Record<string, unknown>;
}

/** What identifies a request to plugins; the rest of the context starts empty. */
export type RequestIdentity = Pick<
  RequestContext,
  | "req"
  | "method"
  | "path"
  | "query"
  | "host"
  | "clientIp"
  | "requestId"
  | "protocol"
  | "routeId"
  | "serviceId"
>;

/** A fresh context: no consumer yet, nothing to change upstream or downstream. */
export function newRequestContext(identity: RequestIdentity): RequestContext {
  return {
    ...identity,
    consumer: null,
    credential: null,
    authenticatedGroups: null,
    upstreamHeaders: new Map(),
    upstreamPath: null,
    upstreamBody: null,
    responseHeaders: [],
    shared: {},
  };
}

export interface ConsumerRef {
  id: string;
  username: string | null;
  custom_id: string | null;
}

/** The response as plugins see it in the header phase: they may edit status and headers (flat name/value pairs). */
export interface ResponseView {
  status: number;
  headers: string[];
  /** Set when the response came from gw itself (no upstream), e.g. a plugin's rejection. */
  readonly generated: boolean;
}

export interface LogEntry {
  status: number;
  latencies: { request: number; kong: number; proxy: number };
  bytesSent: number;
  upstreamUri: string;
  startedAt: number;
}

/** A plugin's early answer: gw sends it instead of proxying (status, Kong-style message or body, extra headers). */
export interface PluginExit {
  status: number;
  message?: string;
  body?: string | Record<string, unknown>;
  headers?: [string, string][];
}

/** Resolves services that plugins need at request time (the consumer store of the running config, Redis, …). */
export interface PluginServices {
  consumerById(id: string): ConsumerRef | null;
  credentials<T = Record<string, unknown>>(entity: string, field: string, value: string): T | null;
  aclGroups(consumerId: string): string[];
  nodeId: string;
}

export type Phase<C, R> = (ctx: RequestContext, conf: C, services: PluginServices) => R;

export interface PluginDefinition<C = unknown> {
  name: string;
  /** Semver; data planes report it, control planes compare it (Kong's rules). */
  version: string;
  /** Higher runs first in access; Kong's priorities so mixed chains order as users expect. */
  priority: number;
  configSchema: ZodType<C>;
  /** Entity-level restrictions Kong puts on some plugins (e.g. no consumer scope for auth plugins). */
  noConsumer?: boolean;
  access?: Phase<C, PluginExit | undefined | Promise<PluginExit | undefined>>;
  headerFilter?: (ctx: RequestContext, conf: C, res: ResponseView) => void;
  /** Declaring this makes gw buffer the upstream body for routes where the plugin runs. */
  bodyFilter?: (ctx: RequestContext, conf: C, body: Uint8Array, res: ResponseView) => Uint8Array;
  log?: (ctx: RequestContext, conf: C, entry: LogEntry) => void;
}

/** Keeps each plugin file's handlers typed against its own config while the registry holds them uniformly. */
export function definePlugin<C>(def: PluginDefinition<C>): PluginDefinition<unknown> {
  return def as unknown as PluginDefinition<unknown>;
}
