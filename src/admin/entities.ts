/** CRUD endpoints for every entity, generated from the entity registry: collections, items and nested paths, as Kong. */
import type { Context, Hono } from "hono";
import type { EntityDefinition } from "../entities/schemas";
import type { ListOptions, Row, Scope, Store, StoreOps } from "../store/store";
import { readBody } from "./body";
import { errorResponse, HttpError, notFound } from "./errors";
import type { EntityValidator } from "./validation";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** What the read endpoints need: the store, or on DB-less nodes the running config. */
export type EntityReader = Pick<StoreOps, "list" | "get">;

export interface EntityRoutesDeps {
  reader: EntityReader;
  /** Null on DB-less nodes: Kong's DB-less Admin API is read-only (writes go through `POST /config`). */
  writer: Store | null;
  entities: readonly EntityDefinition[];
  validator: EntityValidator;
}

/** `?tags=a,b` (all) or `?tags=a/b` (any), at most 5, as Kong parses them. */
function parseTags(raw: string | undefined): ListOptions["tags"] {
  if (raw === undefined) return undefined;
  if (raw === "") throw new HttpError(400, "invalid option (tags: cannot be null)");
  const any = raw.includes("/");
  if (any && raw.includes(",")) throw new HttpError(400, "invalid option (tags: invalid filter syntax)");
  const list = raw.split(any ? "/" : ",").map((t) => t.trim());
  if (list.some((t) => t === "")) throw new HttpError(400, "invalid option (tags: invalid filter syntax)");
  if (list.length > 5) throw new HttpError(400, "invalid option (tags: cannot query more than 5 tags)");
  return any ? { any: list } : { all: list };
}

function parseSize(raw: string | undefined): number | undefined {
  if (raw === undefined) return undefined;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 1 || n > 1000) {
    throw Object.assign(new HttpError(400, "size must be an integer between 1 and 1000"), {
      invalidSize: true,
    });
  }
  return n;
}

/** Kong's `next` link: same path, the new offset, and the filters the client gave. */
function nextLink(c: Context, offset: string | undefined): string | null {
  if (!offset) return null;
  const q = new URLSearchParams();
  q.set("offset", offset);
  const size = c.req.query("size");
  const tags = c.req.query("tags");
  if (size) q.set("size", size);
  if (tags) q.set("tags", tags);
  return `${c.req.path}?${q.toString()}`;
}

/** A parent named in a nested path (`/services/{name or id}/routes`); 404 when it does not exist. */
async function resolveParent(ops: EntityReader, parent: EntityDefinition, key: string): Promise<Row> {
  const row = await ops.get(parent.name, key);
  if (!row) throw notFound();
  return row;
}

interface Nesting {
  parent: EntityDefinition;
  field: string;
}

export function registerEntityRoutes(app: Hono, deps: EntityRoutesDeps): void {
  const byName = new Map(deps.entities.map((e) => [e.name, e]));
  for (const def of deps.entities) {
    register(app, deps, def, `/${def.adminPath}`, null);
    for (const fk of def.foreignKeys) {
      const parent = byName.get(fk.reference);
      if (!parent) continue;
      const child = def.nestedAdminPath ?? def.adminPath;
      register(app, deps, def, `/${parent.adminPath}/:parent/${child}`, { parent, field: fk.field });
      registerParentView(app, deps, def, parent, fk.field);
    }
  }
}

function register(
  app: Hono,
  deps: EntityRoutesDeps,
  def: EntityDefinition,
  base: string,
  nesting: Nesting | null,
) {
  const { reader, writer, validator } = deps;
  const scopeOf = async (c: Context, ops: EntityReader): Promise<Scope | undefined> => {
    if (!nesting) return undefined;
    const parent = await resolveParent(ops, nesting.parent, c.req.param("parent")!);
    return { [nesting.field]: parent.id as string };
  };
  const run = (fn: (c: Context) => Promise<Response>) => async (c: Context) => {
    try {
      return await fn(c);
    } catch (e) {
      if ((e as { invalidSize?: boolean }).invalidSize) {
        return c.json({ code: 9, name: "invalid size", message: (e as Error).message }, 400);
      }
      return errorResponse(c, e);
    }
  };

  app.get(
    base,
    run(async (c) => {
      const scope = await scopeOf(c, reader);
      const page = await reader.list(def.name, {
        size: parseSize(c.req.query("size")),
        offset: c.req.query("offset"),
        tags: parseTags(c.req.query("tags")),
        filter: scope,
      });
      return c.json({
        data: page.data.map((r) => validator.present(def, r)),
        ...(page.offset ? { offset: page.offset } : {}),
        next: nextLink(c, page.offset),
      });
    }),
  );

  const item = `${base}/:key`;
  app.get(
    item,
    run(async (c) => {
      const scope = await scopeOf(c, reader);
      const row = await reader.get(def.name, c.req.param("key")!, scope);
      if (!row) throw notFound();
      return c.json(validator.present(def, row));
    }),
  );

  if (writer) registerWrites(app, { ...deps, writer }, def, base, nesting, scopeOf, run);
}

type ScopeOf = (c: Context, ops: EntityReader) => Promise<Scope | undefined>;
type Run = (fn: (c: Context) => Promise<Response>) => (c: Context) => Promise<Response>;

function registerWrites(
  app: Hono,
  deps: EntityRoutesDeps & { writer: Store },
  def: EntityDefinition,
  base: string,
  nesting: Nesting | null,
  scopeOf: ScopeOf,
  run: Run,
) {
  const { writer: store, validator } = deps;
  const item = `${base}/:key`;
  app.post(
    base,
    run(async (c) => {
      const body = await readBody(c.req.raw, validator.fieldTypes(def));
      const row = await store.transaction(async (tx) => {
        const scope = await scopeOf(c, tx);
        const input = { ...body, ...(scope ? { [nesting!.field]: { id: scope[nesting!.field] } } : {}) };
        return await validator.create(tx, def, input);
      });
      return c.json(validator.present(def, row), 201);
    }),
  );

  app.put(
    item,
    run(async (c) => {
      const key = c.req.param("key")!;
      const body = await readBody(c.req.raw, validator.fieldTypes(def));
      const row = await store.transaction(async (tx) => {
        const scope = await scopeOf(c, tx);
        const input: Record<string, unknown> = { ...body };
        if (scope) input[nesting!.field] = { id: scope[nesting!.field] };
        if (UUID.test(key)) input.id = key;
        else if (def.endpointKey) input[def.endpointKey] = key;
        else throw notFound();
        return await validator.upsert(tx, def, key, input, scope);
      });
      return c.json(validator.present(def, row));
    }),
  );

  app.patch(
    item,
    run(async (c) => {
      const key = c.req.param("key")!;
      const body = await readBody(c.req.raw, validator.fieldTypes(def));
      const row = await store.transaction(async (tx) => {
        const scope = await scopeOf(c, tx);
        return await validator.update(tx, def, key, body, scope);
      });
      return c.json(validator.present(def, row));
    }),
  );

  app.delete(
    item,
    run(async (c) => {
      await store.transaction(async (tx) => {
        const scope = await scopeOf(c, tx);
        await tx.delete(def.name, c.req.param("key")!, scope);
      });
      return c.body(null, 204);
    }),
  );
}

/** Kong's `/routes/{route}/service`: the parent a child points at, readable and patchable through the child. */
function registerParentView(
  app: Hono,
  deps: EntityRoutesDeps,
  child: EntityDefinition,
  parent: EntityDefinition,
  field: string,
) {
  const path = `/${child.adminPath}/:child/${field}`;
  const parentOf = async (ops: EntityReader, key: string) => {
    const row = await ops.get(child.name, key);
    const ref = row?.[field] as { id: string } | null | undefined;
    if (!ref) throw notFound();
    const target = await ops.get(parent.name, ref.id);
    if (!target) throw notFound();
    return target;
  };
  app.get(path, async (c) => {
    try {
      return c.json(deps.validator.present(parent, await parentOf(deps.reader, c.req.param("child")!)));
    } catch (e) {
      return errorResponse(c, e);
    }
  });
  const writer = deps.writer;
  if (!writer) return;
  app.patch(path, async (c) => {
    try {
      const body = await readBody(c.req.raw, deps.validator.fieldTypes(parent));
      const row = await writer.transaction(async (tx) => {
        const target = await parentOf(tx, c.req.param("child")!);
        return await deps.validator.update(tx, parent, target.id as string, body);
      });
      return c.json(deps.validator.present(parent, row));
    } catch (e) {
      return errorResponse(c, e);
    }
  });
}
