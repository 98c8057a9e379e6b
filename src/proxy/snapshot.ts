/** Compiles one config into what the proxy reads per request: router, service plans, balancers, plugin chains. */
import type { PluginIterator } from "../plugins/iterator";
import type { PluginServices } from "../plugins/plugin";
import { Balancer, type Peer } from "./balancer";
import type { Router, RouterRoute } from "./router";
import type { UpstreamEndpoint, UpstreamTimeouts } from "./upstream/client";

/** The fields of the entities the proxy uses (canonical shapes; foreign keys as `{ id }`). */
export interface ServiceEntity {
  id: string;
  name?: string | null;
  protocol: string;
  host: string;
  port: number;
  path?: string | null;
  retries: number;
  connect_timeout: number;
  write_timeout: number;
  read_timeout: number;
  tls_verify?: boolean | null;
  tls_verify_depth?: number | null;
  ca_certificates?: string[] | null;
  client_certificate?: { id: string } | null;
}

export interface UpstreamEntity {
  id: string;
  name: string;
  host_header?: string | null;
  client_certificate?: { id: string } | null;
}

export interface TargetEntity {
  id: string;
  upstream: { id: string };
  target: string;
  weight: number;
}

export interface CertificateEntity {
  id: string;
  cert: string;
  key: string;
}

export interface CaCertificateEntity {
  id: string;
  cert: string;
}

/** Where one attempt goes, and the Host header it carries unless the route preserves the client's. */
export interface Attempt {
  endpoint: UpstreamEndpoint;
  hostHeader: string;
}

export interface ServicePlan {
  id: string;
  retries: number;
  timeouts: UpstreamTimeouts;
  balanced: boolean;
  /** The next attempt; `tried` collects the balancer's peers across retries so each retry tries another. */
  next(tried: Set<Peer> | null): Attempt | null;
}

export type ProxyRoute = RouterRoute & { id: string };
export interface ProxySnapshot {
  hash: string;
  router: Router<ProxyRoute>;
  services: Map<string, ServicePlan>;
  plugins: PluginIterator;
  pluginServices: PluginServices;
}

/** Kong omits the port from Host for the scheme's default port. */
function hostHeader(host: string, port: number, protocol: string): string {
  const defaultPort =
    (port === 80 && (protocol === "http" || protocol === "grpc")) ||
    (port === 443 && (protocol === "https" || protocol === "grpcs"));
  const h = host.includes(":") ? `[${host}]` : host;
  return defaultPort ? h : `${h}:${port}`;
}

export interface PlanInputs {
  services: readonly ServiceEntity[];
  upstreams: readonly UpstreamEntity[];
  targets: readonly TargetEntity[];
  certificates: readonly CertificateEntity[];
  caCertificates: readonly CaCertificateEntity[];
}

/** Builds one plan per service; a service whose host names an upstream balances across that upstream's targets. */
export function buildServicePlans(inputs: PlanInputs): Map<string, ServicePlan> {
  const upstreamsByName = new Map(inputs.upstreams.map((u) => [u.name, u]));
  const targetsByUpstream = new Map<string, TargetEntity[]>();
  for (const t of inputs.targets) {
    const list = targetsByUpstream.get(t.upstream.id) ?? [];
    list.push(t);
    targetsByUpstream.set(t.upstream.id, list);
  }
  const certs = new Map(inputs.certificates.map((c) => [c.id, c]));
  const cas = new Map(inputs.caCertificates.map((c) => [c.id, c.cert]));
  const balancers = new Map<string, Balancer>();
  const plans = new Map<string, ServicePlan>();
  for (const s of inputs.services) {
    const upstream = upstreamsByName.get(s.host);
    let balancer: Balancer | null = null;
    if (upstream) {
      balancer = balancers.get(upstream.id) ?? new Balancer(targetsByUpstream.get(upstream.id) ?? []);
      balancers.set(upstream.id, balancer);
    }
    const secure = s.protocol === "https" || s.protocol === "grpcs" || s.protocol === "tls";
    const clientCert = certs.get((s.client_certificate ?? upstream?.client_certificate)?.id ?? "");
    const tlsFor = (servername: string): UpstreamEndpoint["tls"] =>
      secure
        ? {
            servername,
            verify: s.tls_verify === true,
            verifyDepth: s.tls_verify_depth ?? undefined,
            ca: s.ca_certificates?.map((id) => cas.get(id)).filter((c): c is string => !!c),
            cert: clientCert?.cert,
            key: clientCert?.key,
          }
        : null;
    const direct: Attempt = {
      endpoint: { host: s.host, port: s.port, tls: tlsFor(s.host) },
      hostHeader: hostHeader(s.host, s.port, s.protocol),
    };
    // As Kong: a balanced request carries the target's host, unless the upstream sets host_header.
    const fixedHost = upstream?.host_header ?? null;
    plans.set(s.id, {
      id: s.id,
      retries: s.retries,
      timeouts: { connect: s.connect_timeout, write: s.write_timeout, read: s.read_timeout },
      balanced: balancer !== null,
      next: balancer
        ? (tried) => {
            const peer = balancer.pick(tried ?? undefined);
            if (!peer) return null;
            tried?.add(peer);
            const name = fixedHost ?? peer.host;
            return {
              endpoint: { host: peer.host, port: peer.port, tls: tlsFor(name) },
              hostHeader: fixedHost ?? hostHeader(peer.host, peer.port, s.protocol),
            };
          }
        : () => direct,
    });
  }
  return plans;
}
