/** The proxy's request path: route, run plugins, pick a peer, forward with retries, answer with Kong's headers. */
import type { Server } from "bun";
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
import {
  connectionTokens,
  isForwardedHeader,
  isHopByHop,
  isResponseHopByHop,
  RESPONSE_HOP_BY_HOP,
} from "./headers";
import { KONG_MESSAGES, kongError, msText } from "./kong-response";
import { requestId } from "./request-id";
import type { ProxySnapshot, ServicePlan } from "./snapshot";
import { type UpstreamClient, UpstreamError, type UpstreamResponse } from "./upstream/client";
import { isWebSocketUpgrade, relayWebSocket } from "./websocket";

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
  req: Request;
  /** Read once: each `req.method` read crosses into native code. */
  method: string;
  started: number;
  id: string;
  clientIp: string;
  path: string;
  query: string;
  host: string;
}

/** Plugins that ran, when none could: shared so the plugin-free path allocates no list. */
const NONE_RAN: readonly ConfiguredPlugin[] = Object.freeze([]);

function newExchange(req: Request, server: Server<unknown>): Exchange {
  const url = req.url;
  const pathStart = url.indexOf("/", url.indexOf("//") + 2);
  const q = url.indexOf("?", pathStart);
  return {
    req,
    method: req.method,
    started: performance.now(),
    id: requestId(),
    // One getpeername(2) per call in Bun: read once per request.
    clientIp: server.requestIP(req)?.address ?? "",
    path: q < 0 ? url.slice(pathStart) : url.slice(pathStart, q),
    query: q < 0 ? "" : url.slice(q + 1),
    host: req.headers.get("host") ?? "",
  };
}

export function createProxyHandler(deps: ProxyDeps, listener: Listener) {
  const consts: ListenerConsts = { ...listener, portText: String(listener.port) };
  const after = (ex: Exchange, res: Response): Response => {
    deps.onRequest(res.status);
    deps.accessLog?.write({
      remoteAddr: ex.clientIp,
      method: ex.method,
      target: ex.query ? `${ex.path}?${ex.query}` : ex.path,
      httpVersion: "1.1",
      status: res.status,
      bytesSent: Number(res.headers.get("content-length") ?? 0),
      referer: ex.req.headers.get("referer"),
      userAgent: ex.req.headers.get("user-agent"),
      requestId: ex.id,
    });
    return res;
  };
  return async function proxy(req: Request, server: Server<unknown>): Promise<Response | undefined> {
    const ex = newExchange(req, server);
    const res = await handle(deps, consts, ex, server);
    return res && after(ex, res);
  };
}

async function handle(
  deps: ProxyDeps,
  listener: ListenerConsts,
  ex: Exchange,
  server: Server<unknown>,
): Promise<Response | undefined> {
  const snap = deps.snapshot();
  const match = snap.router.match({
    method: ex.method,
    host: ex.host,
    port: listener.port,
    path: ex.path,
    headers: ex.req.headers,
    protocol: listener.protocol,
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
  if (isWebSocketUpgrade(ex.req))
    return await webSocket(deps, plan, ex, server, target, headers, preservedHost);
  const proxyLatency = performance.now() - ex.started;
  let upstream: UpstreamResponse;
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

/** WebSocket upgrades are relayed message by message (Bun.serve speaks WebSocket, not raw upgraded bytes). */
async function webSocket(
  deps: ProxyDeps,
  plan: ServicePlan,
  ex: Exchange,
  server: Server<unknown>,
  target: string,
  headers: string[],
  preservedHost: string | null,
): Promise<Response | undefined> {
  const attempt = plan.next(plan.balanced ? new Set() : null);
  if (!attempt) return generated(deps, ex, 503, KONG_MESSAGES.noPeer);
  headers[HOST_SLOT] = preservedHost ?? attempt.hostHeader;
  try {
    return await relayWebSocket(ex.req, server, attempt, target, headers, plan.timeouts.connect);
  } catch (e) {
    const timedOut = e instanceof Error && e.message === "timeout";
    return generated(
      deps,
      ex,
      timedOut ? 504 : 502,
      timedOut ? KONG_MESSAGES.timeout : KONG_MESSAGES.badGateway,
    );
  }
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
 * Collects the client's headers in one `forEach` pass (cheaper than the entries iterator, same sorted order).
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

function collectHeader(this: HeaderPass, value: string, name: string): void {
  if (isHopByHop(name) || this.dropped?.has(name)) return;
  if (!isForwardedHeader(name)) {
    if (!this.skip?.has(name)) this.out.push(name, value);
    return;
  }
  this.seenForwarded = true;
  switch (name) {
    case "x-forwarded-for":
      this.forwardedFor = value;
      break;
    case "via":
      this.via = value;
      break;
    case "x-forwarded-proto":
      this.proto = value;
      break;
    case "x-forwarded-host":
      this.host = value;
      break;
    case "x-forwarded-port":
      this.port = value;
      break;
    case "x-forwarded-path":
      this.path = value;
      break;
    case "x-forwarded-prefix":
      this.prefix = value;
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
  pass.reset(connectionTokens(ex.req.headers.get("connection")), ctx?.upstreamHeaders ?? null);
  ex.req.headers.forEach(collectHeader, pass);
  const out = pass.out;
  // Only a trusted peer's X-Forwarded-* values are kept; the trust check runs only when the client sent any.
  const trusted = pass.seenForwarded && deps.trusted(ex.clientIp);
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
): Promise<UpstreamResponse> {
  const body = ctx?.upstreamBody ?? (ex.req.body ? ex.req.body : null);
  const replayable = body === null || typeof body === "string" || body instanceof Uint8Array;
  const tried = plan.balanced ? new Set<Peer>() : null;
  let lastError: unknown;
  for (let attempt = 0; attempt <= plan.retries; attempt++) {
    const next = plan.next(tried);
    if (!next) {
      if (lastError) throw lastError;
      throw new NoPeerError();
    }
    headers[HOST_SLOT] = preservedHost ?? next.hostHeader;
    try {
      return await deps.client.request(
        next.endpoint,
        {
          method: (ctx?.shared[UPSTREAM_METHOD] as string | undefined) ?? ex.method,
          target,
          headers,
          body: typeof body === "string" ? new TextEncoder().encode(body) : body,
          bodyLength: bodyLength(ex.req, body),
          signal: ex.req.signal,
        },
        plan.timeouts,
      );
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

/** A streamed client body keeps its announced length upstream rather than being re-chunked. */
function bodyLength(req: Request, body: unknown): number | undefined {
  if (!(body instanceof ReadableStream)) return undefined;
  const announced = req.headers.get("content-length");
  return announced === null ? undefined : Number(announced);
}

function upstreamFailure(deps: ProxyDeps, ex: Exchange, e: unknown): Response {
  if (e instanceof NoPeerError) return generated(deps, ex, 503, KONG_MESSAGES.noPeer);
  if (e instanceof UpstreamError && e.kind === "timeout")
    return generated(deps, ex, 504, KONG_MESSAGES.timeout);
  return generated(deps, ex, 502, KONG_MESSAGES.badGateway);
}

/** Lengths of `via`, `server` and the response hop-by-hop names. */
const SPECIAL_RESPONSE_LENGTHS = new Set([...RESPONSE_HOP_BY_HOP, "via", "server"].map((n) => n.length));

function downstream(deps: ProxyDeps, ex: Exchange, up: UpstreamResponse, proxyLatency: number): Response {
  const headers: [string, string][] = [];
  let hasServer = false;
  let via: string | null = null;
  const h = up.headers;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i]!;
    // Only names as long as a special one need lower-casing; most upstream headers skip it.
    if (SPECIAL_RESPONSE_LENGTHS.has(name.length)) {
      const lower = name.toLowerCase();
      if (isResponseHopByHop(lower)) continue;
      if (lower === "via") {
        via = h[i + 1]!;
        continue;
      }
      if (lower === "server") hasServer = true;
    }
    headers.push([name, h[i + 1]!]);
  }
  if (deps.headers.server) {
    headers.push(["via", via ? `${via}, ${VIA}` : VIA]);
    if (!hasServer) headers.push(["server", SERVER_TOKEN]);
  } else if (via) headers.push(["via", via]);
  if (deps.headers.latency) {
    headers.push(["x-kong-upstream-latency", msText(up.firstByteMs)]);
    headers.push(["x-kong-proxy-latency", msText(proxyLatency)]);
  }
  if (deps.headers.requestId) headers.push(["x-kong-request-id", ex.id]);
  const noBody = ex.method === "HEAD" || up.status === 204 || up.status === 304;
  return new Response(noBody ? null : up.body, { status: up.status, statusText: up.statusText, headers });
}

function generated(
  deps: ProxyDeps,
  ex: Exchange,
  status: number,
  message: string,
  extra?: [string, string][],
) {
  return kongError(status, message, {
    accept: ex.req.headers.get("accept"),
    requestId: ex.id,
    latencyMs: performance.now() - ex.started,
    headers: extra,
    serverHeader: deps.headers.server,
  });
}

function httpsRequired(deps: ProxyDeps, ex: Exchange, code: number): Response {
  if (code === 426) {
    return generated(deps, ex, 426, KONG_MESSAGES.useHttps, [
      ["connection", "Upgrade"],
      ["upgrade", "TLS/1.2, HTTP/1.1"],
    ]);
  }
  const location = `https://${ex.host.replace(/:\d+$/, "")}${ex.path}${ex.query ? `?${ex.query}` : ""}`;
  return new Response(null, { status: code, headers: { location, "x-kong-request-id": ex.id } });
}

function pluginExit(deps: ProxyDeps, ex: Exchange, exit: PluginExit): Response {
  if (exit.body !== undefined) {
    const body = typeof exit.body === "string" ? exit.body : JSON.stringify(exit.body);
    const headers: [string, string][] = [["x-kong-request-id", ex.id], ...(exit.headers ?? [])];
    if (typeof exit.body !== "string") headers.push(["content-type", "application/json; charset=utf-8"]);
    return new Response(body, { status: exit.status, headers });
  }
  return generated(deps, ex, exit.status, exit.message ?? "", exit.headers);
}

/** Header and log phases, for the plugins that ran; response plugins may rewrite status, headers and body. */
async function finish(
  ex: Exchange,
  ctx: RequestContext | null,
  ran: ConfiguredPlugin[],
  res: Response,
  generatedByGw: boolean,
  upstream?: UpstreamResponse,
): Promise<Response> {
  if (!ctx || ran.length === 0) return res;
  const view: ResponseView = { status: res.status, headers: [], generated: generatedByGw };
  for (const [k, v] of res.headers) view.headers.push(k, v);
  for (const [k, v] of ctx.responseHeaders) view.headers.push(k, v);
  for (const p of ran) p.def.headerFilter?.(ctx, p.config, view);
  let body: ReadableStream<Uint8Array> | Uint8Array<ArrayBuffer> | null = res.body;
  const filters = ran.filter((p) => p.def.bodyFilter);
  if (filters.length && res.body) {
    let bytes: Uint8Array = new Uint8Array(await res.arrayBuffer());
    for (const p of filters) bytes = p.def.bodyFilter!(ctx, p.config, bytes, view);
    body = new Uint8Array(bytes);
    removeHeader(view.headers, "content-length");
  }
  const pairs: [string, string][] = [];
  for (let i = 0; i < view.headers.length; i += 2) pairs.push([view.headers[i]!, view.headers[i + 1]!]);
  const out = new Response(body, { status: view.status, headers: pairs });
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
      bytesSent: Number(out.headers.get("content-length") ?? 0),
      upstreamUri: ctx.upstreamPath ?? ex.path,
      startedAt: Date.now() - Math.round(now - ex.started),
    };
    queueMicrotask(() => {
      for (const p of loggers) p.def.log!(ctx, p.config, entry);
    });
  }
  return out;
}

function removeHeader(flat: string[], name: string): void {
  for (let i = flat.length - 2; i >= 0; i -= 2) {
    if (flat[i]!.toLowerCase() === name) flat.splice(i, 2);
  }
}
