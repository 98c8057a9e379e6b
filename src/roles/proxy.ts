/** Starts the proxy of a traditional or data plane node over its running config. */
import type { ActiveConfig } from "../config/active";
import { openAccessLog } from "../log/access-log";
import { logger } from "../log/logger";
import { realIpHeaderName, realIpResolver } from "../proxy/real-ip";
import { startProxy } from "../proxy/server";
import { SniCertificates } from "../proxy/tls-certificates";
import { UpstreamClient } from "../proxy/upstream/client";
import { IpMatcher } from "../support/ip-matcher";
import type { NodeKit } from "./kit";
import { listenerCertificate } from "./listeners";

const log = logger("kong");

export async function startNodeProxy(kit: NodeKit, active: ActiveConfig): Promise<void> {
  const s = kit.settings;
  const listens = s.proxy_listen;
  if (listens.length === 0) {
    log.notice("proxy_listen = off: this node serves no traffic");
    return;
  }
  const client = new UpstreamClient({
    poolSize: s.upstream_keepalive_pool_size,
    maxRequests: s.upstream_keepalive_max_requests,
    idleTimeoutMs: s.upstream_keepalive_idle_timeout * 1000,
  });
  const trusted = new IpMatcher(s.trusted_ips);
  const headers = new Set(s.headers);
  const accessLog = openAccessLog(s.proxy_access_log);
  const tls = listens.some((l) => l.ssl) ? await proxyTls(s, active) : null;
  const servers = startProxy(
    listens,
    {
      snapshot: active.snapshot,
      client,
      accessLog,
      trusted: trusted.empty ? () => false : (ip) => trusted.matches(ip),
      realIp: realIp(s, trusted),
      headers: {
        server: headers.has("server_tokens"),
        latency: headers.has("latency_tokens"),
        requestId: headers.has("x-kong-request-id"),
      },
      onRequest: kit.metrics.request,
    },
    tls,
  );
  kit.inFlight.push(servers.inFlight);
  kit.closers.unshift(async () => {
    await servers.stop();
    client.close();
    accessLog?.flush();
  });
  for (const l of listens) log.info(`proxy listening on ${l.host}:${l.port}${l.ssl ? " (ssl)" : ""}`);
}

/** The default certificate, and the `certificates` entity whose `snis` name the client's server name. */
async function proxyTls(s: NodeKit["settings"], active: ActiveConfig) {
  const certificates = new SniCertificates(() => active.table);
  return {
    ...(await listenerCertificate(s, "proxy")),
    forServerName: (name: string) => certificates.contextFor(name),
  };
}

/** Kong's realip settings; null (the peer is the client) when no peer is trusted. */
function realIp(s: NodeKit["settings"], trusted: IpMatcher) {
  const header = realIpHeaderName(s.real_ip_header);
  if (trusted.empty) return null;
  return { header, resolve: realIpResolver({ trusted, recursive: s.real_ip_recursive }) };
}
