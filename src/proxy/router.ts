/** Kong's `traditional_compatible` router: compiled once per config into host and path indexes, matched in Kong's priority order. */
import { logger } from "../log/logger";
import { computeUpstreamPath, escapeUpstreamPath, normalizePath } from "./paths";

const log = logger("router");

/** The route fields the router reads, with Kong's names (a structural subset of the route entity). */
export interface RouterRoute {
  id: string;
  name?: string | null;
  protocols?: string[] | null;
  methods?: string[] | null;
  hosts?: string[] | null;
  paths?: string[] | null;
  headers?: Record<string, string[]> | null;
  snis?: string[] | null;
  regex_priority?: number | null;
  strip_path?: boolean | null;
  preserve_host?: boolean | null;
  path_handling?: string | null;
  https_redirect_status_code?: number | null;
  service?: { id: string } | string | null;
}

export interface RouterRequest {
  method: string;
  /** The raw Host header, maybe with a `:port`. */
  host: string;
  /** The port of the listener the request arrived on: what a route host's `:port` compares with when Host has none. */
  port: number;
  /** The raw request-target path; a query string, if any, is ignored. */
  path: string;
  headers: { get(name: string): string | null };
  /**
   * The TLS server name the client sent; `null` when it sent none (only https requests are checked against `snis`).
   * Left undefined, the Host name stands in for it, as clients send the host they connect to.
   */
  sni?: string | null;
  protocol: "http" | "https";
}

export interface RouteCaptures {
  /** Every group in order (named ones too), `""` for a group that did not take part. */
  unnamed: string[];
  named: Record<string, string>;
}

export interface RouteMatch<R> {
  route: R;
  /** The normalized request path the route was matched against. */
  path: string;
  /** The part of `path` the route's paths matched (the whole match for `~` paths); `""` if the route has no paths. */
  matchedPrefix: string;
  /** What strip_path removed: `matchedPrefix` when stripping, else `/` (Kong's `match_t.prefix`, for X-Forwarded-Prefix). */
  strippedPrefix: string;
  captures: RouteCaptures;
  /** The escaped path to send upstream, per strip_path, the service path and path handling. */
  upstreamPath: string;
  /** The route only accepts https and the request came over http: answer 426 or redirect, per https_redirect_status_code. */
  httpsRequired: boolean;
}

export interface Router<R> {
  match(req: RouterRequest): RouteMatch<R> | null;
  /** Matchers compiled (routes with paths of mixed kinds or lengths count once per group). */
  readonly size: number;
}

export interface CompileOptions {
  /** Honour `path_handling: v1` as Kong's `traditional` flavor does; `traditional_compatible` (the default) always uses v0. */
  honorPathHandling?: boolean;
}

const STREAM_PROTOCOLS = new Set(["tcp", "tls", "udp", "tls_passthrough"]);
const METHOD_BITS = new Map(
  ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"].map((m, i) => [m, 1 << i]),
);
/** Kong derives ids of split routes as UUIDv5 of `<route id>#<group>` in this namespace; ties between them follow those ids. */
const SPLIT_NAMESPACE = "7f145bf9-0dce-4f91-98eb-debbce4b9f6b";
const MAX_HEADER_COUNT = 255;
/** RFC 9110 token: looking up any other name in fetch Headers throws, and matching must never throw. */
const HEADER_NAME = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const NO_PATHS: never[] = [];
const NO_ENTRIES: never[] = [];
const NO_CAPTURES: RouteCaptures = Object.freeze({ unnamed: [], named: {} }) as RouteCaptures;

type PatternKind = "exact" | "suffix" | "prefix";

interface HostPattern {
  kind: PatternKind;
  value: string;
  /** 0 when any listener port will do. */
  port: number;
}

interface HeaderCondition {
  name: string;
  values: string[];
  regexes: RegExp[];
}

/** The priority fields of Kong's 64-bit route priority, most significant first. */
interface PriorityKey {
  weight: number;
  plainHostOnly: number;
  headerCount: number;
  regex: number;
  regexPriority: number;
  maxLength: number;
}

/** What the matchers of one route share, whatever its path groups. */
interface RouteConditions<R> {
  route: R;
  methodMask: number;
  otherMethods: ReadonlySet<string> | null;
  hosts: HostPattern[] | null;
  headers: HeaderCondition[] | null;
  snis: HostPattern[] | null;
  httpsOnly: boolean;
  servicePath: string | null;
  stripPath: boolean;
  pathHandling: "v0" | "v1";
}

/** One route, or one path group of a split route, in priority order. */
interface Matcher<R> {
  c: RouteConditions<R>;
  id: string;
  rank: number;
  plainPaths: string[] | null;
  regexPaths: RegExp[] | null;
}

/** One (host alternative, path alternative) of a matcher, filed in the index. */
interface Entry<R> {
  m: Matcher<R>;
  port: number;
  regex: RegExp | null;
}

/**
 * A radix tree node. Path trees hold entries at the node spelling their plain path or their regex's literal
 * prefix; host trees hold buckets for `example.*` prefixes and, keyed backwards, `*.example.com` suffixes.
 * Compressed edges keep 100k routes to a small heap: a larger heap slows every allocation the proxy makes.
 */
interface RadixNode<T> {
  /** The edge into this node, stored in walk order (reversed for backward trees). */
  label: string;
  /** The first character of each child's label, in the order of `children` (smaller than a Map per node). */
  firsts: string;
  children: RadixNode<T>[];
  value: T | null;
  /** The best (lowest) rank filed in this subtree: a walk stops where nothing left can beat the match in hand. */
  minRank: number;
}

/**
 * Entries that share a host and path position, in rank order. A long list (many routes told apart by a header,
 * e.g. a tenant header) is split by the value of the first exact-valued header each entry requires, so a
 * request only looks at the entries its own header value can satisfy.
 */
interface EntryList<R> {
  entries: Entry<R>[];
  byHeader: Map<string, Map<string, Entry<R>[]>> | null;
}

/**
 * The path tree of one host pattern. Its root holds the entries tried for every path: routes without paths, and
 * regexes without a literal prefix.
 */
type Bucket<R> = RadixNode<EntryList<R>>;

/** Lists up to this long are scanned as they are: indexing them would cost more than it saves. */
const HEADER_INDEX_FROM = 8;

const NO_CHILDREN: never[] = [];
const newNode = <T>(label: string, minRank = Number.POSITIVE_INFINITY): RadixNode<T> => ({
  label,
  firsts: "",
  children: NO_CHILDREN,
  value: null,
  minRank,
});
const newList = <R>(): EntryList<R> => ({ entries: [], byHeader: null });

/** Moves the entries of a long list that require an exact header value into per-value lists, keeping rank order. */
function indexByHeader<R>(list: EntryList<R>): void {
  if (list.entries.length < HEADER_INDEX_FROM) return;
  const rest: Entry<R>[] = [];
  const byHeader = new Map<string, Map<string, Entry<R>[]>>();
  for (const e of list.entries) {
    const c = e.m.c.headers?.find((h) => h.regexes.length === 0 && h.values.length > 0);
    if (!c) {
      rest.push(e);
      continue;
    }
    let byValue = byHeader.get(c.name);
    if (!byValue) {
      byValue = new Map();
      byHeader.set(c.name, byValue);
    }
    for (const v of new Set(c.values)) {
      const same = byValue.get(v);
      if (same) same.push(e);
      else byValue.set(v, [e]);
    }
  }
  if (byHeader.size === 0) return;
  list.entries = rest;
  list.byHeader = byHeader;
}

/** The character `pos` steps into `text`, from the end when walking backwards. */
const charAt = (text: string, pos: number, backwards: boolean) =>
  text[backwards ? text.length - 1 - pos : pos]!;

function addChild<T>(node: RadixNode<T>, child: RadixNode<T>): void {
  node.firsts += child.label[0];
  if (node.children === NO_CHILDREN) node.children = [child];
  else node.children.push(child);
}

/** The node for `key` (walked from the end when `backwards`), created on demand, with `rank` counted on its way. */
function radixNode<T>(root: RadixNode<T>, key: string, backwards: boolean, rank: number): RadixNode<T> {
  const walkKey = backwards ? [...key].reverse().join("") : key;
  let node = root;
  let i = 0;
  node.minRank = Math.min(node.minRank, rank);
  while (i < walkKey.length) {
    const at = node.firsts.indexOf(walkKey[i]!);
    if (at < 0) {
      const leaf = newNode<T>(walkKey.slice(i), rank);
      addChild(node, leaf);
      return leaf;
    }
    let child = node.children[at]!;
    let common = 0;
    while (common < child.label.length && child.label[common] === walkKey[i + common]) common++;
    if (common < child.label.length) {
      const mid = newNode<T>(child.label.slice(0, common), child.minRank);
      child.label = child.label.slice(common);
      addChild(mid, child);
      node.children[at] = mid;
      child = mid;
    }
    node = child;
    node.minRank = Math.min(node.minRank, rank);
    i += common;
  }
  return node;
}

/** The child of `node` whose whole edge label `text` spells from `pos`, if any. */
function nextNode<T>(
  node: RadixNode<T>,
  text: string,
  pos: number,
  backwards: boolean,
): RadixNode<T> | undefined {
  if (pos >= text.length) return undefined;
  const at = node.firsts.indexOf(charAt(text, pos, backwards));
  if (at < 0) return undefined;
  const child = node.children[at]!;
  const label = child.label;
  if (!backwards) return text.startsWith(label, pos) ? child : undefined;
  if (pos + label.length > text.length) return undefined;
  for (let j = 1; j < label.length; j++) {
    if (label[j] !== charAt(text, pos + j, true)) return undefined;
  }
  return child;
}

/** The decimal number `text` ends with from `from`, or -1 when it is not all digits (Kong then keeps the whole as a host). */
function parsePort(text: string, from: number): number {
  if (from >= text.length) return -1;
  let port = 0;
  for (let i = from; i < text.length; i++) {
    const d = text.charCodeAt(i) - 48;
    if (d < 0 || d > 9) return -1;
    port = port * 10 + d;
  }
  return port;
}

/** `host[:port]` → host and port (0 for none), as Kong splits route hosts and the Host header. */
function splitHostPort(value: string): [string, number] {
  const colon = value.indexOf(":");
  const port = colon < 0 ? -1 : parsePort(value, colon + 1);
  return port < 0 ? [value, 0] : [value.slice(0, colon), port];
}

/**
 * Hosts compare case-insensitively: DNS names are, and clients send the Host as typed. (Kong compares bytes;
 * this only differs for a Host in another case than the route's, which Kong would not match.)
 */
function hostPattern(host: string): HostPattern {
  const [name, port] = splitHostPort(host.toLowerCase());
  if (name.startsWith("*")) return { kind: "suffix", value: name.slice(1), port };
  if (name.endsWith("*")) return { kind: "prefix", value: name.slice(0, -1), port };
  return { kind: "exact", value: name, port };
}

/** Kong's SNI patterns: like hosts without ports, and a trailing `.` of a fully qualified name is not used. */
function sniPattern(sni: string): HostPattern {
  let value = sni.toLowerCase();
  if (value.endsWith("*")) return { kind: "prefix", value: value.slice(0, -1), port: 0 };
  if (value.length > 1 && value.endsWith(".")) value = value.slice(0, -1);
  if (value.startsWith("*")) return { kind: "suffix", value: value.slice(1), port: 0 };
  return { kind: "exact", value, port: 0 };
}

function patternAccepts(p: HostPattern, name: string): boolean {
  if (p.kind === "exact") return name === p.value;
  return p.kind === "suffix" ? name.endsWith(p.value) : name.startsWith(p.value);
}

const isRegexPath = (path: string) => path.startsWith("~");

/**
 * Kong's regexes are Rust regexes; this maps the Rust-only spellings users write (`(?P<name>`, leading inline
 * flags, `\A`, `\z`) to JS. Returns null, logged, for a pattern JS cannot compile: the validator reports those,
 * and a bad one must never throw while matching.
 */
function compileKongRegex(source: string, anchored: boolean, context: string): RegExp | null {
  let src = source
    .replace(/\(\?P</g, "(?<")
    .replace(/\\A/g, "^")
    .replace(/\\z/g, "$");
  let flags = "";
  const inline = /^\(\?([imsU]+)\)/.exec(src);
  if (inline) {
    flags = [...new Set(inline[1]!.replace("U", ""))].join("");
    src = src.slice(inline[0].length);
  }
  const body = anchored ? `^${src}` : src;
  for (const f of [flags, `${flags}u`]) {
    try {
      return new RegExp(body, f);
    } catch {}
  }
  log.warn(`${context}: '${source}' is not a regex this router can compile; it will never match`);
  return null;
}

/**
 * The literal text every match of a start-anchored regex begins with, so regex paths can sit in the path tree
 * and only be tried when the request path starts with it. Conservative: "" whenever unsure.
 */
function literalPrefix(regex: RegExp): string {
  const src = regex.source.slice(1);
  if (regex.flags.includes("i") || hasTopLevelAlternation(src)) return "";
  let out = "";
  let i = 0;
  while (i < src.length) {
    const ch = src[i]!;
    if ("^$.|?*+()[]{}".includes(ch)) break;
    if (ch === "\\") {
      const next = src[i + 1];
      if (next === undefined || /[0-9A-Za-z]/.test(next)) break;
      out += next;
      i += 2;
    } else {
      out += ch;
      i += 1;
    }
  }
  // a quantifier that allows zero repetitions makes the last literal optional
  if ("?*{".includes(src[i] ?? "x")) out = out.slice(0, -1);
  return out;
}

function hasTopLevelAlternation(src: string): boolean {
  let depth = 0;
  let inClass = false;
  for (let i = 0; i < src.length; i++) {
    const ch = src[i];
    if (ch === "\\") i++;
    else if (inClass) inClass = ch !== "]";
    else if (ch === "[") inClass = true;
    else if (ch === "(") depth++;
    else if (ch === ")") depth--;
    else if (ch === "|" && depth === 0) return true;
  }
  return false;
}

const SPLIT_NAMESPACE_BYTES = Buffer.from(SPLIT_NAMESPACE.replace(/-/g, ""), "hex");
const utf8 = new TextEncoder();

/** RFC 4122 UUIDv5 of `name` in Kong's split-route namespace. */
function splitRouteId(name: string): string {
  const nameBytes = utf8.encode(name);
  const input = new Uint8Array(16 + nameBytes.length);
  input.set(SPLIT_NAMESPACE_BYTES);
  input.set(nameBytes, 16);
  const d = Bun.SHA1.hash(input) as Uint8Array;
  d[6] = (d[6]! & 0x0f) | 0x50;
  d[8] = (d[8]! & 0x3f) | 0x80;
  const hex = Buffer.from(d.buffer, d.byteOffset, 16).toString("hex");
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/** Kong splits a route whose paths mix regexes and plain prefixes of different lengths: one group per kind/length, in order of first appearance. */
function groupPaths(paths: string[]): string[][] {
  if (paths.length === 1) return [paths];
  const groups = new Map<number, string[]>();
  for (const p of paths) {
    const k = isRegexPath(p) ? -1 : p.length;
    const g = groups.get(k);
    if (g) g.push(p);
    else groups.set(k, [p]);
  }
  return [...groups.values()];
}

const nonEmpty = <T>(v: T[] | null | undefined): v is T[] => Array.isArray(v) && v.length > 0;

function priorityKey(route: RouterRoute, paths: string[] | null): PriorityKey {
  const headerCount = Math.min(Object.keys(route.headers ?? {}).length, MAX_HEADER_COUNT);
  const regex = paths !== null && isRegexPath(paths[0]!);
  return {
    weight:
      Number(nonEmpty(route.methods)) +
      Number(nonEmpty(route.hosts)) +
      Number(headerCount > 0) +
      Number(nonEmpty(route.snis)) +
      Number(paths !== null),
    // As Kong: a hosts array, even an empty one, counts as plain unless some host has a wildcard.
    plainHostOnly: Number(Array.isArray(route.hosts) && !route.hosts.some((h) => h.includes("*"))),
    headerCount,
    regex: Number(regex),
    regexPriority: regex ? (route.regex_priority ?? 0) : 0,
    maxLength: paths !== null && !regex ? paths[0]!.length & 0x7ffff : 0,
  };
}

interface Ranked<R> {
  m: Matcher<R>;
  key: PriorityKey;
}

/** Kong's order: higher priority first, then the higher matcher id. */
function byPriority<R>({ m: a, key: ka }: Ranked<R>, { m: b, key: kb }: Ranked<R>): number {
  return (
    kb.weight - ka.weight ||
    kb.plainHostOnly - ka.plainHostOnly ||
    kb.headerCount - ka.headerCount ||
    kb.regex - ka.regex ||
    kb.regexPriority - ka.regexPriority ||
    kb.maxLength - ka.maxLength ||
    (a.id < b.id ? 1 : a.id > b.id ? -1 : 0)
  );
}

function headerConditions(route: RouterRoute): HeaderCondition[] | null {
  const entries = Object.entries(route.headers ?? {});
  if (entries.length === 0) return null;
  return entries.map(([name, raw]) => {
    const values: string[] = [];
    const regexes: RegExp[] = [];
    for (const v of raw ?? []) {
      // Kong lowercases the whole value, `~*` regexes included, and compares with the lowercased header.
      const lower = v.toLowerCase();
      if (!lower.startsWith("~*")) values.push(lower);
      else {
        const re = compileKongRegex(lower.slice(2), false, `route ${route.id} header '${name}'`);
        if (re) regexes.push(re);
      }
    }
    return { name: name.toLowerCase(), values, regexes };
  });
}

function buildMatchers<R extends RouterRoute>(
  route: R,
  servicePath: string | null,
  options: CompileOptions,
): Ranked<R>[] {
  const protocols = nonEmpty(route.protocols) ? route.protocols : ["http", "https"];
  const methods = nonEmpty(route.methods) ? route.methods : null;
  const c: RouteConditions<R> = {
    route,
    methodMask: methods ? methods.reduce((mask, m) => mask | (METHOD_BITS.get(m) ?? 0), 0) : 0,
    otherMethods: methods?.some((m) => !METHOD_BITS.has(m)) ? new Set(methods) : null,
    hosts: nonEmpty(route.hosts) ? route.hosts.map(hostPattern) : null,
    headers: headerConditions(route),
    snis: nonEmpty(route.snis) ? route.snis.map(sniPattern) : null,
    httpsOnly: protocols.includes("https") && !protocols.includes("http"),
    servicePath,
    stripPath: route.strip_path ?? true,
    pathHandling:
      options.honorPathHandling && route.path_handling === "v1" ? ("v1" as const) : ("v0" as const),
  };
  const groups = nonEmpty(route.paths) ? groupPaths(route.paths) : [null];
  return groups.map((paths, i) => ({
    key: priorityKey(route, paths),
    m: {
      c,
      id: groups.length > 1 ? splitRouteId(`${route.id}#${i + 1}`) : route.id,
      rank: 0,
      plainPaths: paths && !isRegexPath(paths[0]!) ? paths : null,
      regexPaths:
        paths && isRegexPath(paths[0]!)
          ? paths
              .map((p) => compileKongRegex(p.slice(1), true, `route ${route.id} path`))
              .filter((re): re is RegExp => re !== null)
          : null,
    },
  }));
}

function captureGroups(m: RegExpExecArray): RouteCaptures {
  if (m.length === 1) return NO_CAPTURES;
  const named: Record<string, string> = {};
  for (const [k, v] of Object.entries(m.groups ?? {})) if (v !== undefined) named[k] = v;
  return { unnamed: m.slice(1).map((v) => v ?? ""), named };
}

const ANY_HOST = [null];

function fileAt<R>(root: RadixNode<EntryList<R>>, key: string, entry: Entry<R>, lists: EntryList<R>[]): void {
  const node = radixNode(root, key, false, entry.m.rank);
  node.value ??= tracked(newList(), lists);
  node.value.entries.push(entry);
}

/** Lists are remembered so that, once all are filled, long ones can be indexed by header. */
function tracked<R>(list: EntryList<R>, lists: EntryList<R>[]): EntryList<R> {
  lists.push(list);
  return list;
}

class IndexedRouter<R extends RouterRoute> implements Router<R> {
  readonly size: number;
  private readonly exact = new Map<string, Bucket<R>>();
  private readonly suffixes = newNode<Bucket<R>>("");
  private readonly prefixes = newNode<Bucket<R>>("");
  private readonly anyHost = newNode<EntryList<R>>("");
  // Per-match scratch state: matching is synchronous, so one router never has two matches in flight.
  private req!: RouterRequest;
  private path = "";
  private methodBit = 0;
  private host = "";
  private port = 0;
  private bestRank = 0;
  private best: Matcher<R> | null = null;

  constructor(matchers: Matcher<R>[]) {
    this.size = matchers.length;
    const lists: EntryList<R>[] = [];
    for (const m of matchers) this.file(m, lists);
    for (const list of lists) indexByHeader(list);
  }

  /** Files one entry per host × path alternative; matchers come in rank order, so every list stays sorted. */
  private file(m: Matcher<R>, lists: EntryList<R>[]): void {
    const regexKeys = m.regexPaths?.map(literalPrefix);
    for (const h of m.c.hosts ?? ANY_HOST) {
      const bucket = this.bucketFor(h, m.rank);
      const port = h?.port ?? 0;
      if (!m.plainPaths && !m.regexPaths) fileAt(bucket, "", { m, port, regex: null }, lists);
      for (const p of m.plainPaths ?? NO_PATHS) fileAt(bucket, p, { m, port, regex: null }, lists);
      m.regexPaths?.forEach((re, i) => {
        fileAt(bucket, regexKeys![i]!, { m, port, regex: re }, lists);
      });
    }
  }

  private bucketFor(h: HostPattern | null, rank: number): Bucket<R> {
    if (!h) return this.anyHost;
    if (h.kind !== "exact") {
      const node = radixNode(
        h.kind === "suffix" ? this.suffixes : this.prefixes,
        h.value,
        h.kind === "suffix",
        rank,
      );
      node.value ??= newNode("");
      return node.value;
    }
    let bucket = this.exact.get(h.value);
    if (!bucket) {
      bucket = newNode("");
      this.exact.set(h.value, bucket);
    }
    return bucket;
  }

  match(req: RouterRequest): RouteMatch<R> | null {
    const q = req.path.indexOf("?");
    const path = normalizePath(q < 0 ? req.path : req.path.slice(0, q));
    this.req = req;
    this.path = path;
    this.methodBit = METHOD_BITS.get(req.method) ?? 0;
    this.bestRank = Number.POSITIVE_INFINITY;
    this.best = null;
    const host = this.splitHost(req);
    this.host = host;
    if (host) {
      const exact = this.exact.get(host);
      if (exact) this.scanBucket(exact);
      this.scanHostTree(this.suffixes, host, true);
      this.scanHostTree(this.prefixes, host, false);
    }
    this.scanBucket(this.anyHost);
    const best = this.best;
    this.best = null;
    return best ? describe(best, path, req) : null;
  }

  /** The lowercased Host name, setting `port` as Kong's `net.dst.port`: Host's port if it names one, else the listener's. */
  private splitHost(req: RouterRequest): string {
    const raw = req.host;
    const colon = raw.indexOf(":");
    this.port = req.port;
    if (colon < 0) return raw.toLowerCase();
    const port = parsePort(raw, colon + 1);
    if (port < 0) return raw.toLowerCase();
    this.port = port || req.port;
    return raw.slice(0, colon).toLowerCase();
  }

  private scanHostTree(root: RadixNode<Bucket<R>>, host: string, backwards: boolean): void {
    let node: RadixNode<Bucket<R>> | undefined = root;
    let pos = 0;
    while (node && node.minRank < this.bestRank) {
      if (node.value) this.scanBucket(node.value);
      pos += node.label.length;
      node = nextNode(node, host, pos, backwards);
    }
  }

  private scanBucket(bucket: Bucket<R>): void {
    const path = this.path;
    let node: Bucket<R> | undefined = bucket;
    let pos = 0;
    while (node && node.minRank < this.bestRank) {
      if (node.value) this.scan(node.value);
      pos += node.label.length;
      node = nextNode(node, path, pos, false);
    }
  }

  private scan(list: EntryList<R>): void {
    this.scanEntries(list.entries);
    if (!list.byHeader) return;
    const headers = this.req.headers;
    for (const [name, byValue] of list.byHeader) {
      const raw = headers.get(name);
      if (raw === null) continue;
      const value = raw.toLowerCase();
      const same = byValue.get(value);
      if (same) this.scanEntries(same);
      // a repeated header arrives joined with ", "; each of its values may select entries
      if (!value.includes(",")) continue;
      for (const v of value.split(",")) this.scanEntries(byValue.get(v.trim()) ?? NO_ENTRIES);
    }
  }

  /** Entries are filed in rank order, so the first acceptable one is the list's best and worse ones are skipped. */
  private scanEntries(entries: Entry<R>[]): void {
    for (const e of entries) {
      if (e.m.rank >= this.bestRank) return;
      if (this.accepts(e)) {
        this.bestRank = e.m.rank;
        this.best = e.m;
        return;
      }
    }
  }

  private accepts(e: Entry<R>): boolean {
    const m = e.m.c;
    const req = this.req;
    if (e.port !== 0 && e.port !== this.port) return false;
    if (m.methodMask !== 0 || m.otherMethods) {
      if ((m.methodMask & this.methodBit) === 0 && !m.otherMethods?.has(req.method)) return false;
    }
    if (e.regex && !e.regex.test(this.path)) return false;
    if (m.headers && !headersAccept(m.headers, req.headers)) return false;
    if (
      m.snis &&
      req.protocol === "https" &&
      !sniAccepts(m.snis, req.sni === undefined ? this.host : req.sni)
    ) {
      return false;
    }
    return true;
  }
}

function headersAccept(conditions: HeaderCondition[], headers: RouterRequest["headers"]): boolean {
  for (const c of conditions) {
    const raw = headers.get(c.name);
    if (raw === null) return false;
    const value = raw.toLowerCase();
    if (valueAccepted(c, value)) continue;
    // Fetch headers join repeated fields with ", "; Kong accepts a route when any one of them matches.
    if (!value.includes(",") || !value.split(",").some((v) => valueAccepted(c, v.trim()))) return false;
  }
  return true;
}

function valueAccepted(c: HeaderCondition, value: string): boolean {
  return c.values.includes(value) || c.regexes.some((re) => re.test(value));
}

function sniAccepts(patterns: HostPattern[], sni: string | null): boolean {
  if (!sni) return false;
  const name = sni.toLowerCase();
  return patterns.some((p) => patternAccepts(p, name));
}

function describe<R extends RouterRoute>(m: Matcher<R>, path: string, req: RouterRequest): RouteMatch<R> {
  let matched: string | null = null;
  let captures = NO_CAPTURES;
  for (const p of m.plainPaths ?? NO_PATHS) {
    if (path.startsWith(p)) {
      matched = p;
      break;
    }
  }
  for (const re of m.regexPaths ?? NO_PATHS) {
    const found = re.exec(path);
    if (found) {
      matched = found[0];
      captures = captureGroups(found);
      break;
    }
  }
  const c = m.c;
  const upstream = computeUpstreamPath(c.servicePath, path, matched, c.stripPath, c.pathHandling);
  return {
    route: c.route,
    path,
    matchedPrefix: matched ?? "",
    strippedPrefix: c.stripPath && matched !== null ? matched : "/",
    captures,
    upstreamPath: escapeUpstreamPath(upstream),
    httpsRequired: c.httpsOnly && req.protocol !== "https",
  };
}

/**
 * Compiles the HTTP routes of one config (stream routes are skipped) into a router. `servicePathOf` gives the
 * path of the route's service, read once here.
 */
export function compileRouter<R extends RouterRoute>(
  routes: readonly R[],
  servicePathOf: (route: R) => string | null | undefined,
  options: CompileOptions = {},
): Router<R> {
  const ranked: Ranked<R>[] = [];
  for (const route of routes) {
    if (STREAM_PROTOCOLS.has(route.protocols?.[0] ?? "")) continue;
    const hasField =
      nonEmpty(route.methods) ||
      nonEmpty(route.hosts) ||
      nonEmpty(route.paths) ||
      nonEmpty(route.snis) ||
      Object.keys(route.headers ?? {}).length > 0;
    if (!hasField) {
      log.warn(`route ${route.id} sets none of methods, hosts, headers, paths, snis; it will never match`);
      continue;
    }
    const badHeader = Object.keys(route.headers ?? {}).find((name) => !HEADER_NAME.test(name));
    if (badHeader !== undefined) {
      log.warn(`route ${route.id}: '${badHeader}' is not a valid header name; the route will never match`);
      continue;
    }
    ranked.push(...buildMatchers(route, servicePathOf(route) ?? null, options));
  }
  ranked.sort(byPriority);
  // the priority keys are only needed to sort: a smaller retained heap keeps the proxy's allocations cheap
  return new IndexedRouter(
    ranked.map(({ m }, i) => {
      m.rank = i;
      return m;
    }),
  );
}
