/** DB-less Admin API: `POST /config` replaces the whole running config, `GET /config` returns it (Kong's semantics). */
import type { Hono } from "hono";
import type { ActiveConfig } from "../config/active";
import {
  DeclarativeError,
  exportConfigTable,
  parseDeclarative,
  parseDeclarativeText,
} from "../entities/declarative";
import { fileHash } from "../entities/hash";

/** Kong's three accepted shapes: a `config` field (form or JSON), a raw YAML/JSON body, or the table itself. */
async function configText(req: Request): Promise<{ text: string } | { table: unknown }> {
  const type = req.headers.get("content-type") ?? "";
  const raw = await req.text();
  if (type.includes("application/json")) {
    const body = JSON.parse(raw) as Record<string, unknown>;
    if (typeof body.config === "string") return { text: body.config };
    return { table: body };
  }
  if (type.includes("application/x-www-form-urlencoded")) {
    const config = new URLSearchParams(raw).get("config");
    if (config !== null) return { text: config };
  }
  if (type.includes("multipart/form-data")) {
    const form = await new Response(raw, { headers: { "content-type": type } }).formData();
    const config = form.get("config");
    if (config !== null) return { text: typeof config === "string" ? config : await config.text() };
  }
  return { text: raw };
}

export function registerDblessConfig(app: Hono, active: ActiveConfig): void {
  app.get("/config", (c) =>
    c.json({
      config: Bun.YAML.stringify(
        exportConfigTable(active.table ?? parseDeclarative({ _format_version: "3.0" })),
        null,
        2,
      ),
    }),
  );

  app.post("/config", async (c) => {
    let input: { text: string } | { table: unknown };
    try {
      input = await configText(c.req.raw);
    } catch {
      return c.json({ message: "failed parsing declarative configuration: invalid JSON body" }, 400);
    }
    const hash = "text" in input ? fileHash(input.text) : fileHash(JSON.stringify(input.table));
    if (c.req.query("check_hash") === "1" && hash === active.hash) return c.body(null, 304);
    try {
      const table =
        "text" in input
          ? parseDeclarativeText(input.text, { plugins: active.pluginSchemas })
          : parseDeclarative(input.table, { plugins: active.pluginSchemas });
      active.apply(table, hash, "POST /config");
      const entities = exportConfigTable(table) as Record<string, unknown>;
      delete entities._format_version;
      delete entities._transform;
      return c.json(entities, 201);
    } catch (e) {
      if (!(e instanceof DeclarativeError)) throw e;
      const err = e.toEntityError();
      if (c.req.query("flatten_errors") === "1") {
        return c.json(
          { ...err.body, flattened_errors: e.issues.map((i) => ({ path: i.path, message: i.message })) },
          400,
        );
      }
      return c.json(err.body, 400);
    }
  });
}
