/** Responses gw generates itself (no route, upstream errors, plugin rejections), in Kong's templates and headers. */
import { SERVER_TOKEN } from "../version";
import type { Reply } from "./downstream/types";

/** Kong's default messages for statuses it produces. */
export const KONG_MESSAGES = {
  noRoute: "no Route matched with those values",
  useHttps: "Please use HTTPS protocol",
  badGateway: "An invalid response was received from the upstream server",
  unavailable: "The upstream server is currently unavailable",
  timeout: "The upstream server is timing out",
  noPeer: "failure to get a peer from the ring-balancer",
  internal: "An unexpected error occurred",
} as const;

/** Latency header values for the usual range, made once: the headers are on every response. */
const MS_TEXT = Array.from({ length: 1000 }, (_, i) => String(i));

/** Whole milliseconds as Kong writes them in `X-Kong-*-Latency`. */
export function msText(ms: number): string {
  const n = Math.round(ms);
  return MS_TEXT[n] ?? String(n);
}

const escapeXml = (s: string) =>
  s.replace(
    /[<>&'"]/g,
    (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", "'": "&apos;", '"': "&quot;" })[c]!,
  );

/** Picks Kong's error template from the Accept header: JSON unless the client prefers HTML, XML or plain text. */
function render(accept: string | null, message: string, requestId: string): [string, string] {
  const a = accept ?? "";
  if (a.includes("text/html")) {
    return [
      "text/html; charset=utf-8",
      `<!doctype html>\n<html>\n  <head>\n    <meta charset="utf-8">\n    <title>Error</title>\n  </head>\n  <body>\n    <h1>Error</h1>\n    <p>${escapeXml(message)}.</p>\n    <p>request_id: ${requestId}</p>\n  </body>\n</html>\n`,
    ];
  }
  if (a.includes("application/xml")) {
    return [
      "application/xml; charset=utf-8",
      `<?xml version="1.0" encoding="UTF-8"?>\n<error>\n  <message>${escapeXml(message)}</message>\n  <requestid>${requestId}</requestid>\n</error>\n`,
    ];
  }
  if (a.includes("text/plain")) {
    return ["text/plain; charset=utf-8", `${message}\nrequest_id: ${requestId}\n`];
  }
  return [
    "application/json; charset=utf-8",
    `{\n  "message":${JSON.stringify(message)},\n  "request_id":"${requestId}"\n}`,
  ];
}

export interface KongErrorOptions {
  accept: string | null;
  requestId: string;
  latencyMs: number;
  /** Flat [name, value, …] added to the reply. */
  headers?: string[];
  /** Kong's `headers` setting can turn off `server_tokens`. */
  serverHeader?: boolean;
}

/** A response Kong itself would send: its body template plus `Server`, `X-Kong-Response-Latency` and the request id. */
export function kongError(status: number, message: string, opts: KongErrorOptions): Reply {
  const [type, body] = render(opts.accept, message, opts.requestId);
  const headers = [
    "Content-Type",
    type,
    "X-Kong-Response-Latency",
    msText(opts.latencyMs),
    "X-Kong-Request-Id",
    opts.requestId,
    ...(opts.headers ?? []),
  ];
  if (opts.serverHeader !== false) headers.push("Server", SERVER_TOKEN);
  return { status, headers, body };
}
