/** HTTP/1.1 response-head parser and chunked decoder (RFC 9112) that scan bytes and refuse framing that could smuggle. */

/** nginx's upstream header buffer refuses heads past its size; gw refuses past this many bytes. */
export const MAX_HEAD_BYTES = 64 * 1024;

export class ProtocolError extends Error {}

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

const CR = 13;
const LF = 10;
const SP = 32;
const HT = 9;
const COLON = 58;

/** tchar (RFC 9110 §5.6.2): the bytes a field name may hold. */
const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

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

type Latin1Slicer = (this: Buffer, start: number, end: number) => string;
/** Buffer's internal latin1Slice is ~5× faster than toString("latin1") on Bun 1.4; fall back where it is missing. */
const LATIN1_SLICE = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slicer }).latin1Slice;
const latin1 = (buf: Buffer, end: number): string =>
  LATIN1_SLICE ? LATIN1_SLICE.call(buf, 0, end) : buf.toString("latin1", 0, end);

/** Index just past the blank line ending the head, or -1 if it has not fully arrived. Bare LF line ends are accepted. */
export function findHeadEnd(buf: Uint8Array, from: number, end: number): number {
  let i = buf.indexOf(LF, from);
  while (i !== -1 && i < end) {
    const next = i + 1;
    if (next < end && buf[next] === LF) return next + 1;
    if (next + 1 < end && buf[next] === CR && buf[next + 1] === LF) return next + 2;
    if (next + 1 >= end) return -1;
    i = buf.indexOf(LF, next);
  }
  return -1;
}

/** Line end (index of LF) from `i`, refusing control bytes other than HT and a CR right before LF. */
function lineEnd(buf: Uint8Array, i: number, end: number): number {
  for (; i < end; i++) {
    const b = buf[i] as number;
    if (b >= SP || b === HT) continue;
    if (b === LF) return i;
    if (b === CR && buf[i + 1] === LF) continue;
    throw new ProtocolError("upstream sent a control character in its response head");
  }
  throw new ProtocolError("upstream response head ended mid-line");
}

/** Line content end: strips the CR of a CRLF. */
const contentEnd = (buf: Uint8Array, lf: number, start: number) =>
  lf > start && buf[lf - 1] === CR ? lf - 1 : lf;

function parseStatusLine(buf: Uint8Array, text: string, end: number, head: ResponseHead): number {
  const lf = lineEnd(buf, 0, end);
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

function parseContentLength(value: string, previous: number): number {
  if (value.length === 0 || value.length > 15)
    throw new ProtocolError("upstream sent an invalid Content-Length");
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new ProtocolError("upstream sent an invalid Content-Length");
    n = n * 10 + d;
  }
  if (previous !== -1 && previous !== n)
    throw new ProtocolError("upstream sent conflicting Content-Length headers");
  return n;
}

/** Comma-separated tokens, lowercased; a single plain token (the usual `keep-alive`) skips the split. */
function tokens(value: string): string[] {
  if (value.indexOf(",") === -1 && value.indexOf(" ") === -1) return [value.toLowerCase()];
  return value
    .toLowerCase()
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
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
    const lf = lineEnd(buf, i, end);
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
      head.contentLength = parseContentLength(text.slice(vs, ve), head.contentLength);
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

/** Receives decoded body bytes; slices point into the caller's buffer. */
export interface BodySink {
  onBodyBytes(bytes: Uint8Array): void;
}

enum ChunkState {
  Size,
  Extension,
  SizeLf,
  Data,
  DataCr,
  DataLf,
  TrailerStart,
  Trailer,
  TrailerLf,
  Done,
}

const MAX_CHUNK_SIZE_DIGITS = 13;

/** Incremental chunked decoder: feeds any split of the wire bytes, hands out data slices, discards trailers. */
export class ChunkedDecoder {
  private state = ChunkState.Size;
  private remaining = 0;
  private digits = 0;
  private lineBytes = 0;

  reset(): void {
    this.state = ChunkState.Size;
    this.remaining = 0;
    this.digits = 0;
    this.lineBytes = 0;
  }

  get done(): boolean {
    return this.state === ChunkState.Done;
  }

  /** Decodes buf[from, end); returns the index just past the message when it ended, else -1. */
  feed(buf: Uint8Array, from: number, end: number, sink: BodySink): number {
    let i = from;
    while (i < end) {
      switch (this.state) {
        case ChunkState.Data: {
          const take = Math.min(this.remaining, end - i);
          sink.onBodyBytes(buf.subarray(i, i + take));
          i += take;
          this.remaining -= take;
          if (this.remaining === 0) this.state = ChunkState.DataCr;
          break;
        }
        case ChunkState.Size:
          i = this.size(buf, i);
          break;
        case ChunkState.Extension:
          i = this.skipLine(buf, i, end, ChunkState.SizeLf);
          break;
        case ChunkState.SizeLf:
          this.expect(buf[i++], LF);
          this.lineBytes = 0;
          this.state = this.remaining > 0 ? ChunkState.Data : ChunkState.TrailerStart;
          break;
        case ChunkState.DataCr:
          this.state = ChunkState.DataLf;
          if (buf[i] === LF) break;
          this.expect(buf[i++], CR);
          break;
        case ChunkState.DataLf:
          this.expect(buf[i++], LF);
          this.state = ChunkState.Size;
          this.digits = 0;
          break;
        case ChunkState.TrailerStart: {
          const b = buf[i++];
          if (b === LF) return this.finish(i);
          if (b === CR) this.state = ChunkState.TrailerLf;
          else {
            this.state = ChunkState.Trailer;
            i--;
          }
          break;
        }
        case ChunkState.TrailerLf:
          this.expect(buf[i++], LF);
          return this.finish(i);
        case ChunkState.Trailer:
          i = this.skipLine(buf, i, end, ChunkState.TrailerStart);
          if ((this.state as ChunkState) === ChunkState.TrailerStart) i++;
          break;
        case ChunkState.Done:
          return i;
      }
    }
    return -1;
  }

  private finish(i: number): number {
    this.state = ChunkState.Done;
    return i;
  }

  private size(buf: Uint8Array, i: number): number {
    const b = buf[i] as number;
    const hex = b >= 48 && b <= 57 ? b - 48 : (b | 0x20) >= 97 && (b | 0x20) <= 102 ? (b | 0x20) - 87 : -1;
    if (hex >= 0) {
      if (++this.digits > MAX_CHUNK_SIZE_DIGITS)
        throw new ProtocolError("upstream sent an oversized chunk size");
      this.remaining = this.remaining * 16 + hex;
      return i + 1;
    }
    if (this.digits === 0) throw new ProtocolError("upstream sent an invalid chunk size");
    if (b === CR) {
      this.state = ChunkState.SizeLf;
      return i + 1;
    }
    if (b === LF) {
      this.state = ChunkState.SizeLf;
      return i;
    }
    if (b === SP || b === HT || b === 59 /* ; */) {
      this.state = ChunkState.Extension;
      return i;
    }
    throw new ProtocolError("upstream sent an invalid chunk size");
  }

  /** Skips a chunk-extension or trailer line up to its LF, bounded so a peer cannot make us scan forever. */
  private skipLine(buf: Uint8Array, i: number, end: number, next: ChunkState): number {
    const lf = buf.indexOf(LF, i);
    const stop = lf === -1 || lf >= end ? end : lf;
    this.lineBytes += stop - i;
    if (this.lineBytes > MAX_HEAD_BYTES)
      throw new ProtocolError("upstream sent too long a chunk extension or trailer");
    if (stop === end) return end;
    this.state = next;
    this.lineBytes = 0;
    return stop;
  }

  private expect(actual: number | undefined, wanted: number): void {
    if (actual !== wanted) throw new ProtocolError("upstream sent malformed chunked framing");
  }
}
