/** rate-limiting: Kong's fixed-window request limits per second…year, counted in memory (`local`) or in Redis. */
import { z } from "zod";
import {
  bool,
  headerName,
  host,
  int,
  num,
  oneOf,
  opt,
  path,
  port,
  req,
  str,
  withChecks,
} from "../entities/fields";
import { logger } from "../log/logger";
import { perConfig } from "./common";
import { definePlugin, type PluginExit, type RequestContext } from "./plugin";

const log = logger("rate-limiting");

export const PERIODS = ["second", "minute", "hour", "day", "month", "year"] as const;
/** Seconds per window; months and years are Kong's fixed 30 and 365 days for expiry and reset. */
const EXPIRATION = [1, 60, 3600, 86400, 2592000, 31536000] as const;
const EMPTY_UUID = "00000000-0000-0000-0000-000000000000";
const SYNC_RATE_REALTIME = -1;

const redisSchema = z
  .strictObject({
    host: opt(host()),
    port: port().default(6379),
    timeout: int(0, 2147483646).default(2000),
    username: opt(str()),
    password: opt(str()),
    database: int().default(0),
    ssl: bool().default(false),
    ssl_verify: bool().default(false),
    server_name: opt(str()),
  })
  .prefault({});

const positive = () => num().gt(0, "value must be greater than 0");
const limit = () => opt(positive());

/** Kong's `custom_validator` of the config record: limits must not shrink as windows grow. */
function periodsProblem(c: Record<string, unknown>): string | undefined {
  const set = PERIODS.filter((p) => typeof c[p] === "number");
  for (let i = 0; i < set.length; i++) {
    for (let j = i + 1; j < set.length; j++) {
      const lower = c[set[i]!] as number;
      const upper = c[set[j]!] as number;
      if (upper < lower)
        return `The limit for ${set[j]}(${upper.toFixed(1)}) cannot be lower than the limit for ${set[i]}(${lower.toFixed(1)})`;
    }
  }
  return undefined;
}

function policyProblem(c: Record<string, unknown>): string | undefined {
  const redis = c.redis as { host?: string | null } | undefined;
  const syncRate = c.sync_rate as number;
  if (c.policy !== "redis") {
    return syncRate !== SYNC_RATE_REALTIME ? "sync_rate can only be used with the redis policy" : undefined;
  }
  if (!redis?.host) return "failed conditional validation given value of field 'config.policy'";
  if (syncRate !== SYNC_RATE_REALTIME && syncRate < 0.02)
    return "sync_rate must be greater than 0.02, or -1 to disable";
  return undefined;
}

/** Kong's `conditional` check: `field` is required when `when` has the value `value`. */
const requiredWhen = (when: string, value: string, field: string) => ({
  conditional: {
    if_field: when,
    if_match: { one_of: [value] },
    then_field: field,
    then_match: { required: true as const },
  },
});

export const rateLimitingSchema = withChecks(
  z
    .strictObject({
      second: limit(),
      minute: limit(),
      hour: limit(),
      day: limit(),
      month: limit(),
      year: limit(),
      limit_by: oneOf(["consumer", "credential", "ip", "service", "header", "path"]).default("consumer"),
      header_name: opt(headerName()),
      path: opt(path()),
      policy: oneOf(["local", "redis"]).default("local"),
      fault_tolerant: req(bool().default(true)),
      redis: redisSchema,
      hide_client_headers: req(bool().default(false)),
      error_code: positive().default(429),
      error_message: str().default("API rate limit exceeded"),
      sync_rate: req(num().default(SYNC_RATE_REALTIME)),
    })
    .superRefine((c, ctx) => {
      const problem = periodsProblem(c) ?? policyProblem(c);
      if (problem) ctx.addIssue({ code: "custom", message: problem, path: [] });
    }),
  [
    { at_least_one_of: [...PERIODS] },
    requiredWhen("limit_by", "header", "header_name"),
    requiredWhen("limit_by", "path", "path"),
  ],
);

type RateLimitingConfig = z.output<typeof rateLimitingSchema>;

interface Compiled {
  /** Indexes into PERIODS of the configured limits, smallest window first. */
  periods: number[];
  limits: number[];
  /** `X-RateLimit-Limit-<Period>` pairs; constant per config, so built once and shared by every response. */
  limitHeaders: [string, string][];
  /** `route:service` of the plugin when the framework tells us (Kong's `conf.route_id`/`conf.service_id`). */
  scope: string | null;
}

const X_LIMIT = PERIODS.map((p) => `X-RateLimit-Limit-${p[0]!.toUpperCase()}${p.slice(1)}`);
const X_REMAINING = PERIODS.map((p) => `X-RateLimit-Remaining-${p[0]!.toUpperCase()}${p.slice(1)}`);

const compile = perConfig((conf: RateLimitingConfig): Compiled => {
  const periods: number[] = [];
  const limits: number[] = [];
  PERIODS.forEach((p, i) => {
    const v = conf[p];
    if (typeof v === "number") {
      periods.push(i);
      limits.push(v);
    }
  });
  const injected = conf as { route_id?: string | null; service_id?: string | null };
  const scope =
    "route_id" in injected || "service_id" in injected
      ? `${injected.route_id ?? EMPTY_UUID}:${injected.service_id ?? EMPTY_UUID}`
      : null;
  const limitHeaders = periods.map((p, i): [string, string] => [X_LIMIT[p]!, String(limits[i])]);
  return { periods, limits, limitHeaders, scope };
});

// ---------------------------------------------------------------- windows

/** Window starts (ms, UTC calendar boundaries as Kong's `get_timestamps`), recomputed once per second. */
const stamps = new Float64Array(6);
let stampedSecond = -1;

function windowStarts(nowSec: number): Float64Array {
  if (nowSec === stampedSecond) return stamps;
  const d = new Date(nowSec * 1000);
  const y = d.getUTCFullYear();
  const mo = d.getUTCMonth();
  const day = d.getUTCDate();
  stamps[0] = nowSec * 1000;
  stamps[1] = Date.UTC(y, mo, day, d.getUTCHours(), d.getUTCMinutes());
  stamps[2] = Date.UTC(y, mo, day, d.getUTCHours());
  stamps[3] = Date.UTC(y, mo, day);
  stamps[4] = Date.UTC(y, mo, 1);
  stamps[5] = Date.UTC(y, 0, 1);
  stampedSecond = nowSec;
  return stamps;
}

// ---------------------------------------------------------------- policies

/** One counter per (scope, identifier): window start and count for each period, in one typed array. */
const localCounters = new Map<string, Float64Array>();

/** Usage per configured period; fills a scratch array the synchronous caller reads before anything else runs. */
const scratch: number[] = [];

function localUsage(c: Compiled, key: string, starts: Float64Array): number[] {
  const counter = localCounters.get(key);
  scratch.length = c.periods.length;
  for (let i = 0; i < c.periods.length; i++) {
    const p = c.periods[i]!;
    scratch[i] = counter && counter[p] === starts[p] ? counter[6 + p]! : 0;
  }
  return scratch;
}

function localIncrement(c: Compiled, key: string, starts: Float64Array): void {
  let counter = localCounters.get(key);
  if (!counter) {
    counter = new Float64Array(12);
    localCounters.set(key, counter);
  }
  for (const p of c.periods) {
    if (counter[p] !== starts[p]) {
      counter[p] = starts[p]!;
      counter[6 + p] = 0;
    }
    counter[6 + p]!++;
  }
}

/** Drops counters whose every window has passed, so idle clients do not pile up. */
function sweepLocalCounters(): void {
  const starts = windowStarts(Math.floor(Date.now() / 1000));
  for (const [key, counter] of localCounters) {
    let live = false;
    for (let p = 0; p < 6 && !live; p++) live = counter[p] !== 0 && counter[p] === starts[p];
    if (!live) localCounters.delete(key);
  }
}
setInterval(sweepLocalCounters, 60_000).unref();

type RedisConfig = RateLimitingConfig["redis"];

/** Counts of one Redis key in `sync_rate` mode: the value read from Redis plus what this node admitted since. */
interface Pending {
  remote: number;
  delta: number;
  ttl: number;
}

/** One connection per Redis database, and the counts waiting for the next sync to it. */
interface RedisLink {
  client: Bun.RedisClient;
  timeout: number;
  pending: Map<string, Pending>;
  syncTimer: Timer | null;
}

const redisLinks = new Map<string, RedisLink>();

function redisLink(r: RedisConfig): RedisLink {
  const auth = r.password
    ? `${r.username ? encodeURIComponent(r.username) : ""}:${encodeURIComponent(r.password)}@`
    : "";
  const url = `${r.ssl ? "rediss" : "redis"}://${auth}${r.host}:${r.port}/${r.database}`;
  let link = redisLinks.get(url);
  if (!link) {
    const client = new Bun.RedisClient(url, {
      connectionTimeout: r.timeout,
      tls: r.ssl ? { rejectUnauthorized: r.ssl_verify, serverName: r.server_name ?? undefined } : false,
    });
    link = { client, timeout: r.timeout, pending: new Map(), syncTimer: null };
    redisLinks.set(url, link);
  }
  return link;
}

function withTimeout<T>(work: Promise<T>, ms: number): Promise<T> {
  let timer: Timer | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timeout after ${ms}ms`)), ms);
  });
  return Promise.race([work, timeout]).finally(() => clearTimeout(timer));
}

/** Kong's key layout: `ratelimit:<route>:<service>:<identifier>:<window start ms>:<period>`. */
const redisKeyOf = (key: string, p: number, starts: Float64Array) =>
  `ratelimit:${key}:${starts[p]}:${PERIODS[p]}`;

/** Kong's realtime Redis policy: every request increments each window's key; the previous value is the usage. */
async function redisUsage(
  conf: RateLimitingConfig,
  c: Compiled,
  key: string,
  starts: Float64Array,
): Promise<number[]> {
  const { client } = redisLink(conf.redis);
  const sends: Promise<unknown>[] = [];
  for (const p of c.periods) {
    const redisKey = redisKeyOf(key, p, starts);
    // Issued together so Bun pipelines them into one round trip.
    sends.push(client.send("INCRBY", [redisKey, "1"]));
    sends.push(client.send("EXPIRE", [redisKey, String(EXPIRATION[p]), "NX"]));
  }
  const replies = await withTimeout(Promise.all(sends), conf.redis.timeout);
  return c.periods.map((_, i) => Number(replies[2 * i]) - 1);
}

/**
 * Kong's `sync_rate` mode: a window's count is read from Redis once, then counted on this node and pushed every
 * `sync_rate` seconds (INCRBY + EXPIRE NX, pipelined). Fewer Redis round trips, at the price of nodes seeing each
 * other's traffic up to `sync_rate` late.
 */
async function syncedUsage(
  conf: RateLimitingConfig,
  c: Compiled,
  key: string,
  starts: Float64Array,
): Promise<number[]> {
  const link = redisLink(conf.redis);
  const keys = c.periods.map((p) => redisKeyOf(key, p, starts));
  const missing = keys.filter((k) => !link.pending.has(k));
  if (missing.length > 0) {
    const values = await withTimeout(
      Promise.all(missing.map((k) => link.client.send("GET", [k]))),
      link.timeout,
    );
    missing.forEach((k, i) => {
      const p = c.periods[keys.indexOf(k)]!;
      if (!link.pending.has(k))
        link.pending.set(k, { remote: Number(values[i] ?? 0), delta: 0, ttl: EXPIRATION[p]! });
    });
  }
  return keys.map((k) => {
    const counted = link.pending.get(k)!;
    return counted.remote + counted.delta;
  });
}

function syncedIncrement(conf: RateLimitingConfig, c: Compiled, key: string, starts: Float64Array): void {
  const link = redisLink(conf.redis);
  for (const p of c.periods) {
    const counted = link.pending.get(redisKeyOf(key, p, starts));
    if (counted) counted.delta++;
  }
  link.syncTimer ??= setTimeout(() => void syncToRedis(link), conf.sync_rate * 1000);
}

/** Pushes the admitted counts; the next request in each window reads the merged value back from Redis. */
async function syncToRedis(link: RedisLink): Promise<void> {
  if (link.syncTimer) clearTimeout(link.syncTimer);
  link.syncTimer = null;
  const pending = link.pending;
  link.pending = new Map();
  const sends: Promise<unknown>[] = [];
  for (const [k, counted] of pending) {
    if (counted.delta <= 0) continue;
    sends.push(link.client.send("INCRBY", [k, String(counted.delta)]));
    sends.push(link.client.send("EXPIRE", [k, String(counted.ttl), "NX"]));
  }
  try {
    await withTimeout(Promise.all(sends), link.timeout);
  } catch (e) {
    log.error(`failed to sync counters to Redis: ${(e as Error).message}`);
  }
}

// ---------------------------------------------------------------- access

function identifier(ctx: RequestContext, conf: RateLimitingConfig): string {
  let id: string | null | undefined;
  switch (conf.limit_by) {
    case "service":
      id = ctx.serviceId;
      break;
    case "consumer":
      id = ctx.consumer?.id ?? ctx.credential?.id;
      break;
    case "credential":
      id = ctx.credential?.id;
      break;
    case "header":
      id = conf.header_name ? ctx.req.headers.get(conf.header_name) : null;
      break;
    case "path":
      id = ctx.path === conf.path ? ctx.path : null;
      break;
  }
  return id || ctx.clientIp;
}

/** Kong's headers: one pair per period, and the RateLimit-* trio for the most restrictive window. */
function setHeaders(
  ctx: RequestContext,
  c: Compiled,
  usage: number[],
  stop: number,
  nowMs: number,
  starts: Float64Array,
): number {
  let best = -1;
  let bestRemaining = 0;
  let reset = 1;
  for (let i = 0; i < c.periods.length; i++) {
    const p = c.periods[i]!;
    let remaining = c.limits[i]! - usage[i]!;
    if (stop < 0 || stop === i) remaining -= 1;
    remaining = Math.max(0, remaining);
    if (best < 0 || remaining < bestRemaining || (remaining === bestRemaining && p > c.periods[best]!)) {
      best = i;
      bestRemaining = remaining;
      reset = Math.max(1, EXPIRATION[p]! - Math.floor((nowMs - starts[p]!) / 1000));
    }
    ctx.responseHeaders.push(c.limitHeaders[i]!, [X_REMAINING[p]!, String(remaining)]);
  }
  ctx.responseHeaders.push(
    ["RateLimit-Limit", String(c.limits[best])],
    ["RateLimit-Remaining", String(bestRemaining)],
    ["RateLimit-Reset", String(reset)],
  );
  return reset;
}

/** Sets the headers and answers the rejection when a window is used up (Kong's `stop`). */
function decide(
  ctx: RequestContext,
  conf: RateLimitingConfig,
  c: Compiled,
  usage: number[],
  nowSec: number,
  starts: Float64Array,
): PluginExit | undefined {
  let stop = -1;
  for (let i = 0; i < c.periods.length; i++) if (c.limits[i]! - usage[i]! <= 0) stop = i;
  const reset = conf.hide_client_headers ? 0 : setHeaders(ctx, c, usage, stop, nowSec * 1000, starts);
  if (stop < 0) return undefined;
  return {
    status: conf.error_code,
    message: conf.error_message,
    headers: conf.hide_client_headers ? [] : [["Retry-After", String(reset)]],
  };
}

export const rateLimiting = definePlugin<RateLimitingConfig>({
  name: "rate-limiting",
  version: "3.10.0",
  priority: 910,
  configSchema: rateLimitingSchema,
  access(ctx, conf) {
    const c = compile(conf);
    const nowSec = Math.floor(Date.now() / 1000);
    const starts = windowStarts(nowSec);
    const key = `${c.scope ?? `${ctx.routeId ?? EMPTY_UUID}:${ctx.serviceId ?? EMPTY_UUID}`}:${identifier(ctx, conf)}`;
    if (conf.policy !== "redis") {
      const exit = decide(ctx, conf, c, localUsage(c, key, starts), nowSec, starts);
      if (!exit) localIncrement(c, key, starts);
      return exit;
    }
    // The shared window starts move on with the clock; this request keeps its own.
    const own = Float64Array.from(starts);
    const synced = conf.sync_rate !== SYNC_RATE_REALTIME;
    return (synced ? syncedUsage : redisUsage)(conf, c, key, own).then(
      (usage) => {
        const exit = decide(ctx, conf, c, usage, nowSec, own);
        if (!exit && synced) syncedIncrement(conf, c, key, own);
        return exit;
      },
      (e: Error) => {
        if (!conf.fault_tolerant) return { status: 500, message: "An unexpected error occurred" };
        log.error(`failed to get usage: ${e.message}`);
        return undefined;
      },
    );
  },
});

/** Pushes pending `sync_rate` counts and closes the Redis connections the plugin opened (node shutdown, tests). */
export async function closeRateLimitingRedis(): Promise<void> {
  const links = [...redisLinks.values()];
  redisLinks.clear();
  await Promise.all(links.map(syncToRedis));
  for (const link of links) link.client.close();
}
