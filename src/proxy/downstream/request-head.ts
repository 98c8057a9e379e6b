/** HTTP/1.1 request-head parser (RFC 9112) for the proxy's own server: refuses anything that could smuggle past a hop. */
import {
  COLON,
  contentEnd,
  HT,
  latin1,
  lineEnd,
  ProtocolError,
  parseContentLength,
  SP,
  TCHAR,
  tokens,
} from "../http1/wire";
import type { DownstreamRequest } from "./types";

/** A client error the server answers itself, before any routing: 400 for malformed heads, 505 for other versions. */
export class RequestError extends ProtocolError {
  constructor(
    readonly status: 400 | 414 | 431 | 501 | 505,
    message: string,
  ) {
    super(message);
  }
}

/** A request's headers as flat [lowercase name, value, …] pairs, read the way fetch's `Headers` reads. */
export class HeaderList {
  constructor(readonly flat: string[]) {}

  /** All values of `name` (any case) joined with ", ", or null. */
  get(name: string): string | null {
    const flat = this.flat;
    name = name.toLowerCase();
    let found: string | null = null;
    for (let i = 0; i < flat.length; i += 2) {
      if (flat[i] !== name) continue;
      found = found === null ? (flat[i + 1] as string) : `${found}, ${flat[i + 1]}`;
    }
    return found;
  }

  has(name: string): boolean {
    return this.get(name) !== null;
  }

  forEach(fn: (value: string, name: string) => void): void {
    const flat = this.flat;
    for (let i = 0; i < flat.length; i += 2) fn(flat[i + 1] as string, flat[i] as string);
  }

  *[Symbol.iterator](): IterableIterator<[string, string]> {
    const flat = this.flat;
    for (let i = 0; i < flat.length; i += 2) yield [flat[i] as string, flat[i + 1] as string];
  }
}

/** What a request inherits from its connection. */
export type ConnectionFacts = Pick<DownstreamRequest, "clientIp" | "signal" | "sni" | "proxyAddress">;

/** A parsed request: what the handler reads (`DownstreamRequest`) plus the framing the server keeps for itself. */
export class RequestHead implements DownstreamRequest {
  method = "";
  target = "";
  path = "";
  query = "";
  minorVersion = 1;
  httpVersion: "1.0" | "1.1" = "1.1";
  readonly headers = new HeaderList([]);
  host = "";
  contentLength = -1;
  chunked = false;
  /** The connection stays open after this exchange. */
  keepAlive = true;
  upgrade: string | null = null;
  connection: string | null = null;
  /** Set by the connection once it knows how the body arrives. */
  body: Uint8Array | ReadableStream<Uint8Array> | null = null;

  readonly clientIp: string;
  readonly signal: AbortSignal;
  readonly sni: string | null;
  readonly proxyAddress: string | null;

  constructor(conn: ConnectionFacts) {
    this.clientIp = conn.clientIp;
    this.signal = conn.signal;
    this.sni = conn.sni;
    this.proxyAddress = conn.proxyAddress;
  }
}

const SPECIAL_LENGTHS = new Set([4, 7, 10, 14, 17]);

/** Parses the head in `buf[0, end)` (end as returned by findHeadEnd); throws RequestError for anything refused. */
export function parseRequestHead(buf: Buffer, end: number, conn: ConnectionFacts): RequestHead {
  const text = latin1(buf, end);
  const head = new RequestHead(conn);
  let i = parseRequestLine(buf, text, end, head);
  const absoluteForm = head.host !== "";
  const flat = head.headers.flat;
  let transferEncoding: string | null = null;
  let hosts = 0;
  let upgrade: string | null = null;
  for (;;) {
    const lf = lineEnd(buf, i, end, "client");
    const stop = contentEnd(buf, lf, i);
    if (stop === i) break;
    if (buf[i] === SP || buf[i] === HT) throw bad("client sent a folded header line (obs-fold)");
    let colon = i;
    while (colon < stop && buf[colon] !== COLON) {
      if (TCHAR[buf[colon] as number] === 0) throw bad("client sent an invalid header name");
      colon++;
    }
    if (colon === i || colon === stop) throw bad("client sent a header line without a name or colon");
    let vs = colon + 1;
    while (vs < stop && (buf[vs] === SP || buf[vs] === HT)) vs++;
    let ve = stop;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    const name = text.slice(i, colon).toLowerCase();
    const value = text.slice(vs, ve);
    flat.push(name, value);
    i = lf + 1;
    if (!SPECIAL_LENGTHS.has(name.length)) continue;
    if (name === "host") {
      hosts++;
      // An absolute-form target's authority outranks Host (RFC 9112 §3.2.2).
      if (!absoluteForm) head.host = value;
    } else if (name === "content-length") {
      try {
        head.contentLength = parseContentLength(value, head.contentLength, "client");
      } catch (e) {
        throw bad((e as Error).message);
      }
    } else if (name === "transfer-encoding") {
      transferEncoding = transferEncoding === null ? value : `${transferEncoding},${value}`;
    } else if (name === "connection") {
      head.connection = head.connection === null ? value : `${head.connection},${value}`;
    } else if (name === "upgrade") upgrade = value;
  }
  if (hosts > 1) throw bad("client sent more than one Host header");
  if (hosts === 0 && head.minorVersion === 1 && head.host === "") throw bad("client sent no Host header");
  applyFraming(head, transferEncoding, upgrade);
  return head;
}

const bad = (message: string) => new RequestError(400, message);

function parseRequestLine(buf: Buffer, text: string, end: number, head: RequestHead): number {
  const lf = lineEnd(buf, 0, end, "client");
  const stop = contentEnd(buf, lf, 0);
  let sp = 0;
  while (sp < stop && TCHAR[buf[sp] as number] === 1) sp++;
  if (sp === 0 || buf[sp] !== SP) throw bad("client sent an invalid request method");
  const targetStart = sp + 1;
  let targetEnd = targetStart;
  while (targetEnd < stop && buf[targetEnd] !== SP) {
    if ((buf[targetEnd] as number) <= SP || buf[targetEnd] === 127)
      throw bad("client sent an invalid request target");
    targetEnd++;
  }
  if (targetEnd === targetStart || stop - targetEnd !== 9) throw bad("client sent an invalid request line");
  head.minorVersion = parseVersion(buf, targetEnd + 1);
  if (head.minorVersion === 0) head.httpVersion = "1.0";
  head.method = text.slice(0, sp);
  setTarget(head, text.slice(targetStart, targetEnd));
  return lf + 1;
}

/** "HTTP/1.x" → x; other well-formed versions are 505, anything else 400. */
function parseVersion(buf: Buffer, at: number): number {
  const prefix = buf[at] === 72 && buf[at + 1] === 84 && buf[at + 2] === 84 && buf[at + 3] === 80;
  const digits = isDigit(buf[at + 5]) && buf[at + 6] === 46 && isDigit(buf[at + 7]);
  if (!prefix || buf[at + 4] !== 47 || !digits) throw bad("client sent an invalid HTTP version");
  if (buf[at + 5] !== 49 || (buf[at + 7] !== 48 && buf[at + 7] !== 49))
    throw new RequestError(505, "client sent an HTTP version other than 1.0 and 1.1");
  return (buf[at + 7] as number) - 48;
}

const isDigit = (b: number | undefined) => b !== undefined && b >= 48 && b <= 57;

/** Origin-form as is; absolute-form gives its authority as the host (RFC 9112 §3.2.2); `*` only for OPTIONS. */
function setTarget(head: RequestHead, target: string): void {
  let origin = target;
  if (target.charCodeAt(0) !== 47) {
    if (target === "*" && head.method === "OPTIONS") origin = "/";
    else {
      const scheme = target.startsWith("http://") ? 7 : target.startsWith("https://") ? 8 : -1;
      if (scheme === -1) throw bad("client sent an invalid request target");
      const slash = target.indexOf("/", scheme);
      head.host = target.slice(scheme, slash === -1 ? undefined : slash);
      origin = slash === -1 ? "/" : target.slice(slash);
    }
  }
  head.target = origin;
  const q = origin.indexOf("?");
  head.path = q === -1 ? origin : origin.slice(0, q);
  head.query = q === -1 ? "" : origin.slice(q + 1);
}

function applyFraming(head: RequestHead, transferEncoding: string | null, upgrade: string | null): void {
  const list = head.connection === null ? null : tokens(head.connection);
  head.keepAlive = head.minorVersion === 1 ? !list?.includes("close") : !!list?.includes("keep-alive");
  if (upgrade !== null && list?.includes("upgrade")) head.upgrade = upgrade.toLowerCase();
  if (transferEncoding === null) return;
  if (head.contentLength !== -1) throw bad("client sent both Content-Length and Transfer-Encoding");
  if (head.minorVersion === 0) throw bad("client sent Transfer-Encoding in an HTTP/1.0 request");
  const codings = tokens(transferEncoding);
  // nginx (so Kong) decodes only a plain `chunked` and answers any other coding with 501.
  if (codings.length !== 1 || codings[0] !== "chunked")
    throw new RequestError(501, "client sent a Transfer-Encoding other than chunked");
  head.chunked = true;
}
