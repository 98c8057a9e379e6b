/** The proxy's request path: route, run plugins, pick a peer, forward with retries, answer with Kong's headers. */
import type { AccessLog } from "../log/access-log";
import { type ConfiguredPlugin, resolveSlot } from "../plugins/iterator";
import {
  type LogEntry,
  newRequestContext,
  type PluginExit,
  type RequestContext,
  type ResponseView,
} from "../plugins/plugin";
import { UPSTREAM_METHOD } from "../plugins/request-transformer";
import { SERVER_TOKEN } from "../version";
import type { Peer } from "./balancer";
import type { DownstreamRequest, Reply } from "./downstream/types";
import { connectionTokens, isForwardedHeader, isHopByHop } from "./headers";
import { KONG_MESSAGES, kongError, msText } from "./kong-response";
import type { RealIpResolver } from "./real-ip";
import { requestId } from "./request-id";
import type { ProxySnapshot, ServicePlan } from "./snapshot";
import { type UpstreamClient, UpstreamError, type UpstreamUpgrade } from "./upstream/client";

const VIA = `1.1 ${SERVER_TOKEN}`;
const HOST_SLOT = 1;
const IDEMPOTENT = new Set(["GET", "HEAD", "OPTIONS", "PUT", "DELETE", "TRACE"]);

export interface ProxyDeps {
  /** Read once per request: a config swap never shows a request half of two configs. */
  snapshot(): ProxySnapshot;
  client: UpstreamClient;
  accessLog: AccessLog | null;
  /** Peers whose X-Forwarded-* headers are believed (`trusted_ips`). */
  trusted(ip: string): boolean;
  /** `real_ip_header` read from trusted peers (header null: the PROXY protocol address); null when no peer is trusted. */
  realIp: { header: string | null; resolve: RealIpResolver } | null;
  /** Kong's `headers` setting: which of its own headers gw adds downstream. */
  headers: { server: boolean; latency: boolean; requestId: boolean };
  onRequest(status: number): void;
}

interface Listener {
  protocol: "http" | "https";
  port: number;
}

/** What a listener adds to every request, computed once. */
interface ListenerConsts extends Listener {
  portText: string;
}

/** Per-request values the path through the handler needs, gathered once. */
interface Exchange {
  req: DownstreamRequest;
  method: string;
  started: number;
  id: string;
  /** The socket's peer: what `trusted_ips` is checked against. */
  peerIp: string;
  /** The client as Kong sees it (`real_ip_header` from a trusted peer, else the peer). */
  clientIp: string;
  path: string;
  query: string;
  host: string;
}

/** Plugins that ran, when none could: shared so the plugin-free path allocates no list. */
const NONE_RAN: readonly ConfiguredPlugin[] = Object.freeze([]);

function newExchange(deps: ProxyDeps, req: DownstreamRequest): Exchange {
  const realIp = deps.realIp;
  return {
    req,
    method: req.method,
    started: performance.now(),
    id: requestId(),
    peerIp: req.clientIp,
    clientIp: realIp
      ? realIp.resolve(
          req.clientIp,
          realIp.header === null ? req.proxyAddress : req.headers.get(realIp.header),
        )
      : req.clientIp,
    path: req.path,
    query: req.query,
    host: req.host,
  };
}

/** Bytes a reply's body holds, for the access log: known lengths only (a stream of unknown length counts 0). */
function replyLength(reply: Reply): number {
  const body = reply.body;
  if (body === null || body instanceof ReadableStream) return Math.max(reply.contentLength ?? 0, 0);
  return typeof body === "string" ? Buffer.byteLength(body) : body.length;
}

export function createProxyHandler(deps: ProxyDeps, listener: Listener) {
  const consts: ListenerConsts = { ...listener, portText: String(listener.port) };
  const after = (ex: Exchange, reply: Reply): Reply => {
    deps.onRequest(reply.status);
    deps.accessLog?.write({
      remoteAddr: ex.clientIp,
      method: ex.method,
      target: ex.req.target,
      httpVersion: ex.req.httpVersion,
      status: reply.status,
      bytesSent: replyLength(reply),
      referer: ex.req.headers.get("referer"),
      userAgent: ex.req.headers.get("user-agent"),
      requestId: ex.id,
    });
    return reply;
  };
  return async function proxy(req: DownstreamRequest): Promise<Reply> {
    const ex = newExchange(deps, req);
    return after(ex, await handle(deps, consts, ex));
  };
}

async function handle(deps: ProxyDeps, listener: ListenerConsts, ex: Exchange): Promise<Reply> {
  const snap = deps.snapshot();
  const match = snap.router.match({
    method: ex.method,
    host: ex.host,
    port: listener.port,
    path: ex.path,
    headers: ex.req.headers,
    protocol: listener.protocol,
    sni: ex.req.sni,
  });
  if (!match) return generated(deps, ex, 404, KONG_MESSAGES.noRoute);
  if (match.httpsRequired) return httpsRequired(deps, ex, match.route.https_redirect_status_code ?? 426);
  const plan = match.route.service ? snap.services.get(serviceId(match.route.service)) : undefined;
  if (!plan) return generated(deps, ex, 503, "no Service found with those values");

  const chain = snap.plugins.chainFor(match.route.id, plan.id);
  const ctx = chain.length ? newContext(ex, listener, match.route.id, plan.id) : null;
  let ran = NONE_RAN as ConfiguredPlugin[];
  if (ctx) {
    ran = [];
    for (const slot of chain) {
      const configured = resolveSlot(slot, ctx.consumer?.id ?? null, listener.protocol);
      if (!configured) continue;
      ran.push(configured);
      const exit = configured.def.access
        ? await configured.def.access(ctx, configured.config, snap.pluginServices)
        : undefined;
      if (exit) return finish(ex, ctx, ran, pluginExit(deps, ex, exit), true);
    }
  }

  const upstreamPath = ctx?.upstreamPath ?? match.upstreamPath;
  const query = ctx ? ctx.query : ex.query;
  const target = query ? `${upstreamPath}?${query}` : upstreamPath;
  const headers = upstreamHeaders(deps, ex, listener, match, ctx);
  // A plugin may set the upstream Host (request-transformer); otherwise preserve_host decides.
  const preservedHost =
    ctx?.upstreamHeaders.get("host") ?? (match.route.preserve_host && ex.host ? ex.host : null);
  const proxyLatency = performance.now() - ex.started;
  let upstream: UpstreamUpgrade;
  try {
    upstream = await forward(deps, plan, ex, target, headers, preservedHost, ctx);
  } catch (e) {
    const failure = upstreamFailure(deps, ex, e);
    return ran.length ? finish(ex, ctx, ran, failure, true) : failure;
  }
  const response = downstream(deps, ex, upstream, proxyLatency);
  // Without plugins there is no header or log phase: skip finish() and the promise it would add.
  return ran.length ? finish(ex, ctx, ran, response, false, upstream) : response;
}

const serviceId = (ref: { id: string } | string) => (typeof ref === "string" ? ref : ref.id);

function newContext(ex: Exchange, listener: Listener, routeId: string, svcId: string): RequestContext {
  return newRequestContext({
    req: ex.req,
    method: ex.method,
    path: ex.path,
    query: ex.query,
    host: ex.host,
    clientIp: ex.clientIp,
    requestId: ex.id,
    protocol: listener.protocol,
    routeId,
    serviceId: svcId,
  });
}

/**
 * Collects the client's headers in one pass, in the order they came.
 * One module-level instance is reused: the pass is synchronous and its result is copied out right after.
 */
class HeaderPass {
  out: string[] = [];
  dropped: Set<string> | null = null;
  skip: Map<string, string | null> | null = null;
  forwardedFor: string | undefined;
  via: string | undefined;
  /** The client's X-Forwarded-Proto/Host/Port/Path/Prefix, used only from trusted peers. */
  proto: string | undefined;
  host: string | undefined;
  port: string | undefined;
  path: string | undefined;
  prefix: string | undefined;
  seenForwarded = false;

  reset(dropped: Set<string> | null, skip: Map<string, string | null> | null): void {
    // Host goes first: its value is per attempt (balanced retries change it), filled by forward() at HOST_SLOT.
    this.out = ["host", ""];
    this.dropped = dropped;
    this.skip = skip;
    this.forwardedFor = this.via = undefined;
    this.proto = this.host = this.port = this.path = this.prefix = undefined;
    this.seenForwarded = false;
  }
}

const pass = new HeaderPass();

function collectHeader(pass: HeaderPass, name: string, value: string): void {
  if (isHopByHop(name) || pass.dropped?.has(name)) return;
  if (!isForwardedHeader(name)) {
    if (!pass.skip?.has(name)) pass.out.push(name, value);
    return;
  }
  pass.seenForwarded = true;
  switch (name) {
    case "x-forwarded-for":
      pass.forwardedFor = value;
      break;
    case "via":
      pass.via = value;
      break;
    case "x-forwarded-proto":
      pass.proto = value;
      break;
    case "x-forwarded-host":
      pass.host = value;
      break;
    case "x-forwarded-port":
      pass.port = value;
      break;
    case "x-forwarded-path":
      pass.path = value;
      break;
    case "x-forwarded-prefix":
      pass.prefix = value;
      break;
  }
}

const withoutPort = (host: string) => {
  const colon = host.lastIndexOf(":");
  if (colon < 0 || colon === host.length - 1) return host;
  for (let i = colon + 1; i < host.length; i++) {
    const c = host.charCodeAt(i);
    if (c < 48 || c > 57) return host;
  }
  return host.slice(0, colon);
};

/** The header block sent upstream: the client's headers minus hop-by-hop ones, plus Kong's proxy headers. */
function upstreamHeaders(
  deps: ProxyDeps,
  ex: Exchange,
  listener: ListenerConsts,
  match: { strippedPrefix: string },
  ctx: RequestContext | null,
): string[] {
  pass.reset(connectionTokens(ex.req.connection), ctx?.upstreamHeaders ?? null);
  const flat = ex.req.headers.flat;
  for (let i = 0; i < flat.length; i += 2) collectHeader(pass, flat[i] as string, flat[i + 1] as string);
  const out = pass.out;
  // Only a trusted peer's X-Forwarded-* values are kept; the trust check runs only when the client sent any.
  const trusted = pass.seenForwarded && deps.trusted(ex.peerIp);
  const prefix = match.strippedPrefix !== "/" ? match.strippedPrefix : "";
  out.push(
    "x-forwarded-proto",
    (trusted && pass.proto) || listener.protocol,
    "x-forwarded-host",
    (trusted && pass.host) || withoutPort(ex.host),
    "x-forwarded-port",
    (trusted && pass.port) || listener.portText,
    "x-forwarded-path",
    (trusted && pass.path) || ex.path,
  );
  const forwardedPrefix = (trusted && pass.prefix) || prefix;
  if (forwardedPrefix) out.push("x-forwarded-prefix", forwardedPrefix);
  // Kong appends to a client's X-Forwarded-For whether or not the peer is trusted (nginx's $proxy_add_x_forwarded_for).
  const xff = pass.forwardedFor;
  const via = pass.via;
  out.push(
    "x-forwarded-for",
    xff ? `${xff}, ${ex.clientIp}` : ex.clientIp,
    "x-real-ip",
    ex.clientIp,
    "via",
    via ? `${via}, ${VIA}` : VIA,
    "x-kong-request-id",
    ex.id,
  );
  if (ctx) {
    for (const [name, value] of ctx.upstreamHeaders)
      if (value !== null && name !== "host") out.push(name, value);
  }
  return out;
}

/** Kong's retries: a new peer for connection failures, never a resend of a non-idempotent request once sent. */
async function forward(
  deps: ProxyDeps,
  plan: ServicePlan,
  ex: Exchange,
  target: string,
  headers: string[],
  preservedHost: string | null,
  ctx: RequestContext | null,
): Promise<UpstreamUpgrade> {
  const body = ctx?.upstreamBody ?? ex.req.body;
  const replayable = body === null || typeof body === "string" || body instanceof Uint8Array;
  const upgrade = ex.req.upgrade;
  // The client adds `Connection: Upgrade`; the protocol asked for crosses the hop with it.
  if (upgrade !== null) headers.push("upgrade", ex.req.headers.get("upgrade") as string);
  const tried = plan.balanced ? new Set<Peer>() : null;
  let lastError: unknown;
  for (let attempt = 0; attempt <= plan.retries; attempt++) {
    const next = plan.next(tried);
    if (!next) {
      if (lastError) throw lastError;
      throw new NoPeerError();
    }
    headers[HOST_SLOT] = preservedHost ?? next.hostHeader;
    const request = {
      method: (ctx?.shared[UPSTREAM_METHOD] as string | undefined) ?? ex.method,
      target,
      headers,
      body: typeof body === "string" ? new TextEncoder().encode(body) : body,
      bodyLength:
        body instanceof ReadableStream && ex.req.contentLength >= 0 ? ex.req.contentLength : undefined,
      signal: ex.req.signal,
    };
    try {
      return upgrade === null
        ? ((await deps.client.request(next.endpoint, request, plan.timeouts)) as UpstreamUpgrade)
        : await deps.client.upgrade(next.endpoint, request, plan.timeouts);
    } catch (e) {
      lastError = e;
      const retryable =
        e instanceof UpstreamError &&
        (e.kind === "connect" || e.kind === "tls" || (e.kind === "timeout" && !e.requestSent)) &&
        (replayable || !e.requestSent) &&
        (!e.requestSent || IDEMPOTENT.has(ex.method));
      if (!retryable || ex.req.signal.aborted) throw e;
    }
  }
  throw lastError;
}

class NoPeerError extends Error {}

function upstreamFailure(deps: ProxyDeps, ex: Exchange, e: unknown): Reply {
  if (e instanceof NoPeerError) return generated(deps, ex, 503, KONG_MESSAGES.noPeer);
  if (e instanceof UpstreamError && e.kind === "timeout")
    return generated(deps, ex, 504, KONG_MESSAGES.timeout);
  return generated(deps, ex, 502, KONG_MESSAGES.badGateway);
}

/** The upstream's answer with Kong's response headers added; its header list is this exchange's own, so edited in place. */
function downstream(deps: ProxyDeps, ex: Exchange, up: UpstreamUpgrade, proxyLatency: number): Reply {
  const headers = up.headers;
  let hasServer = false;
  let viaAt = -1;
  for (let i = 0; i < headers.length; i += 2) {
    const name = headers[i] as string;
    // Only names as long as `via` or `server` need lower-casing; most upstream headers skip it.
    if (name.length === 3 && name.toLowerCase() === "via") viaAt = i;
    else if (name.length === 6 && name.toLowerCase() === "server") hasServer = true;
  }
  if (deps.headers.server) {
    if (viaAt >= 0) headers[viaAt + 1] = `${headers[viaAt + 1]}, ${VIA}`;
    else headers.push("Via", VIA);
    if (!hasServer) headers.push("Server", SERVER_TOKEN);
  }
  if (deps.headers.latency) {
    headers.push("X-Kong-Upstream-Latency", msText(up.firstByteMs));
    headers.push("X-Kong-Proxy-Latency", msText(proxyLatency));
  }
  if (deps.headers.requestId) headers.push("X-Kong-Request-Id", ex.id);
  return {
    status: up.status,
    statusText: up.statusText,
    headers,
    body: up.body,
    contentLength: up.contentLength,
    tunnel: up.tunnel ?? undefined,
  };
}

function generated(deps: ProxyDeps, ex: Exchange, status: number, message: string, extra?: string[]): Reply {
  return kongError(status, message, {
    accept: ex.req.headers.get("accept"),
    requestId: ex.id,
    latencyMs: performance.now() - ex.started,
    headers: extra,
    serverHeader: deps.headers.server,
  });
}

function httpsRequired(deps: ProxyDeps, ex: Exchange, code: number): Reply {
  if (code === 426) {
    return generated(deps, ex, 426, KONG_MESSAGES.useHttps, [
      "Connection",
      "Upgrade",
      "Upgrade",
      "TLS/1.2, HTTP/1.1",
    ]);
  }
  const location = `https://${ex.host.replace(/:\d+$/, "")}${ex.req.target}`;
  return { status: code, headers: ["Location", location, "X-Kong-Request-Id", ex.id], body: null };
}

function pluginExit(deps: ProxyDeps, ex: Exchange, exit: PluginExit): Reply {
  const extra = (exit.headers ?? []).flat();
  if (exit.body !== undefined) {
    const body = typeof exit.body === "string" ? exit.body : JSON.stringify(exit.body);
    const headers = ["X-Kong-Request-Id", ex.id, ...extra];
    if (typeof exit.body !== "string") headers.push("Content-Type", "application/json; charset=utf-8");
    return { status: exit.status, headers, body };
  }
  return generated(deps, ex, exit.status, exit.message ?? "", extra);
}

/** Header and log phases, for the plugins that ran; response plugins may rewrite status, headers and body. */
async function finish(
  ex: Exchange,
  ctx: RequestContext | null,
  ran: ConfiguredPlugin[],
  reply: Reply,
  generatedByGw: boolean,
  upstream?: UpstreamUpgrade,
): Promise<Reply> {
  if (!ctx || ran.length === 0) return reply;
  const view: ResponseView = { status: reply.status, headers: [...reply.headers], generated: generatedByGw };
  for (const [k, v] of ctx.responseHeaders) view.headers.push(k, v);
  for (const p of ran) p.def.headerFilter?.(ctx, p.config, view);
  let body = reply.body;
  let contentLength = reply.contentLength;
  const filters = ran.filter((p) => p.def.bodyFilter);
  if (filters.length && body !== null && reply.tunnel === undefined) {
    let bytes = await bodyBytes(body);
    for (const p of filters) bytes = p.def.bodyFilter!(ctx, p.config, bytes, view);
    body = bytes;
    contentLength = undefined;
  }
  const out: Reply = { ...reply, status: view.status, headers: view.headers, body, contentLength };
  const loggers = ran.filter((p) => p.def.log);
  if (loggers.length) {
    const now = performance.now();
    const entry: LogEntry = {
      status: view.status,
      latencies: {
        request: now - ex.started,
        kong: now - ex.started - (upstream?.firstByteMs ?? 0),
        proxy: upstream?.firstByteMs ?? 0,
      },
      bytesSent: replyLength(out),
      upstreamUri: ctx.upstreamPath ?? ex.path,
      startedAt: Date.now() - Math.round(now - ex.started),
    };
    queueMicrotask(() => {
      for (const p of loggers) p.def.log!(ctx, p.config, entry);
    });
  }
  return out;
}

async function bodyBytes(body: Uint8Array | string | ReadableStream<Uint8Array>): Promise<Uint8Array> {
  if (typeof body === "string") return new TextEncoder().encode(body);
  if (body instanceof Uint8Array) return body;
  return new Uint8Array(await new Response(body).arrayBuffer());
}
