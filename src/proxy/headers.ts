/** Header rules of a proxy hop: which request headers never cross it (RFC 9110 §7.6.1) and Kong's X-Forwarded-* set. */

/** Hop-by-hop headers, plus framing the upstream client re-creates itself. */
const HOP_BY_HOP = new Set([
  "connection",
  "keep-alive",
  "proxy-connection",
  "proxy-authenticate",
  "proxy-authorization",
  "te",
  "trailer",
  "transfer-encoding",
  "upgrade",
  "content-length",
  "host",
]);

/** Headers gw sets itself on the upstream request; client-supplied values are dropped unless the peer is trusted. */
const FORWARDED = new Set([
  "x-forwarded-for",
  "x-forwarded-proto",
  "x-forwarded-host",
  "x-forwarded-port",
  "x-forwarded-path",
  "x-forwarded-prefix",
  "x-real-ip",
  "via",
]);

/** Names listed in a `Connection` header are hop-by-hop for this message too. */
export function connectionTokens(value: string | null): Set<string> | null {
  if (!value) return null;
  // The usual values name no header: answer without splitting.
  const lower = value.toLowerCase();
  if (lower === "keep-alive" || lower === "close") return null;
  const tokens = lower
    .split(",")
    .map((t) => t.trim())
    .filter((t) => t && t !== "close" && t !== "keep-alive");
  return tokens.length ? new Set(tokens) : null;
}

export const isHopByHop = (name: string) => HOP_BY_HOP.has(name);
export const isForwardedHeader = (name: string) => FORWARDED.has(name);
