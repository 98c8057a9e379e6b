/** Kong's field vocabulary on top of zod: typed builders with Kong's wording, field metadata and entity checks. */
import { isIP } from "node:net";
import { z } from "zod";
import { parseBlock } from "../support/ip-matcher";

/** What `/schemas` shows about a field beyond what zod itself records. */
export interface KongFieldMeta {
  /** Overrides the type zod implies: arrays that are sets, objects that are foreign keys, free-form json. */
  type?: "set" | "foreign";
  reference?: string;
  unique?: boolean;
  unique_across_ws?: boolean;
  auto?: boolean;
  uuid?: boolean;
  timestamp?: boolean;
  transient?: boolean;
  encrypted?: boolean;
  referenceable?: boolean;
  on_delete?: "cascade" | "restrict";
  /** Kong marks some defaulted fields required (an explicit null is then an error, not the default). */
  required?: boolean;
  /** A record whose fields come from elsewhere (plugins' `config`). */
  abstract?: boolean;
  description?: string;
  /** Record-level checks, run after the fields validated. */
  entity_checks?: readonly EntityCheck[];
}

/** The metadata registry the `/schemas` generator reads; plugin schemas may register into it too. */
export const KONG = z.registry<KongFieldMeta>();

export function meta<T extends z.ZodType>(schema: T, data: KongFieldMeta): T {
  KONG.add(schema, data);
  return schema;
}

export const msg = {
  required: "required field missing",
  oneOf: (values: readonly unknown[]) => `expected one of: ${values.join(", ")}`,
  between: (a: number, b: number) => `value should be between ${a} and ${b}`,
  lenMin: (n: number) => `length must be at least ${n}`,
  lenMax: (n: number) => `length must be at most ${n}`,
  mustBeNull: "value must be null",
  quoted: (names: readonly string[]) => names.map((n) => `'${n}'`).join(", "),
} as const;

// ---------------------------------------------------------------- scalar builders

/** A type error that says "required field missing" for absent values, as Kong does, and `text` otherwise. */
export function typeError(text: string) {
  return (iss: z.core.$ZodRawIssue): string | undefined => {
    // A map's bad key: the key schema's own message is the useful one.
    if (iss.code === "invalid_key") return iss.issues[0]?.message;
    if (iss.code !== "invalid_type" && iss.code !== "invalid_value" && iss.code !== "invalid_union")
      return undefined;
    return iss.input === undefined || iss.input === null ? msg.required : text;
  };
}

export const str = () => z.string({ error: typeError("expected a string") });
export const bool = () => z.boolean({ error: typeError("expected a boolean") });

export function int(min?: number, max?: number) {
  const base = z.number({ error: typeError("expected an integer") }).int({ error: "expected an integer" });
  return min === undefined || max === undefined
    ? base
    : base.min(min, msg.between(min, max)).max(max, msg.between(min, max));
}

export function num(min?: number, max?: number) {
  const base = z.number({ error: typeError("expected a number") });
  return min === undefined || max === undefined
    ? base
    : base.min(min, msg.between(min, max)).max(max, msg.between(min, max));
}

export function oneOf<const T extends readonly [string, ...string[]]>(values: T) {
  return z.enum(values, { error: typeError(msg.oneOf(values)) });
}

export function oneOfInt<const T extends readonly [number, ...number[]]>(values: T) {
  return z.union(
    values.map((v) => z.literal(v)),
    { error: typeError(msg.oneOf(values)) },
  ) as unknown as z.ZodType<T[number]>;
}

export function array<T extends z.ZodType>(elements: T) {
  return z.array(elements, { error: typeError("expected an array") });
}

/** Kong's `set`: an array whose duplicates collapse (first occurrence kept). */
export function set<T extends z.ZodType>(elements: T) {
  const base = z.array(elements, { error: typeError("expected a set") });
  return meta(
    base.overwrite((values) => (new Set(values).size === values.length ? values : [...new Set(values)])),
    { type: "set" },
  );
}

export function map<V extends z.ZodType>(keys: z.ZodType<string>, values: V) {
  return z.record(keys, values, { error: typeError("expected a map") });
}

/** Optional in Kong's sense: absent and `null` both mean unset, and entities list it as `null`. */
export function opt<T extends z.ZodType>(schema: T) {
  return schema.nullable().optional();
}

/** A defaulted field Kong also marks required: `null` is refused instead of meaning the default. */
export function req<T extends z.ZodType>(schema: T): T {
  return meta(schema, { required: true });
}

/** Kong's `required`: no optional wrapper, and either no default or marked required. */
export function isRequired(schema: z.ZodType): boolean {
  let defaulted = false;
  for (let cur: z.ZodType | undefined = schema; cur; cur = innerOf(cur)) {
    const t = cur._zod.def.type;
    if (t === "optional") return false;
    if (t === "default" || t === "prefault") defaulted = true;
  }
  return !defaulted || fieldMeta(schema).required === true;
}

/** A refine with a Kong-worded message that answers `undefined` for valid values. */
export function check<T extends z.ZodType>(
  schema: T,
  validate: (value: z.output<T>) => string | undefined,
): T {
  // A raw check (no refinement context per call): this runs for every host, path and name of large configs.
  return schema.check((payload) => {
    const err = validate(payload.value as z.output<T>);
    if (err !== undefined)
      payload.issues.push({ code: "custom", message: err, input: payload.value, path: [] });
  }) as T;
}

// ---------------------------------------------------------------- common fields

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
export const isUuid = (s: string) => UUID_RE.test(s);

export const uuid = () =>
  meta(
    check(str(), (v) => (isUuid(v) ? undefined : "expected a valid UUID")),
    { uuid: true },
  );
export const autoId = () => meta(opt(uuid()), { auto: true, uuid: true });
export const timestampS = () => meta(opt(int()), { auto: true, timestamp: true });
export const timestampMs = () => meta(opt(num()), { auto: true, timestamp: true });

/** A foreign key in the canonical `{ id }` shape. */
export function fk(reference: string, onDelete: "cascade" | "restrict" = "restrict") {
  const base = meta(z.strictObject({ id: uuid() }, { error: typeError("expected a record") }), {
    type: "foreign",
    reference,
  });
  return onDelete === "cascade" ? meta(base, { type: "foreign", reference, on_delete: onDelete }) : base;
}

// Kong's pattern (Lua decimal escapes) admits the space too: printable ASCII but `,` and `/`, plus UTF-8.
const TAG_RE = /^[\x20-\x2b\x2d\x2e\x30-\x7e\u0080-\u{10ffff}]+$/u;
export const tag = () =>
  check(str(), (v) =>
    TAG_RE.test(v)
      ? undefined
      : `invalid tag '${v}': expected printable ascii (except \`,\` and \`/\`) or valid utf-8 sequences`,
  );
export const tags = () => opt(set(tag()));

const UTF8_NAME_RE = /^[A-Za-z0-9.\-_~\u0080-\u{10ffff}]+$/u;
export const utf8Name = () =>
  meta(
    check(str(), (v) =>
      UTF8_NAME_RE.test(v)
        ? undefined
        : `invalid value '${v}': the only accepted ascii characters are alphanumerics or ., -, _, and ~`,
    ),
    { unique: true },
  );

export const PROTOCOLS = ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"] as const;
export const HTTP_PROTOCOLS = ["grpc", "grpcs", "http", "https"] as const;
export const protocol = () => oneOf(PROTOCOLS);

export const port = () => int(0, 65535);

// ---------------------------------------------------------------- hosts, ips, paths

export interface HostPort {
  type: "ipv4" | "ipv6" | "name";
  host: string;
  port: number | null;
}

/** Kong's `normalize_ip`: `name[:port]`, `a.b.c.d[:port]`, `v6` or `[v6]:port`, normalized; Kong's error otherwise. */
export function parseHostPort(address: string): HostPort | string {
  const colons = address.split(":").length - 1;
  if (colons > 1) return parseIpv6(address);
  if (/^[\d.]+$/.test(address.replace(":", ""))) return parseIpv4(address);
  return parseName(address);
}

function portOf(raw: string | undefined): number | null | string {
  if (raw === undefined) return null;
  const port = Number(raw);
  return port > 65535 ? "invalid port number" : port;
}

function parseIpv4(address: string): HostPort | string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})(?::(\d+))?$/.exec(address);
  const octets = m ? m.slice(1, 5).map(Number) : [];
  if (!m || octets.some((o) => o > 255)) return `invalid ipv4 address: ${address}`;
  const port = portOf(m[5]);
  return typeof port === "string" ? port : { type: "ipv4", host: octets.join("."), port };
}

/** IPv6 hosts come back fully expanded and bracketed, as Kong formats them. */
function parseIpv6(address: string): HostPort | string {
  const m = /^\[([^\]]*)\](.*)$/.exec(address);
  let port: number | null | string = null;
  if (m && m[2] !== "") {
    const p = /^:(\d+)$/.exec(m[2]!);
    if (!p) return "invalid ipv6 address";
    port = portOf(p[1]);
    if (typeof port === "string") return port;
  }
  const ip = m ? m[1]! : address;
  if (isIP(ip) !== 6 || ip.includes(".")) return `invalid ipv6 address: ${address}`;
  const [head, tail] = ip.split("::") as [string, string?];
  const left = head ? head.split(":") : [];
  const right = tail ? tail.split(":") : [];
  const groups = [...left, ...Array(8 - left.length - right.length).fill("0"), ...right];
  const expanded = groups.map((g) => g.toLowerCase().padStart(4, "0")).join(":");
  return { type: "ipv6", host: `[${expanded}]`, port };
}

function parseName(address: string): HostPort | string {
  const m = /:(\d+)$/.exec(address);
  const port = portOf(m?.[1]);
  if (typeof port === "string") return port;
  const name = m ? address.slice(0, m.index) : address;
  if (!/^[0-9A-Za-z\-._]+$/.test(name)) return `invalid hostname: ${address}`;
  const segments = name.split(".");
  const bad = segments.some((seg, i) => seg.endsWith("-") || (seg === "" && i !== segments.length - 1));
  return bad ? `invalid hostname: ${address}` : { type: "name", host: name, port };
}

export function validateHost(host: string): string | undefined {
  const p = parseHostPort(host);
  if (typeof p === "string")
    return p === "invalid port number" ? "must not have a port" : `invalid value: ${host}`;
  return p.port !== null ? "must not have a port" : undefined;
}

export function validateHostWithOptionalPort(host: string): string | undefined {
  const p = parseHostPort(host);
  return typeof p === "string" ? p : undefined;
}

/** Kong's `wildcard_host`/`sni` (SNI names: no IPs, no ports, one leading or trailing `*`). */
export function validateWildcardHost(host: string): string | undefined {
  const idx = host.indexOf("*");
  if (idx !== -1) {
    if (idx !== 0 && idx !== host.length - 1) return "wildcard must be leftmost or rightmost character";
    if (host.indexOf("*", idx + 1) !== -1) return "only one wildcard must be specified";
  }
  const probe = host.replaceAll("*", "wildcard");
  const p = parseHostPort(probe);
  if (typeof p === "string")
    return p === "invalid port number" ? "must not have a port" : `invalid value: ${probe}`;
  if (p.type !== "name") return "must not be an IP";
  return p.port !== null ? "must not have a port" : undefined;
}

export const host = () => check(str(), validateHost);
export const wildcardHost = () => check(str(), validateWildcardHost);

export const ipOrCidr = () =>
  check(str(), (v) => (parseBlock(v) && !/\s/.test(v) ? undefined : `invalid ip or cidr range: '${v}'`));

const PATH_CHARS_RE = /^\/[A-Za-z0-9.\-_~/%:@!$&'()*+,;=]*$/;

/** Kong's `path` typedef: RFC 3986 characters, proper percent-encoding, no empty segments. */
export function validatePath(path: string): string | undefined {
  if (!path.startsWith("/")) return "should start with: /";
  if (path.includes("//")) return "must not have empty segments";
  if (!PATH_CHARS_RE.test(path))
    return `invalid path: '${path}' (characters outside of the reserved list of RFC 3986 found)`;
  return percentError(path);
}

function percentError(path: string): string | undefined {
  const raw = path.replace(/%[0-9A-Fa-f]{2}/g, "___");
  const at = raw.indexOf("%");
  return at === -1 ? undefined : `invalid url-encoded value: '${raw.slice(at, at + 3)}'`;
}

export const path = () => check(str(), validatePath);

/** Kong accepts a narrower set than RFC 7230 tokens for header and cookie names. */
const TOKEN_RE = /^[A-Za-z0-9_-]+$/;
export const headerName = () =>
  check(str(), (v) =>
    TOKEN_RE.test(v)
      ? undefined
      : `bad header name '${v}', allowed characters are A-Z, a-z, 0-9, '_', and '-'`,
  );
export const cookieName = () =>
  check(str(), (v) =>
    TOKEN_RE.test(v)
      ? undefined
      : `bad cookie name '${v}', allowed characters are A-Z, a-z, 0-9, '_', and '-'`,
  );

// ---------------------------------------------------------------- entity checks

/** A condition on one field's value, as Kong's `if_match`/`then_match` write it. */
export interface Match {
  one_of?: readonly unknown[];
  not_one_of?: readonly unknown[];
  match?: string;
  contains?: string;
  eq?: null;
  len_eq?: number;
  required?: true;
  elements?: { one_of?: readonly unknown[]; not_one_of?: readonly unknown[] };
}

export type EntityCheck =
  | { at_least_one_of: readonly string[] }
  | { mutually_required: readonly string[] }
  | { distinct: readonly string[] }
  | {
      conditional: {
        if_field: string;
        if_match: Match;
        then_field: string;
        then_match: Match;
        then_err?: string;
        /** Puts `then_err` on the field alone, as Kong's protocol subschemas do. */
        field_only?: boolean;
      };
    }
  | {
      conditional_at_least_one_of: {
        if_field: string;
        if_match: Match;
        then_at_least_one_of: readonly string[];
        then_err?: string;
        else_match?: Match;
        else_then_at_least_one_of?: readonly string[];
        else_then_err?: string;
      };
    }
  | {
      custom_entity_check: {
        field_sources: readonly string[];
        fn: (entity: Record<string, unknown>) => string | undefined;
      };
    };

export function isNonEmpty(v: unknown): boolean {
  if (v === undefined || v === null || v === "") return false;
  if (Array.isArray(v)) return v.length > 0;
  if (typeof v === "object") return Object.keys(v).length > 0;
  return true;
}

const regexes = new Map<string, RegExp>();

function regex(source: string): RegExp {
  let re = regexes.get(source);
  if (!re) {
    re = new RegExp(source);
    regexes.set(source, re);
  }
  return re;
}

/** Answers the error text when `v` fails `m` (`undefined` when it passes); `then_match` errors read like Kong's. */
export function matchError(m: Match, v: unknown): string | undefined {
  if (m.required && (v === undefined || v === null)) return msg.required;
  if (m.eq === null && v !== undefined && v !== null) return msg.mustBeNull;
  if (v === undefined || v === null) return undefined;
  if (m.one_of && !m.one_of.includes(v)) return msg.oneOf(m.one_of);
  if (m.not_one_of?.includes(v)) return `must not be one of: ${m.not_one_of.join(", ")}`;
  if (m.match !== undefined && !(typeof v === "string" && regex(m.match).test(v)))
    return `invalid value: ${v}`;
  if (m.contains !== undefined && !(Array.isArray(v) && v.includes(m.contains)))
    return `expected to contain: ${m.contains}`;
  if (m.len_eq !== undefined && Array.isArray(v) && v.length !== m.len_eq)
    return `length must be ${m.len_eq}`;
  if (m.elements && Array.isArray(v)) {
    for (const e of v) {
      const err = matchError(m.elements, e);
      if (err) return err;
    }
  }
  return undefined;
}

/** One failed check: an `@entity` message and, for conditionals, the field that failed. */
export interface CheckFailure {
  entity?: string;
  field?: [string, string];
}

function atLeastOne(entity: Record<string, unknown>, names: readonly string[]): boolean {
  return names.some((n) => isNonEmpty(entity[n]));
}

/** Runs one of Kong's entity checks over a parsed entity. */
export function runCheck(c: EntityCheck, e: Record<string, unknown>): CheckFailure | undefined {
  if ("at_least_one_of" in c) {
    return atLeastOne(e, c.at_least_one_of)
      ? undefined
      : { entity: `at least one of these fields must be non-empty: ${msg.quoted(c.at_least_one_of)}` };
  }
  if ("mutually_required" in c) {
    const set = c.mutually_required.filter((n) => isNonEmpty(e[n]));
    return set.length === 0 || set.length === c.mutually_required.length
      ? undefined
      : { entity: `all or none of these fields must be set: ${msg.quoted(c.mutually_required)}` };
  }
  if ("distinct" in c) {
    const values = c.distinct.map((n) => e[n]).filter(isNonEmpty);
    return new Set(values).size === values.length
      ? undefined
      : { entity: `values of these fields must be distinct: ${msg.quoted(c.distinct)}` };
  }
  if ("conditional" in c) {
    const a = c.conditional;
    const ifValue = e[a.if_field];
    if (ifValue === undefined || ifValue === null || matchError(a.if_match, ifValue)) return undefined;
    const err = matchError(a.then_match, e[a.then_field]);
    if (!err) return undefined;
    if (a.field_only) return { field: [a.then_field, a.then_err ?? err] };
    return {
      field: [a.then_field, err],
      entity: a.then_err ?? `failed conditional validation given value of field '${a.if_field}'`,
    };
  }
  if ("conditional_at_least_one_of" in c) {
    const a = c.conditional_at_least_one_of;
    const ifValue = e[a.if_field];
    if (ifValue === undefined || ifValue === null) return undefined;
    let names = a.then_at_least_one_of;
    let text = a.then_err;
    if (matchError(a.if_match, ifValue)) {
      if (!a.else_match || matchError(a.else_match, ifValue) || !a.else_then_at_least_one_of)
        return undefined;
      names = a.else_then_at_least_one_of;
      text = a.else_then_err;
    }
    if (atLeastOne(e, names)) return undefined;
    const list = msg.quoted(names);
    return {
      entity: text ? text.replace("%s", list) : `at least one of these fields must be non-empty: ${list}`,
    };
  }
  // Kong runs custom checks only when every field they read is set.
  const { field_sources, fn } = c.custom_entity_check;
  if (field_sources.some((f) => e[f] === undefined || e[f] === null)) return undefined;
  const err = fn(e);
  return err === undefined ? undefined : { entity: err };
}

/** The fields a check reads; a check whose fields failed validation is skipped, as Kong does. */
export function checkFields(c: EntityCheck): readonly string[] {
  if ("at_least_one_of" in c) return c.at_least_one_of;
  if ("mutually_required" in c) return c.mutually_required;
  if ("distinct" in c) return c.distinct;
  if ("conditional" in c) return [c.conditional.if_field, c.conditional.then_field];
  if ("conditional_at_least_one_of" in c) {
    const a = c.conditional_at_least_one_of;
    return [a.if_field, ...a.then_at_least_one_of, ...(a.else_then_at_least_one_of ?? [])];
  }
  return c.custom_entity_check.field_sources;
}

/** Adds Kong entity checks to a record schema; failures land under `@entity` and, for conditionals, the field. */
export function withChecks<T extends z.ZodObject>(
  schema: T,
  checks: readonly EntityCheck[],
  listed: readonly EntityCheck[] = checks,
): T {
  const plan = checks.map((c) => ({ check: c, fields: checkFields(c) }));
  // Fields that already failed validation: checks reading them are skipped, as Kong skips them. Zod hands the
  // issues to `when` right before running the refinement, synchronously, so they are passed along here.
  let failed = new Set<string>();
  const out = schema.superRefine(
    (value, ctx) => {
      for (const { check, fields } of plan) {
        if (fields.some((f) => failed.has(f))) continue;
        const failure = runCheck(check, value as Record<string, unknown>);
        if (!failure) continue;
        if (failure.field) {
          ctx.addIssue({ code: "custom", message: failure.field[1], path: [failure.field[0]] });
          failed.add(failure.field[0]);
        }
        if (failure.entity)
          ctx.addIssue({ code: "custom", message: failure.entity, path: [], params: { entity: true } });
      }
    },
    {
      when: (p) => {
        failed = new Set();
        for (const i of p.issues) if (i.path?.length) failed.add(String(i.path[0]));
        return typeof p.value === "object" && p.value !== null && !Array.isArray(p.value);
      },
    },
  ) as T;
  return meta(out, { ...KONG.get(schema), entity_checks: listed });
}

// ---------------------------------------------------------------- reading fields back

/** The Kong metadata of a field, merged across its optional/nullable/default wrappers (outer wins). */
export function fieldMeta(schema: z.ZodType): KongFieldMeta {
  const layers: KongFieldMeta[] = [];
  let cur: z.ZodType | undefined = schema;
  while (cur) {
    const m = KONG.get(cur);
    if (m) layers.push(m);
    cur = innerOf(cur);
  }
  return Object.assign({}, ...layers.reverse());
}

/** The schema a wrapper (optional, nullable, default, prefault, pipe) wraps; undefined for a leaf. */
export function innerOf(schema: z.ZodType): z.ZodType | undefined {
  const def = schema._zod.def as { type: string; innerType?: z.ZodType; in?: z.ZodType };
  switch (def.type) {
    case "optional":
    case "nullable":
    case "default":
    case "prefault":
    case "nonoptional":
    case "readonly":
    case "catch":
      return def.innerType;
    case "pipe":
      return def.in;
    default:
      return undefined;
  }
}

/** The innermost schema under wrappers. */
export function leafOf(schema: z.ZodType): z.ZodType {
  let cur = schema;
  for (let next = innerOf(cur); next; next = innerOf(cur)) cur = next;
  return cur;
}

export function hasDefault(schema: z.ZodType): boolean {
  for (let cur: z.ZodType | undefined = schema; cur; cur = innerOf(cur)) {
    const t = cur._zod.def.type;
    if (t === "default" || t === "prefault") return true;
  }
  return false;
}
