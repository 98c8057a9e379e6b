/** HTTP/1.1 wire primitives shared by the upstream client and the downstream server: head scanning, field rules, chunked decoding. */

/** nginx's header buffers refuse heads past their size; gw refuses past this many bytes, from either side. */
export const MAX_HEAD_BYTES = 64 * 1024;

export class ProtocolError extends Error {}

/** Who sent the bytes, for error messages: "upstream" or "client". */
export type Peer = "upstream" | "client";

export const CR = 13;
export const LF = 10;
export const SP = 32;
export const HT = 9;
export const COLON = 58;

/** tchar (RFC 9110 §5.6.2): the bytes a field name may hold. */
export const TCHAR = new Uint8Array(256);
for (const c of "!#$%&'*+-.^_`|~0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ")
  TCHAR[c.charCodeAt(0)] = 1;

type Latin1Slicer = (this: Buffer, start: number, end: number) => string;
/** Buffer's internal latin1Slice is ~5× faster than toString("latin1") on Bun 1.4; fall back where it is missing. */
const LATIN1_SLICE = (Buffer.prototype as unknown as { latin1Slice?: Latin1Slicer }).latin1Slice;
export const latin1 = (buf: Buffer, end: number): string =>
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
export function lineEnd(buf: Uint8Array, i: number, end: number, peer: Peer): number {
  for (; i < end; i++) {
    const b = buf[i] as number;
    if (b >= SP || b === HT) continue;
    if (b === LF) return i;
    if (b === CR && buf[i + 1] === LF) continue;
    throw new ProtocolError(`${peer} sent a control character in its message head`);
  }
  throw new ProtocolError(`${peer} message head ended mid-line`);
}

/** Line content end: strips the CR of a CRLF. */
export const contentEnd = (buf: Uint8Array, lf: number, start: number) =>
  lf > start && buf[lf - 1] === CR ? lf - 1 : lf;

export function parseContentLength(value: string, previous: number, peer: Peer): number {
  if (value.length === 0 || value.length > 15)
    throw new ProtocolError(`${peer} sent an invalid Content-Length`);
  let n = 0;
  for (let i = 0; i < value.length; i++) {
    const d = value.charCodeAt(i) - 48;
    if (d < 0 || d > 9) throw new ProtocolError(`${peer} sent an invalid Content-Length`);
    n = n * 10 + d;
  }
  if (previous !== -1 && previous !== n)
    throw new ProtocolError(`${peer} sent conflicting Content-Length headers`);
  return n;
}

/** Comma-separated tokens, lowercased; a single plain token (the usual `keep-alive`) skips the split. */
export function tokens(value: string): string[] {
  if (value.indexOf(",") === -1 && value.indexOf(" ") === -1) return [value.toLowerCase()];
  return value
    .toLowerCase()
    .split(",")
    .map((t) => t.trim())
    .filter(Boolean);
}

/** Chunks up to this size are framed into one buffer (one syscall); larger ones are sent as size line, data, CRLF. */
const FRAME_COPY_LIMIT = 64 * 1024;
const CRLF_BYTES = Buffer.from("\r\n");

/** One chunk of a chunked body as the buffers to write, in order. */
export function chunkFrames(chunk: Uint8Array): Uint8Array[] {
  const size = `${chunk.length.toString(16)}\r\n`;
  if (chunk.length > FRAME_COPY_LIMIT) return [Buffer.from(size, "latin1"), chunk, CRLF_BYTES];
  const frame = Buffer.allocUnsafe(size.length + chunk.length + 2);
  frame.write(size, 0, "latin1");
  frame.set(chunk, size.length);
  frame[frame.length - 2] = CR;
  frame[frame.length - 1] = LF;
  return [frame];
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
  constructor(private readonly peer: Peer) {}

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
        throw new ProtocolError(`${this.peer} sent an oversized chunk size`);
      this.remaining = this.remaining * 16 + hex;
      return i + 1;
    }
    if (this.digits === 0) throw new ProtocolError(`${this.peer} sent an invalid chunk size`);
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
    throw new ProtocolError(`${this.peer} sent an invalid chunk size`);
  }

  /** Skips a chunk-extension or trailer line up to its LF, bounded so a peer cannot make us scan forever. */
  private skipLine(buf: Uint8Array, i: number, end: number, next: ChunkState): number {
    const lf = buf.indexOf(LF, i);
    const stop = lf === -1 || lf >= end ? end : lf;
    this.lineBytes += stop - i;
    if (this.lineBytes > MAX_HEAD_BYTES)
      throw new ProtocolError(`${this.peer} sent too long a chunk extension or trailer`);
    if (stop === end) return end;
    this.state = next;
    this.lineBytes = 0;
    return stop;
  }

  private expect(actual: number | undefined, wanted: number): void {
    if (actual !== wanted) throw new ProtocolError(`${this.peer} sent malformed chunked framing`);
  }
}
