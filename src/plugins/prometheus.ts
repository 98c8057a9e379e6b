/** prometheus: records request counts, latencies and bandwidth into the node's metrics registry with Kong's names. */
import { z } from "zod";
import { bool } from "../entities/fields";
import type { Counter, Histogram, Registry } from "../status/metrics";
import { definePlugin, type RequestContext } from "./plugin";

export const prometheusSchema = z.strictObject({
  per_consumer: bool().default(false),
  status_code_metrics: bool().default(false),
  ai_metrics: bool().default(false),
  latency_metrics: bool().default(false),
  bandwidth_metrics: bool().default(false),
  upstream_health_metrics: bool().default(false),
  wasm_metrics: bool().default(false),
});

type PrometheusConfig = z.output<typeof prometheusSchema>;

/** Kong's bucket boundaries (exporter.lua): Kong's own latency is small, upstream and total latencies are not. */
const KONG_LATENCY_BUCKETS = [1, 2, 5, 7, 10, 15, 20, 30, 50, 75, 100, 200, 500, 750, 1000, 3000, 6000];
const UPSTREAM_LATENCY_BUCKETS = [25, 50, 80, 100, 250, 400, 700, 1000, 2000, 5000, 10000, 30000, 60000];

interface Families {
  status: Counter;
  kongLatency: Histogram;
  upstreamLatency: Histogram;
  requestLatency: Histogram;
  bandwidth: Counter;
}

let families: Families | null = null;

/** The node hands the plugin its registry once at start; until then the plugin records nothing. */
export function setPrometheusRegistry(registry: Registry): void {
  families = {
    status: registry.counter(
      "kong_http_requests_total",
      "HTTP status codes per consumer/service/route in Kong",
    ),
    kongLatency: registry.histogram(
      "kong_kong_latency_ms",
      "Latency added by Kong and enabled plugins for each service/route in Kong",
      KONG_LATENCY_BUCKETS,
    ),
    upstreamLatency: registry.histogram(
      "kong_upstream_latency_ms",
      "Latency added by upstream response for each service/route in Kong",
      UPSTREAM_LATENCY_BUCKETS,
    ),
    requestLatency: registry.histogram(
      "kong_request_latency_ms",
      "Total latency incurred during requests for each service/route in Kong",
      UPSTREAM_LATENCY_BUCKETS,
    ),
    bandwidth: registry.counter(
      "kong_bandwidth_bytes",
      "Total bandwidth (ingress/egress) throughput in bytes",
    ),
  };
}

const SOURCE = "gw.prometheus.source";

/** Kong labels by service and route name; gw's RequestContext carries only ids, so ids stand in for names. */
function labels(ctx: RequestContext) {
  return { service: ctx.serviceId ?? "", route: ctx.routeId ?? "", workspace: "default" };
}

export const prometheus = definePlugin<PrometheusConfig>({
  name: "prometheus",
  version: "3.10.0",
  priority: 13,
  configSchema: prometheusSchema,
  headerFilter(ctx, _conf, res) {
    ctx.shared[SOURCE] = res.generated ? "kong" : "service";
  },
  log(ctx, conf, entry) {
    // Kong skips requests that matched no route.
    if (!families || !ctx.routeId) return;
    const base = labels(ctx);
    const consumer = conf.per_consumer ? (ctx.consumer?.username ?? "") : "";
    if (conf.status_code_metrics) {
      const source = (ctx.shared[SOURCE] as string | undefined) ?? "kong";
      families.status.inc({ ...base, code: String(entry.status), source, consumer });
    }
    if (conf.latency_metrics) {
      const upstream = ctx.shared[SOURCE] === "service";
      families.requestLatency.observe(base, entry.latencies.request);
      if (upstream) families.upstreamLatency.observe(base, entry.latencies.proxy);
      families.kongLatency.observe(base, entry.latencies.kong);
    }
    if (conf.bandwidth_metrics) {
      const ingress = Number(ctx.req.headers.get("content-length") ?? 0);
      if (ingress > 0) families.bandwidth.inc({ ...base, direction: "ingress", consumer }, ingress);
      if (entry.bytesSent > 0)
        families.bandwidth.inc({ ...base, direction: "egress", consumer }, entry.bytesSent);
    }
  },
});
