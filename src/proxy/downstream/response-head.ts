/** Writes a reply's status line and header block with the framing the server chose (RFC 9112 §6). */
import { STATUS_CODES } from "node:http";
import type { Reply } from "./types";

/**
 * How the body is delimited: `length` (Content-Length), `chunked`, `close` (an HTTP/1.0 client and a body of unknown
 * length: the connection's end ends it) or `none` (HEAD, 1xx, 204, 304: no body follows the head).
 */
export type Framing = "length" | "chunked" | "close" | "none";

export function framingOf(
  method: string,
  status: number,
  hasBody: boolean,
  length: number,
  minorVersion: number,
): Framing {
  if (method === "HEAD" || status < 200 || status === 204 || status === 304) return "none";
  if (!hasBody || length >= 0) return "length";
  return minorVersion === 1 ? "chunked" : "close";
}

/** Framing headers are the server's alone: a handler's or plugin's copy would contradict the bytes that follow. */
const OWN_HEADERS = new Set(["content-length", "transfer-encoding", "keep-alive"]);
const OWN_LENGTHS = new Set([...OWN_HEADERS].map((n) => n.length));

let dateSecond = 0;
let dateText = "";

/** The IMF-fixdate `Date` value, formatted at most once a second. */
function httpDate(): string {
  const now = Date.now();
  const second = Math.floor(now / 1000);
  if (second !== dateSecond) {
    dateSecond = second;
    dateText = new Date(now).toUTCString();
  }
  return dateText;
}

export function encodeHead(
  reply: Reply,
  framing: Framing,
  length: number,
  keepAlive: boolean,
  minorVersion: number,
): string {
  const status = reply.status;
  let head = `HTTP/1.1 ${status} ${reply.statusText || STATUS_CODES[status] || ""}\r\n`;
  const h = reply.headers;
  let hasDate = false;
  // A reply may name its own Connection tokens (426's `Upgrade`); `close` is added to them when the connection ends.
  let hasConnection = false;
  for (let i = 0; i < h.length; i += 2) {
    const name = h[i] as string;
    if (name.length === 4 && name.toLowerCase() === "date") hasDate = true;
    else if (name.length === 10 && name.toLowerCase() === "connection") hasConnection = true;
    else if (OWN_LENGTHS.has(name.length) && OWN_HEADERS.has(name.toLowerCase())) continue;
    head += `${name}: ${h[i + 1]}\r\n`;
  }
  if (!hasDate) head += `Date: ${httpDate()}\r\n`;
  if (framing === "length") head += `Content-Length: ${length}\r\n`;
  else if (framing === "chunked") head += "Transfer-Encoding: chunked\r\n";
  // A HEAD answer announces the length the body would have had.
  else if (framing === "none" && length >= 0 && status >= 200 && status !== 204)
    head += `Content-Length: ${length}\r\n`;
  if (status === 101) {
    if (!hasConnection) head += "Connection: upgrade\r\n";
  } else if (!keepAlive) head += "Connection: close\r\n";
  else if (minorVersion === 0 && !hasConnection) head += "Connection: keep-alive\r\n";
  return `${head}\r\n`;
}
