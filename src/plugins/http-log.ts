/** http-log: sends each request's serialized log entry to an HTTP endpoint, batched in a queue off the request path. */
import { z } from "zod";
import { check, headerName, int, map, num, oneOf, opt, str, withChecks } from "../entities/fields";
import { logger } from "../log/logger";
import { noticeIgnoredLua, recordResponse, serialize } from "./log-serializer";
import { definePlugin } from "./plugin";

const log = logger("http-log");

function urlProblem(value: string): string | undefined {
  let url: URL;
  try {
    url = new URL(value);
  } catch {
    return /^[a-z][a-z0-9+.-]*:\/\//i.test(value) ? "missing host in url" : "missing scheme in url";
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    return `unsupported scheme in url: ${url.protocol}`;
  return url.hostname ? undefined : "missing host in url";
}

const FORBIDDEN_HEADERS: [RegExp, string][] = [
  [/^host$/i, "cannot contain 'Host' header"],
  [/^content-length$/i, "cannot contain 'Content-Length' header"],
  [/^content-type$/i, "cannot contain 'Content-Type' header"],
];

/** Kong's shared queue settings (`typedefs.queue`). */
export const queueSchema = z
  .strictObject({
    max_batch_size: int(1, 1000000).default(1),
    max_coalescing_delay: num(0, 3600).default(1),
    max_entries: int(1, 1000000).default(10000),
    max_bytes: opt(int()),
    max_retry_time: num().default(60),
    initial_retry_delay: num(0.001, 1000000).default(0.01),
    max_retry_delay: num(0.001, 1000000).default(60),
    concurrency_limit: z.union([z.literal(-1), z.literal(1)], { error: "expected one of: -1, 1" }).default(1),
  })
  .prefault({});

/** Lua code (Kong's `custom_fields_by_lua`): accepted so configs written for Kong load, never run (gw has no Lua). */
export const luaCode = () => opt(map(str().min(1), str().min(1)));

export const httpLogSchema = withChecks(
  z.strictObject({
    http_endpoint: check(str(), urlProblem),
    method: oneOf(["POST", "PUT", "PATCH"]).default("POST"),
    content_type: oneOf(["application/json", "application/json; charset=utf-8"]).default("application/json"),
    timeout: num().default(10000),
    keepalive: num().default(60000),
    retry_count: opt(int()),
    queue_size: opt(int()),
    flush_timeout: opt(num()),
    headers: opt(
      map(
        check(headerName(), (name) => FORBIDDEN_HEADERS.find(([re]) => re.test(name))?.[1]),
        str(),
      ),
    ),
    queue: queueSchema,
    custom_fields_by_lua: luaCode(),
  }),
  [
    {
      custom_entity_check: {
        field_sources: ["http_endpoint", "headers"],
        fn: (c) => {
          const url = new URL(c.http_endpoint as string);
          const headers = (c.headers ?? {}) as Record<string, string>;
          return (url.username || url.password) &&
            Object.keys(headers).some((h) => h.toLowerCase() === "authorization")
            ? "specifying both an 'Authorization' header and user info in 'http_endpoint' is not allowed"
            : undefined;
        },
      },
    },
  ],
);

type HttpLogConfig = z.output<typeof httpLogSchema>;
type QueueParams = HttpLogConfig["queue"];

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** One delivery queue per log server (Kong keys queues by endpoint, method, type and timeouts). */
class LogQueue {
  private readonly entries: string[] = [];
  private bytes = 0;
  private timer: Timer | null = null;
  private sending: Promise<void> | null = null;

  constructor(
    readonly name: string,
    private conf: HttpLogConfig,
  ) {}

  enqueue(entry: string, conf: HttpLogConfig): void {
    this.conf = conf;
    const q = conf.queue;
    const maxBytes = q.max_bytes ?? Number.POSITIVE_INFINITY;
    if (entry.length > maxBytes) {
      log.error(`queue ${this.name}: string too large to process, dropping entry`);
      return;
    }
    // Kong drops the oldest entries when the queue is full, by count or by bytes.
    while (this.entries.length >= q.max_entries || this.bytes + entry.length > maxBytes) {
      log.warn(`queue ${this.name}: queue full, dropping old entries`);
      this.bytes -= this.entries.shift()!.length;
    }
    this.entries.push(entry);
    this.bytes += entry.length;
    if (this.entries.length >= q.max_batch_size) this.kick();
    else this.timer ??= setTimeout(() => this.kick(), q.max_coalescing_delay * 1000);
  }

  /** Starts delivery now, unless a delivery loop is already running (it will pick the new entries up). */
  kick(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    this.sending ??= this.drain().finally(() => {
      this.sending = null;
    });
    return this.sending;
  }

  private async drain(): Promise<void> {
    while (this.entries.length > 0) {
      const batch = this.entries.splice(0, this.conf.queue.max_batch_size);
      for (const e of batch) this.bytes -= e.length;
      await this.deliver(batch, this.conf);
    }
  }

  /** Kong's retry policy: exponential backoff from initial_retry_delay, capped, given up after max_retry_time. */
  private async deliver(batch: string[], conf: HttpLogConfig): Promise<void> {
    const q: QueueParams = conf.queue;
    const started = performance.now();
    let delay = q.initial_retry_delay;
    for (;;) {
      try {
        await send(conf, batch);
        return;
      } catch (e) {
        const elapsed = (performance.now() - started) / 1000;
        if (q.max_retry_time < 0 || elapsed + delay > q.max_retry_time) {
          log.error(
            `queue ${this.name}: could not send entries, giving up after retries. ${batch.length} queue entries were lost: ${(e as Error).message}`,
          );
          return;
        }
        await sleep(delay * 1000);
        delay = Math.min(delay * 2, q.max_retry_delay);
      }
    }
  }
}

async function send(conf: HttpLogConfig, batch: string[]): Promise<void> {
  const url = new URL(conf.http_endpoint);
  const headers: Record<string, string> = { "content-type": conf.content_type };
  if (url.username || url.password) {
    headers.authorization = `Basic ${btoa(`${decodeURIComponent(url.username)}:${decodeURIComponent(url.password)}`)}`;
    url.username = "";
    url.password = "";
  }
  for (const [name, value] of Object.entries(conf.headers ?? {})) headers[name.toLowerCase()] ??= value;
  const body = conf.queue.max_batch_size === 1 ? batch[0]! : `[${batch.join(",")}]`;
  const res = await fetch(url, {
    method: conf.method,
    headers,
    body,
    signal: AbortSignal.timeout(conf.timeout),
    keepalive: conf.keepalive > 0,
    tls: { rejectUnauthorized: false },
  });
  const text = await res.text();
  if (res.status >= 300)
    throw new Error(`request to ${url.host} returned status code ${res.status} and body ${text}`);
}

const queues = new Map<string, LogQueue>();

function queueFor(conf: HttpLogConfig): LogQueue {
  const name = [conf.http_endpoint, conf.method, conf.content_type, conf.timeout, conf.keepalive].join(":");
  let queue = queues.get(name);
  if (!queue) {
    queue = new LogQueue(name.replace(/\/\/[^@/]*@/, "//"), conf);
    queues.set(name, queue);
  }
  return queue;
}

/** Sends everything queued now and resolves once delivered or given up (node shutdown, tests). */
export async function flushHttpLogQueues(): Promise<void> {
  await Promise.all([...queues.values()].map((q) => q.kick()));
}

export const httpLog = definePlugin<HttpLogConfig>({
  name: "http-log",
  version: "3.10.0",
  priority: 12,
  configSchema: httpLogSchema,
  headerFilter(ctx, _conf, res) {
    recordResponse(ctx, res);
  },
  log(ctx, conf, entry) {
    noticeIgnoredLua("http-log", conf);
    queueFor(conf).enqueue(JSON.stringify(serialize(ctx, entry)), conf);
  },
});
