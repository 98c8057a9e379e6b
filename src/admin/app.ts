/** The Admin API (hono): Kong's endpoints and conventions over the store, or over the running config on DB-less nodes. */

import { hostname } from "node:os";
import { Hono } from "hono";
import { cors } from "hono/cors";
import { schemaViolation } from "../entities/errors";
import { entitySchemaJson, pluginSchemaJson } from "../entities/kong-schema";
import { ENTITIES, type EntityDefinition, entityByAdminPath, type PluginSchemas } from "../entities/schemas";
import { validateEntity } from "../entities/validate";
import type { PluginDefinition } from "../plugins/plugin";
import type { Store } from "../store/store";
import { KONG_COMPAT_VERSION } from "../version";
import { readBody } from "./body";
import { type EntityReader, registerEntityRoutes } from "./entities";
import { errorResponse, HttpError } from "./errors";
import { EntityValidator } from "./validation";

const ONLY_CONTROL_PLANE = {
  message: "this endpoint is only available when Kong is configured to run as Control Plane for the cluster",
};

export interface AdminDeps {
  nodeId: string;
  /** The node's settings with sensitive values masked (for `GET /`'s `configuration`). */
  publicSettings: Record<string, unknown>;
  plugins: readonly PluginDefinition[];
  pluginSchemas: PluginSchemas;
  /** Null on DB-less nodes, whose entities come from `POST /config`. */
  store: Store | null;
  /** DB-less nodes list the running config's entities (read-only, as Kong's DB-less Admin API). */
  reader?: EntityReader;
  /** Extra endpoints a role adds (`/clustering/*` on a CP, `/config` on DB-less). */
  extend?: (app: Hono) => void;
  serverStats: () => Record<string, number>;
  /** Plugin names used by the running config, for `plugins.enabled_in_cluster` on DB-less nodes. */
  pluginsInUse?: () => string[];
}

export function adminApp(deps: AdminDeps): Hono {
  const app = new Hono();
  const validator = new EntityValidator(deps.pluginSchemas);
  // Kong Manager and browser tools call the Admin API cross-origin: answer preflights and mirror the origin.
  app.use("*", cors({ origin: (origin) => origin || "*", credentials: true, maxAge: 3600 }));

  app.get("/", async (c) => {
    const inUse = deps.store ? await deps.store.pluginNamesInUse() : (deps.pluginsInUse?.() ?? []);
    return c.json({
      tagline: "Welcome to kong",
      version: KONG_COMPAT_VERSION,
      edition: "community",
      hostname: hostname(),
      node_id: deps.nodeId,
      timers: { running: 0, pending: 0 },
      plugins: {
        available_on_server: Object.fromEntries(
          deps.plugins.map((p) => [p.name, { version: p.version, priority: p.priority }]),
        ),
        enabled_in_cluster: inUse,
      },
      lua_version: `Bun ${Bun.version}`,
      configuration: deps.publicSettings,
      pids: { master: process.pid, workers: [process.pid] },
    });
  });

  app.get("/status", async (c) => {
    const body: Record<string, unknown> = { server: deps.serverStats(), memory: {} };
    if (deps.store) {
      const reachable = await deps.store.ping().then(
        () => true,
        () => false,
      );
      body.database = { reachable };
    }
    return c.json(body);
  });

  app.get("/plugins/enabled", (c) => c.json({ enabled_plugins: deps.plugins.map((p) => p.name).sort() }));

  app.get("/schemas/plugins/:name", (c) => {
    const entry = deps.pluginSchemas.get(c.req.param("name"));
    if (!entry) return c.json({ message: `No plugin named '${c.req.param("name")}'` }, 404);
    return c.json(pluginSchemaJson(entry));
  });

  app.post("/schemas/plugins/validate", (c) =>
    validateAgainst(c.req.raw, entityByAdminPath("plugins")!, validator, deps),
  );

  app.get("/schemas/:entity", (c) => {
    const def = schemaEntity(c.req.param("entity"));
    const json = def && entitySchemaJson(def.name);
    return json ? c.json(json) : c.json({ message: `No entity named '${c.req.param("entity")}'` }, 404);
  });

  app.post("/schemas/:entity/validate", async (c) => {
    const def = schemaEntity(c.req.param("entity"));
    if (!def) return c.json({ message: `No entity named '${c.req.param("entity")}'` }, 404);
    return await validateAgainst(c.req.raw, def, validator, deps);
  });

  if (deps.store) {
    const store = deps.store;
    app.get("/tags", async (c) => tagPage(c.req.raw, store));
    app.get("/tags/:tag", async (c) => tagPage(c.req.raw, store, c.req.param("tag")));
    // Kong disables the global /targets collection: targets live under their upstream.
    app.all("/targets", (c) => c.json({ message: "Not found" }, 404));
    registerEntityRoutes(app, { reader: store, writer: store, entities: ENTITIES, validator });
  } else if (deps.reader) {
    registerEntityRoutes(app, { reader: deps.reader, writer: null, entities: ENTITIES, validator });
  }
  deps.extend?.(app);
  // Registered after the role's own routes: on a control plane its /clustering endpoints answer first.
  app.get("/clustering/*", (c) => c.json(ONLY_CONTROL_PLANE, 400));

  app.notFound((c) => c.json({ message: "Not found" }, 404));
  app.onError((e, c) => errorResponse(c, e));
  return app;
}

/** `/schemas/{name}` accepts table names (`ca_certificates`) and Admin API paths (`key-auths`). */
function schemaEntity(name: string): EntityDefinition | undefined {
  return ENTITIES.find((e) => e.name === name) ?? entityByAdminPath(name);
}

async function validateAgainst(
  req: Request,
  def: EntityDefinition,
  validator: EntityValidator,
  deps: AdminDeps,
) {
  const body = await readBody(req, validator.fieldTypes(def));
  const r = validateEntity(def, body, { mode: "create", plugins: deps.pluginSchemas, transform: false });
  if (r.ok) return Response.json({ message: "schema validation successful" });
  const e = schemaViolation(r.fields);
  return Response.json(e.body, { status: e.status });
}

async function tagPage(req: Request, store: Store, tag?: string): Promise<Response> {
  const url = new URL(req.url);
  const size = url.searchParams.get("size");
  const n = size === null ? undefined : Number(size);
  if (n !== undefined && (!Number.isInteger(n) || n < 1 || n > 1000)) {
    throw new HttpError(400, "size must be an integer between 1 and 1000");
  }
  const page = await store.tags({ tag, size: n, offset: url.searchParams.get("offset") ?? undefined });
  const next = page.offset ? `${url.pathname}?offset=${encodeURIComponent(page.offset)}` : null;
  return Response.json({ data: page.data, ...(page.offset ? { offset: page.offset } : {}), next });
}
