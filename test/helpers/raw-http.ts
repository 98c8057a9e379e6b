/** Raw HTTP/1.1 on a socket for e2e tests: send exact bytes, read until the server closes, parse without normalising. */
import { connect } from "node:net";

export interface RawAnswer {
  /** Everything received, as latin1. */
  text: string;
  /** The server closed the connection (rather than the wait running out). */
  closed: boolean;
}

/** Sends `payload` to `url`'s port and collects what comes back until the server closes or `waitMs` pass. */
export function rawExchange(url: string, payload: string | Uint8Array, waitMs = 1500): Promise<RawAnswer> {
  const { port } = new URL(url);
  return new Promise((resolve) => {
    let text = "";
    const socket = connect(Number(port), "127.0.0.1", () => socket.write(payload));
    socket.on("data", (d) => {
      text += d.toString("latin1");
    });
    const timer = setTimeout(() => {
      socket.destroy();
      resolve({ text, closed: false });
    }, waitMs);
    const done = () => {
      clearTimeout(timer);
      resolve({ text, closed: true });
    };
    socket.on("close", done);
    socket.on("error", done);
  });
}

export interface ParsedResponse {
  status: number;
  /** Lowercased name → values in order. */
  headers: Map<string, string[]>;
  body: Buffer;
  /** The body's framing (Content-Length, or the last chunk) was satisfied. */
  complete: boolean;
}

/** Parses the first response in `text`; a body without framing runs to the end of `text`. */
export function parseResponse(text: string): ParsedResponse | null {
  const end = text.indexOf("\r\n\r\n");
  if (end === -1) return null;
  const [statusLine = "", ...lines] = text.slice(0, end).split("\r\n");
  const status = Number(statusLine.split(" ")[1]);
  const headers = new Map<string, string[]>();
  for (const line of lines) {
    const colon = line.indexOf(":");
    const name = line.slice(0, colon).toLowerCase();
    headers.set(name, [...(headers.get(name) ?? []), line.slice(colon + 1).trim()]);
  }
  const rest = Buffer.from(text.slice(end + 4), "latin1");
  if (headers.get("transfer-encoding")?.[0]?.toLowerCase() === "chunked") {
    const parts: Buffer[] = [];
    let at = 0;
    for (;;) {
      const lf = rest.indexOf("\r\n", at);
      if (lf === -1) return { status, headers, body: Buffer.concat(parts), complete: false };
      const size = Number.parseInt(rest.toString("latin1", at, lf), 16);
      if (size === 0) return { status, headers, body: Buffer.concat(parts), complete: rest.length >= lf + 4 };
      parts.push(rest.subarray(lf + 2, Math.min(rest.length, lf + 2 + size)));
      if (rest.length < lf + 2 + size + 2)
        return { status, headers, body: Buffer.concat(parts), complete: false };
      at = lf + 2 + size + 2;
    }
  }
  const length = headers.get("content-length")?.[0];
  if (length === undefined) return { status, headers, body: rest, complete: true };
  const n = Number(length);
  return { status, headers, body: rest.subarray(0, n), complete: rest.length >= n };
}
