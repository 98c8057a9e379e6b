/** Store-style reads (list with pagination, tags and parent filters; get by id or endpoint key) over a running config. */

import type { ConfigTable } from "../entities/declarative";
import { invalidOffset } from "../entities/errors";
import { entityDefinition } from "../entities/schemas";
import type { ListOptions, Page, Row, Scope } from "../store/store";

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const refId = (v: unknown) => (v && typeof v === "object" ? (v as { id?: string }).id : v);

function inScope(row: Row, scope: Scope | undefined): boolean {
  return !scope || Object.entries(scope).every(([field, id]) => refId(row[field]) === id);
}

function tagged(row: Row, tags: ListOptions["tags"]): boolean {
  if (!tags) return true;
  const own = new Set((row.tags as string[] | null) ?? []);
  return "all" in tags ? tags.all.every((t) => own.has(t)) : tags.any.some((t) => own.has(t));
}

/** The offset is the position after the last row of the previous page, in the config's own order. */
function decode(offset: string | undefined): number {
  if (offset === undefined) return 0;
  const n = Number(Buffer.from(offset, "base64").toString("utf8"));
  if (!/^[A-Za-z0-9+/]+=*$/.test(offset) || !Number.isInteger(n) || n < 0)
    throw invalidOffset(offset, "bad offset");
  return n;
}

export class ConfigTableReader {
  constructor(private readonly table: () => ConfigTable | null) {}

  private rows(entity: string): Row[] {
    return ((this.table() as unknown as Record<string, Row[]> | null)?.[entity] ?? []) as Row[];
  }

  async list(entity: string, options: ListOptions = {}): Promise<Page> {
    const size = options.size ?? 100;
    const matching = this.rows(entity).filter((r) => inScope(r, options.filter) && tagged(r, options.tags));
    const start = decode(options.offset);
    const data = matching.slice(start, start + size);
    const next =
      start + size < matching.length ? Buffer.from(String(start + size)).toString("base64") : undefined;
    return next ? { data, offset: next } : { data };
  }

  async get(entity: string, idOrKey: string, scope?: Scope): Promise<Row | null> {
    const key = entityDefinition(entity)?.endpointKey;
    const field = UUID.test(idOrKey) || !key ? "id" : key;
    return this.rows(entity).find((r) => r[field] === idOrKey && inScope(r, scope)) ?? null;
  }
}
