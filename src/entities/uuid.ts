/** UUIDv5 (RFC 4122, SHA-1) and Kong's deterministic ids for declarative entities. */

/** Kong's root namespace for declarative ids (`declarative_config.lua`). */
export const DECLARATIVE_NAMESPACE = "fd02801f-0957-4a15-a55a-c8d9606f30b5";

/** Kong's namespace for the sub-routes the ATC router splits a route into. */
export const SPLIT_ROUTE_NAMESPACE = "7f145bf9-0dce-4f91-98eb-debbce4b9f6b";

/** Kong's workspace id in DB-less mode. */
export const DEFAULT_WORKSPACE_ID = "0dc6f45b-8f8d-40d2-a504-473544ee190b";

const utf8 = new TextEncoder();
const namespaceBytes = new Map<string, Buffer>();

/** The 16 bytes of a namespace uuid; memoized, since declarative parsing hashes under a handful of them. */
function uuidBytes(uuid: string): Buffer {
  let bytes = namespaceBytes.get(uuid);
  if (bytes) return bytes;
  const hex = uuid.replaceAll("-", "");
  if (!/^[0-9a-fA-F]{32}$/.test(hex)) throw new Error(`invalid namespace uuid '${uuid}'`);
  bytes = Buffer.from(hex, "hex");
  if (namespaceBytes.size < 64) namespaceBytes.set(uuid, bytes);
  return bytes;
}

const HEX = Buffer.from("0123456789abcdef");
const DASH = 0x2d;

/** Canonical text of 16 bytes, built as one flat string: ids are Map keys by the hundred thousand. */
function format(bytes: Uint8Array): string {
  const out = Buffer.allocUnsafe(36);
  let o = 0;
  for (let i = 0; i < 16; i++) {
    if (i === 4 || i === 6 || i === 8 || i === 10) out[o++] = DASH;
    out[o++] = HEX[bytes[i]! >> 4]!;
    out[o++] = HEX[bytes[i]! & 15]!;
  }
  return out.toString("latin1");
}

/** RFC 4122 version 5: SHA-1 of namespace bytes + name (UTF-8), version and variant bits set. */
export function uuidv5(namespace: string, name: string): string {
  const encoded = utf8.encode(name);
  const input = new Uint8Array(16 + encoded.length);
  input.set(uuidBytes(namespace));
  input.set(encoded, 16);
  const bytes = (Bun.SHA1.hash(input) as Uint8Array).subarray(0, 16);
  bytes[6] = (bytes[6]! & 0x0f) | 0x50;
  bytes[8] = (bytes[8]! & 0x3f) | 0x80;
  return format(bytes);
}

const entityNamespaces = new Map<string, string>();

/** `v5(DECLARATIVE_NAMESPACE, table)`, the per-entity namespace; memoized (it is asked once per entity). */
export function entityNamespace(table: string): string {
  let ns = entityNamespaces.get(table);
  if (!ns) {
    ns = uuidv5(DECLARATIVE_NAMESPACE, table);
    entityNamespaces.set(table, ns);
  }
  return ns;
}

/** Kong's declarative id: `v5(v5(ns, table), key)`. */
export function declarativeId(table: string, key: string): string {
  return uuidv5(entityNamespace(table), key);
}

/** The id of the `n`th sub-route (1-based) of a route the router splits. */
export function splitRouteId(routeId: string, n: number): string {
  return uuidv5(SPLIT_ROUTE_NAMESPACE, `${routeId}#${n}`);
}

/** A cache_key part: the FK's id (or the name it was given by), the value itself, or `""` when unset. */
export type CacheKeyPart = string | number | boolean | null | undefined;

/** Kong's cache-key string for id generation: `"<table>:<ws or *>:<part>:<part>…"`. */
export function cacheKeyString(table: string, parts: readonly CacheKeyPart[], wsId?: string | null): string {
  return [table, wsId ?? "*", ...parts.map((p) => (p === null || p === undefined ? "" : String(p)))].join(
    ":",
  );
}
