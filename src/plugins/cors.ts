/** cors: answers CORS preflights itself and adds Access-Control-* headers to responses (Kong's plugin). */
import { z } from "zod";
import { array, bool, check, num, oneOf, opt, req, str } from "../entities/fields";
import { clearResponseHeader, perConfig, setResponseHeader } from "./common";
import { definePlugin, type RequestContext } from "./plugin";

const METHODS = ["GET", "HEAD", "PUT", "PATCH", "POST", "DELETE", "OPTIONS", "TRACE", "CONNECT"] as const;

/** Kong treats an origin with characters outside `[A-Za-z0-9.:/-]` as a PCRE regex. */
const LITERAL_ORIGIN = /^[A-Za-z0-9.:/-]+$/;

function regexProblem(value: string): string | undefined {
  if (value === "*" || LITERAL_ORIGIN.test(value)) return undefined;
  try {
    new RegExp(value);
    return undefined;
  } catch {
    return `'${value}' is not a valid regex`;
  }
}

export const corsSchema = z.strictObject({
  origins: opt(array(check(str(), regexProblem))),
  headers: opt(array(str())),
  exposed_headers: opt(array(str())),
  methods: array(oneOf(METHODS)).default([...METHODS]),
  max_age: opt(num()),
  credentials: req(bool().default(false)),
  private_network: req(bool().default(false)),
  preflight_continue: req(bool().default(false)),
  allow_origin_absent: req(bool().default(true)),
});

type CorsConfig = z.output<typeof corsSchema>;

interface Origin {
  domain: string;
  host: string;
}

/** Kong's `normalize_origin`: scheme://host[:port] without default ports; anything unparseable stays as given. */
function normalizeOrigin(origin: string): Origin {
  try {
    const url = new URL(origin);
    if (!url.hostname) return { domain: origin, host: origin };
    return {
      domain: `${url.protocol}//${url.hostname}${url.port ? `:${url.port}` : ""}`,
      host: url.hostname,
    };
  } catch {
    return { domain: origin, host: origin };
  }
}

type Allowed = { regex: RegExp; byHost: boolean } | { domain: string; byHost: boolean };

const compile = perConfig((conf: CorsConfig) => {
  const origins = conf.origins ?? [];
  const allowAll = origins.length === 0 || origins.includes("*");
  const single = origins.length === 1 && LITERAL_ORIGIN.test(origins[0]!) ? origins[0]! : null;
  const allowed: Allowed[] = origins.map((entry) => {
    const byHost = !entry.includes(":");
    if (LITERAL_ORIGIN.test(entry)) return { domain: normalizeOrigin(entry).domain, byHost };
    // Kong 0.x did not anchor regexes; users who anchored them explicitly keep working.
    const body = `${entry.startsWith("^") ? entry.slice(1) : entry}${entry.endsWith("$") ? "" : "$"}`;
    return { regex: new RegExp(`^(?:${body})`), byHost };
  });
  return { allowAll, single, allowed, methods: (conf.methods ?? METHODS).join(",") };
});

/** Kong's `configure_origin`: sets Access-Control-Allow-Origin (and Vary) and answers whether every origin is allowed. */
function configureOrigin(
  conf: CorsConfig,
  headers: string[],
  reqOrigin: string | null,
  addVary: boolean,
): boolean {
  const c = compile(conf);
  if (c.allowAll && (conf.origins ?? []).length <= 1) {
    setResponseHeader(headers, "Access-Control-Allow-Origin", "*");
    return true;
  }
  if (addVary) headers.push("Vary", "Origin");
  else setResponseHeader(headers, "Vary", "Origin");
  if (c.single) {
    setResponseHeader(headers, "Access-Control-Allow-Origin", c.single);
    return false;
  }
  if (reqOrigin) {
    if (c.allowAll) {
      setResponseHeader(headers, "Access-Control-Allow-Origin", "*");
      return true;
    }
    const req = normalizeOrigin(reqOrigin);
    const ok = c.allowed.some((a) =>
      "regex" in a ? a.regex.test(a.byHost ? req.host : req.domain) : a.domain === req.domain,
    );
    if (ok) {
      setResponseHeader(headers, "Access-Control-Allow-Origin", req.domain);
      return false;
    }
  }
  clearResponseHeader(headers, "access-control-allow-origin");
  return false;
}

/** Credentials cannot go with `*`, so an allow-all config echoes the request's origin instead. */
function configureCredentials(
  conf: CorsConfig,
  headers: string[],
  allowAll: boolean,
  reqOrigin: string | null,
  addVary: boolean,
): void {
  if (!conf.credentials) return;
  if (!allowAll) {
    setResponseHeader(headers, "Access-Control-Allow-Credentials", "true");
    return;
  }
  if (!reqOrigin) return;
  if (addVary) headers.push("Vary", "Origin");
  else setResponseHeader(headers, "Vary", "Origin");
  setResponseHeader(headers, "Access-Control-Allow-Origin", reqOrigin);
  setResponseHeader(headers, "Access-Control-Allow-Credentials", "true");
}

const SKIP = "gw.cors.skip";

function preflightHeaders(ctx: RequestContext, conf: CorsConfig, reqOrigin: string): string[] {
  const headers: string[] = [];
  const allowAll = configureOrigin(conf, headers, reqOrigin, false);
  configureCredentials(conf, headers, allowAll, reqOrigin, false);
  const requested = ctx.req.headers.get("access-control-request-headers");
  if (conf.headers?.length) headers.push("Access-Control-Allow-Headers", conf.headers.join(","));
  else if (requested) headers.push("Access-Control-Allow-Headers", requested);
  headers.push("Access-Control-Allow-Methods", compile(conf).methods);
  if (conf.max_age !== null && conf.max_age !== undefined)
    headers.push("Access-Control-Max-Age", String(conf.max_age));
  if (conf.private_network && ctx.req.headers.get("access-control-request-private-network") === "true")
    headers.push("Access-Control-Allow-Private-Network", "true");
  return headers;
}

export const cors = definePlugin<CorsConfig>({
  name: "cors",
  version: "3.10.0",
  priority: 2000,
  configSchema: corsSchema,
  noConsumer: true,
  access(ctx, conf) {
    const reqOrigin = ctx.req.headers.get("origin");
    if (ctx.method !== "OPTIONS" || !reqOrigin || !ctx.req.headers.get("access-control-request-method"))
      return undefined;
    // A preflight: either the upstream answers it untouched, or gw answers it here with every header set.
    ctx.shared[SKIP] = true;
    if (conf.preflight_continue) return undefined;
    const flat = preflightHeaders(ctx, conf, reqOrigin);
    const headers: [string, string][] = [];
    for (let i = 0; i < flat.length; i += 2) headers.push([flat[i]!, flat[i + 1]!]);
    return { status: 200, body: "", headers };
  },
  headerFilter(ctx, conf, res) {
    if (ctx.shared[SKIP]) return;
    const reqOrigin = ctx.req.headers.get("origin");
    if (!reqOrigin && !conf.allow_origin_absent) return;
    const allowAll = configureOrigin(conf, res.headers, reqOrigin, true);
    configureCredentials(conf, res.headers, allowAll, reqOrigin, true);
    if (conf.exposed_headers?.length)
      setResponseHeader(res.headers, "Access-Control-Expose-Headers", conf.exposed_headers.join(","));
  },
});
