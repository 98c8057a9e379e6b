/** HTTP/1.1 response-head parser (RFC 9112) that scans bytes and refuses framing that could smuggle. */
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

/** What the head says about the message; reused per connection so parsing allocates only the strings it returns. */
export class ResponseHead {
  status = 0;
  statusText = "";
  minorVersion = 1;
  headers: string[] = [];
  /** -1 when the head carries no Content-Length. */
  contentLength = -1;
  chunked = false;
  /** Transfer-Encoding without a final `chunked`: the body runs until the upstream closes. */
  untilClose = false;
  /** `Connection: close`, or HTTP/1.0 without keep-alive. */
  close = false;
  upgrade = false;

  reset(): void {
    this.status = 0;
    this.statusText = "";
    this.minorVersion = 1;
    this.headers = [];
    this.contentLength = -1;
    this.chunked = false;
    this.untilClose = false;
    this.close = false;
    this.upgrade = false;
  }
}

/** Header names the client handles itself, by what it does with them. */
const SPECIAL = {
  "content-length": 1,
  "transfer-encoding": 2,
  connection: 3,
  "keep-alive": 4,
  "proxy-connection": 4,
  te: 4,
  trailer: 4,
  upgrade: 5,
} as const;
type SpecialKind = (typeof SPECIAL)[keyof typeof SPECIAL];
const SPECIAL_NAMES = Object.entries(SPECIAL).map(([name, kind]) => ({
  bytes: Uint8Array.from(name, (c) => c.charCodeAt(0)),
  kind,
}));
/** Index by length so an ordinary header costs one array lookup before it is known not to be special. */
const SPECIAL_BY_LENGTH: (typeof SPECIAL_NAMES)[] = [];
for (const s of SPECIAL_NAMES) {
  const list = SPECIAL_BY_LENGTH[s.bytes.length] ?? [];
  list.push(s);
  SPECIAL_BY_LENGTH[s.bytes.length] = list;
}

function specialKind(buf: Uint8Array, start: number, end: number): SpecialKind | 0 {
  const candidates = SPECIAL_BY_LENGTH[end - start];
  if (candidates === undefined) return 0;
  outer: for (const c of candidates) {
    const bytes = c.bytes;
    for (let i = 0; i < bytes.length; i++)
      if (((buf[start + i] as number) | 0x20) !== bytes[i]) continue outer;
    return c.kind;
  }
  return 0;
}

function parseStatusLine(buf: Uint8Array, text: string, end: number, head: ResponseHead): number {
  const lf = lineEnd(buf, 0, end, "upstream");
  const stop = contentEnd(buf, lf, 0);
  // "HTTP/1.x SSS"
  if (
    stop < 12 ||
    buf[0] !== 72 ||
    buf[1] !== 84 ||
    buf[2] !== 84 ||
    buf[3] !== 80 ||
    buf[4] !== 47 ||
    buf[5] !== 49 ||
    buf[6] !== 46 ||
    (buf[7] !== 48 && buf[7] !== 49) ||
    buf[8] !== SP ||
    (stop > 12 && buf[12] !== SP)
  ) {
    throw new ProtocolError("upstream sent an invalid status line");
  }
  let status = 0;
  for (let i = 9; i < 12; i++) {
    const d = (buf[i] as number) - 48;
    if (d < 0 || d > 9) throw new ProtocolError("upstream sent an invalid status code");
    status = status * 10 + d;
  }
  if (status < 100) throw new ProtocolError("upstream sent an invalid status code");
  head.status = status;
  head.minorVersion = buf[7] - 48;
  head.statusText = stop > 13 ? text.slice(13, stop) : "";
  return lf + 1;
}

/**
 * Parses the head in `buf[0, end)` (end as returned by findHeadEnd) into `head`.
 * Hop-by-hop and framing headers are consumed, the rest returned as flat name/value pairs.
 */
export function parseResponseHead(buf: Uint8Array, end: number, head: ResponseHead): void {
  // One latin1 decode of the head: byte indexes equal string indexes, so fields are cheap substrings.
  const text = latin1(buf as Buffer, end);
  let i = parseStatusLine(buf, text, end, head);
  const headers = head.headers;
  let transferEncoding: string | null = null;
  let connection: string | null = null;
  for (;;) {
    const lf = lineEnd(buf, i, end, "upstream");
    const stop = contentEnd(buf, lf, i);
    if (stop === i) break;
    if (buf[i] === SP || buf[i] === HT)
      throw new ProtocolError("upstream sent a folded header line (obs-fold)");
    let colon = i;
    while (colon < stop && buf[colon] !== COLON) {
      if (TCHAR[buf[colon] as number] === 0) throw new ProtocolError("upstream sent an invalid header name");
      colon++;
    }
    if (colon === i || colon === stop)
      throw new ProtocolError("upstream sent a header line without a name or colon");
    let vs = colon + 1;
    while (vs < stop && (buf[vs] === SP || buf[vs] === HT)) vs++;
    let ve = stop;
    while (ve > vs && (buf[ve - 1] === SP || buf[ve - 1] === HT)) ve--;
    const kind = specialKind(buf, i, colon);
    if (kind === 0) {
      headers.push(text.slice(i, colon), text.slice(vs, ve));
    } else if (kind === 1) {
      head.contentLength = parseContentLength(text.slice(vs, ve), head.contentLength, "upstream");
    } else if (kind === 2) {
      transferEncoding =
        transferEncoding === null ? text.slice(vs, ve) : `${transferEncoding},${text.slice(vs, ve)}`;
    } else if (kind === 3) {
      connection = connection === null ? text.slice(vs, ve) : `${connection},${text.slice(vs, ve)}`;
    } else if (kind === 5) {
      // Upgrade only means something on a 101; the tunnel keeps it for the client.
      if (head.status === 101) headers.push(text.slice(i, colon), text.slice(vs, ve));
    }
    i = lf + 1;
  }
  applyFraming(head, transferEncoding, connection);
}

function applyFraming(head: ResponseHead, transferEncoding: string | null, connection: string | null): void {
  if (connection !== null) applyConnection(head, tokens(connection));
  else head.close = head.minorVersion === 0;
  if (transferEncoding === null) return;
  if (head.contentLength !== -1)
    throw new ProtocolError("upstream sent both Content-Length and Transfer-Encoding");
  if (head.minorVersion === 0)
    throw new ProtocolError("upstream sent Transfer-Encoding in an HTTP/1.0 response");
  const codings = tokens(transferEncoding);
  const chunkedAt = codings.indexOf("chunked");
  if (chunkedAt !== -1 && chunkedAt !== codings.length - 1) {
    throw new ProtocolError("upstream sent a Transfer-Encoding with chunked before another coding");
  }
  head.chunked = chunkedAt !== -1;
  head.untilClose = !head.chunked;
  if (head.untilClose) {
    // The body's end is the connection's end; the other codings pass through to the client.
    head.headers.push("Transfer-Encoding", codings.join(", "));
  }
}

function applyConnection(head: ResponseHead, list: string[]): void {
  let named: Set<string> | null = null;
  for (const t of list) {
    if (t === "close") head.close = true;
    else if (t === "upgrade") head.upgrade = true;
    else if (t !== "keep-alive") {
      named ??= new Set();
      named.add(t);
    }
  }
  if (head.minorVersion === 0 && !list.includes("keep-alive")) head.close = true;
  if (named === null) return;
  // Headers named in Connection are hop-by-hop for this message (RFC 9110 §7.6.1).
  const kept: string[] = [];
  for (let i = 0; i < head.headers.length; i += 2) {
    const name = head.headers[i] as string;
    if (!named.has(name.toLowerCase())) kept.push(name, head.headers[i + 1] as string);
  }
  head.headers = kept;
}
