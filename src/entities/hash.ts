/** Kong's config hashes: the hybrid-mode config hash (canonical string, md5 fold, sub-hashes) and the DB-less file hash. */
import { createHash } from "node:crypto";

export const EMPTY_CONFIG_HASH = "00000000000000000000000000000000";

/** Kong replaces the buffer by its raw md5 once it grows past this many bytes, and keeps appending. */
const FOLD_LIMIT = 1_000_000;

export interface ConfigHashes {
  config: string;
  routes: string;
  services: string;
  plugins: string;
  upstreams: string;
  targets: string;
}

const HASHED_KEYS = ["routes", "services", "plugins", "upstreams", "targets"] as const;

/** UTF-8 length of a string, counted in JS (cheaper than a native call for the many short strings hashed). */
function utf8Length(text: string): number {
  let bytes = text.length;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c < 0x80) continue;
    // A surrogate pair is 2 UTF-16 units and 4 bytes; other units take 2 or 3 bytes.
    bytes += c < 0x800 || (c >= 0xd800 && c <= 0xdfff) ? 1 : 2;
  }
  return bytes;
}

/** A byte buffer that folds like LuaJIT's string.buffer under Kong's `to_sorted_string`. */
class FoldingBuffer {
  /** The raw md5 of everything before the last fold, which the buffer starts with. */
  private head: Buffer | null = null;
  private text = "";
  /** Byte length, as `#o` reports it. */
  private size = 0;

  put(text: string): void {
    this.text += text;
    this.size += utf8Length(text);
  }

  /** Kong checks the size before emitting each value, so the fold points match only if this runs there too. */
  foldIfLarge(): void {
    if (this.size <= FOLD_LIMIT) return;
    this.head = this.digest().digest();
    this.text = "";
    this.size = this.head.length;
  }

  md5(): string {
    return this.digest().digest("hex");
  }

  private digest() {
    const h = createHash("md5");
    if (this.head) h.update(this.head);
    return h.update(this.text, "utf8");
  }
}

/** LuaJIT's number formatting (`%.14g`): integers plainly, others with 14 significant digits. */
export function luaNumber(n: number): string {
  if (Number.isInteger(n)) return Math.abs(n) < 1e14 ? (Object.is(n, -0) ? "-0" : String(n)) : bigInteger(n);
  if (Number.isNaN(n)) return "nan";
  if (!Number.isFinite(n)) return n > 0 ? "inf" : "-inf";
  if (n === 0) return Object.is(n, -0) ? "-0" : "0";
  const exp = Number(n.toExponential(13).split("e")[1]);
  if (exp < -4 || exp >= 14) {
    const [mant, e] = n.toExponential(13).split("e") as [string, string];
    const sign = e.startsWith("-") ? "-" : "+";
    const digits = e.replace(/^[+-]/, "").padStart(2, "0");
    return `${stripZeros(mant)}e${sign}${digits}`;
  }
  return stripZeros(n.toFixed(Math.max(0, 13 - exp)));
}

/** Integers of 15+ digits: 14 significant digits, ties to even as C's printf rounds exact decimal ties. */
function bigInteger(n: number): string {
  const digits = BigInt(Math.abs(n)).toString();
  let head = BigInt(digits.slice(0, 14));
  const rest = digits.slice(14);
  const half = `5${"0".repeat(rest.length - 1)}`;
  if (rest > half || (rest === half && head % 2n === 1n)) head += 1n;
  let mant = head.toString();
  let exp = digits.length - 1;
  if (mant.length > 14) {
    mant = mant.slice(0, 14);
    exp += 1;
  }
  const text = stripZeros(`${mant[0]}.${mant.slice(1)}`);
  return `${n < 0 ? "-" : ""}${text}e+${String(exp).padStart(2, "0")}`;
}

function stripZeros(s: string): string {
  return s.includes(".") ? s.replace(/0+$/, "").replace(/\.$/, "") : s;
}

const NON_ASCII = /[^\x00-\x7f]/;

/** Object keys in Lua's `sort` order: byte order of their UTF-8, which is code-unit order for ASCII. */
function sortedKeys(obj: object): string[] {
  const keys = Object.keys(obj);
  if (!keys.some((k) => NON_ASCII.test(k))) return keys.sort();
  return keys.sort((a, b) => Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8")));
}

function isEmpty(value: object): boolean {
  if (Array.isArray(value)) return value.length === 0;
  for (const _ in value) return false;
  return true;
}

/** Kong's `to_sorted_string`; `undefined` inside arrays is treated as JSON null. */
function toSortedString(value: unknown, o: FoldingBuffer): void {
  o.foldIfLarge();
  if (value === null || value === undefined) {
    o.put("/null/");
    return;
  }
  switch (typeof value) {
    case "string":
      o.put(value);
      return;
    case "number":
      o.put(luaNumber(value));
      return;
    case "boolean":
      o.put(value ? "true" : "false");
      return;
    case "object":
      break;
    default:
      throw new Error("invalid type to be sorted (JSON types are supported)");
  }
  if (isEmpty(value)) {
    o.put("{}");
  } else if (Array.isArray(value)) {
    if (value.length <= 5) {
      value.forEach((v, i) => {
        if (i > 0) o.put(";");
        toSortedString(v, o);
      });
    } else {
      for (const v of value) {
        toSortedString(v, o);
        o.put(";");
      }
    }
  } else {
    const obj = value as Record<string, unknown>;
    for (const k of sortedKeys(obj)) {
      o.put(k);
      o.put(":");
      toSortedString(obj[k], o);
      o.put(";");
    }
  }
}

/** md5 hex of Kong's canonical string of a value; an absent value hashes to the all-zero hash. */
export function hashValue(value: unknown): string {
  if (value === undefined) return EMPTY_CONFIG_HASH;
  const o = new FoldingBuffer();
  toSortedString(value, o);
  return o.md5();
}

/** The canonical string itself (no folding); for tests and debugging small values. */
export function canonicalString(value: unknown): string {
  const parts: string[] = [];
  const o = { put: (s: string) => parts.push(s), foldIfLarge: () => {} } as unknown as FoldingBuffer;
  toSortedString(value, o);
  return parts.join("");
}

const md5 = (text: string) => createHash("md5").update(text).digest("hex");

/** Kong's `calculate_config_hash` over a config table in wire/export shape (FKs as plain ids, nulls present). */
export function configHash(configTable: unknown): ConfigHashes {
  if (typeof configTable !== "object" || configTable === null || Array.isArray(configTable)) {
    const h = hashValue(configTable);
    return {
      config: h,
      routes: EMPTY_CONFIG_HASH,
      services: EMPTY_CONFIG_HASH,
      plugins: EMPTY_CONFIG_HASH,
      upstreams: EMPTY_CONFIG_HASH,
      targets: EMPTY_CONFIG_HASH,
    };
  }
  const table = configTable as Record<string, unknown>;
  const sub = Object.fromEntries(HASHED_KEYS.map((k) => [k, hashValue(table[k])])) as Record<
    (typeof HASHED_KEYS)[number],
    string
  >;
  const rest: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(table))
    if (!(HASHED_KEYS as readonly string[]).includes(k)) rest[k] = v;
  const restHash = hashValue(rest);
  const config = md5(HASHED_KEYS.map((k) => sub[k]).join("") + restHash);
  return { config, ...sub };
}

/** The DB-less hash of a declarative file (`declarative_config`, `POST /config`): md5 of its raw text. */
export function fileHash(text: string | Uint8Array): string {
  return createHash("md5").update(text).digest("hex");
}
