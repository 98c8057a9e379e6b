/** The client address behind trusted proxies: Kong's `real_ip_header`, `real_ip_recursive` and `trusted_ips` (nginx's realip). */
import { isIP } from "node:net";
import type { IpMatcher } from "../support/ip-matcher";

export interface RealIpSettings {
  trusted: IpMatcher;
  /** `real_ip_recursive`. */
  recursive: boolean;
}

/** Reads the client address for a request from `peer` (the socket's address) and its header value. */
export type RealIpResolver = (peer: string, headerValue: string | null) => string;

/**
 * nginx's realip: only a trusted peer's header is believed. Without recursion the last address in the header wins;
 * with it, the last one that is not itself trusted (walking back from the right). Anything that is not an address is
 * ignored, and the peer stays the client.
 */
export function realIpResolver(s: RealIpSettings): RealIpResolver {
  return (peer, value) => {
    if (value === null || !s.trusted.matches(peer)) return peer;
    const addresses = value.split(",");
    for (let i = addresses.length - 1; i >= 0; i--) {
      const candidate = (addresses[i] as string).trim();
      if (isIP(candidate) === 0) return peer;
      if (!s.recursive || i === 0 || !s.trusted.matches(candidate)) return candidate;
    }
    return peer;
  };
}

/** The lowercase header name to read; null for `proxy_protocol` (the address from the balancer's PROXY header). */
export function realIpHeaderName(setting: string): string | null {
  const name = setting.trim().toLowerCase();
  return name === "proxy_protocol" ? null : name;
}
