/** Status API (`status_listen`): `/status`, `/status/ready` (with draining), `/metrics`, and on DB-less nodes read-only upstream views. */
import { Hono } from "hono";
import type { Registry } from "./metrics";

export interface Readiness {
  ready: boolean;
  message: string;
}

export interface ServerStats {
  connections_active: number;
  connections_accepted: number;
  connections_handled: number;
  total_requests: number;
}

/** What a node exposes to its Status API; each role fills in what applies to it. */
export interface StatusSource {
  /** DB-less and data plane nodes report their config hash; nodes with a database report reachability instead. */
  configHash?: () => string;
  databaseReachable?: () => Promise<boolean>;
  readiness: () => Promise<Readiness>;
  serverStats: () => ServerStats;
  metrics: Registry;
  /** Read-only `/upstreams/...` endpoints of DB-less nodes (Kong mounts them on the Status API of data planes). */
  upstreams?: Hono;
}

const UNITS: Record<string, number> = { b: 1, k: 1024, m: 1024 ** 2, g: 1024 ** 3 };

function memoryReport(unit: string, scale: number) {
  const usage = process.memoryUsage();
  const fmt = (bytes: number) =>
    `${(bytes / UNITS[unit]!).toFixed(scale)} ${unit === "b" ? "" : `${unit.toUpperCase()}iB`}`.trim();
  return {
    workers_lua_vms: [{ http_allocated_gc: fmt(usage.heapUsed), pid: process.pid }],
    lua_shared_dicts: { kong: { allocated_slabs: fmt(usage.rss), capacity: fmt(usage.rss) } },
  };
}

export function statusApp(source: StatusSource): Hono {
  const app = new Hono();
  let draining = false;

  app.get("/status", async (c) => {
    const unit = c.req.query("unit") ?? "m";
    const scale = Number(c.req.query("scale") ?? "2");
    if (!(unit in UNITS) || !Number.isInteger(scale) || scale < 0 || scale > 20) {
      return c.json(
        { message: "invalid unit/scale: unit must be one of b, k, m, g; scale an integer 0-20" },
        400,
      );
    }
    const body: Record<string, unknown> = {
      server: {
        ...source.serverStats(),
        connections_reading: 0,
        connections_writing: 0,
        connections_waiting: 0,
      },
      memory: memoryReport(unit, scale),
    };
    if (source.databaseReachable) body.database = { reachable: await source.databaseReachable() };
    if (source.configHash) body.configuration_hash = source.configHash();
    return c.json(body);
  });

  app.get("/status/ready", async (c) => {
    if (draining) return c.json({ message: "draining" }, 503);
    const r = await source.readiness();
    return c.json({ message: r.message }, r.ready ? 200 : 503);
  });

  app.post("/status/ready", async (c) => {
    const body = await readBody(c.req.raw);
    if (body.status !== "draining") {
      return c.json({ message: "status must be 'draining'" }, 400);
    }
    draining = true;
    return c.body(null, 204);
  });

  app.get("/metrics", (c) =>
    c.text(source.metrics.render(), 200, { "Content-Type": "text/plain; version=0.0.4; charset=UTF-8" }),
  );

  if (source.upstreams) app.route("/", source.upstreams);
  app.notFound((c) => c.json({ message: "Not found" }, 404));
  return app;
}

/** Kong accepts JSON and form bodies alike. */
async function readBody(req: Request): Promise<Record<string, unknown>> {
  const type = req.headers.get("content-type") ?? "";
  const text = await req.text();
  if (type.includes("application/json")) {
    try {
      const parsed = JSON.parse(text);
      return parsed && typeof parsed === "object" ? parsed : {};
    } catch {
      return {};
    }
  }
  return Object.fromEntries(new URLSearchParams(text));
}
