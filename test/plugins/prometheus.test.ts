import { describe, expect, test } from "bun:test";
import { prometheus, setPrometheusRegistry } from "../../src/plugins/prometheus";
import { Registry } from "../../src/status/metrics";
import { config, logEntry, makeContext, request, responseView } from "./helpers";

function observe(conf: unknown, opts: { generated?: boolean; status?: number; username?: string } = {}) {
  const ctx = makeContext(request("/", { headers: { "content-length": "5" } }), {
    routeId: "r-1",
    serviceId: "s-1",
  });
  if (opts.username) ctx.consumer = { id: "c", username: opts.username, custom_id: null };
  prometheus.headerFilter!(ctx, conf, responseView(opts.status ?? 200, {}, opts.generated ?? false));
  prometheus.log!(ctx, conf, logEntry(opts.status ?? 200, 100));
}

describe("prometheus", () => {
  test("Kong 3.x defaults: every metric group off", () => {
    expect(config(prometheus)).toEqual({
      per_consumer: false,
      status_code_metrics: false,
      ai_metrics: false,
      latency_metrics: false,
      bandwidth_metrics: false,
      upstream_health_metrics: false,
      wasm_metrics: false,
    });
  });

  test("defaults record nothing", () => {
    const registry = new Registry();
    setPrometheusRegistry(registry);
    observe(config(prometheus));
    expect(registry.render()).toBe("\n");
  });

  test("Kong's names and labels when enabled", () => {
    const registry = new Registry();
    setPrometheusRegistry(registry);
    const conf = config(prometheus, {
      status_code_metrics: true,
      latency_metrics: true,
      bandwidth_metrics: true,
      per_consumer: true,
    });
    observe(conf, { username: "ann" });
    observe(conf, { generated: true, status: 401 });
    const text = registry.render();
    expect(text).toContain(
      'kong_http_requests_total{code="200",consumer="ann",route="r-1",service="s-1",source="service",workspace="default"} 1',
    );
    expect(text).toContain(
      'kong_http_requests_total{code="401",consumer="",route="r-1",service="s-1",source="kong",workspace="default"} 1',
    );
    expect(text).toContain('kong_request_latency_ms_count{route="r-1",service="s-1",workspace="default"} 2');
    // Only the proxied request has an upstream latency.
    expect(text).toContain('kong_upstream_latency_ms_count{route="r-1",service="s-1",workspace="default"} 1');
    expect(text).toContain(
      'kong_kong_latency_ms_bucket{route="r-1",service="s-1",workspace="default",le="00005.0"} 2',
    );
    expect(text).toContain(
      'kong_bandwidth_bytes{consumer="ann",direction="egress",route="r-1",service="s-1",workspace="default"} 100',
    );
    expect(text).toContain(
      'kong_bandwidth_bytes{consumer="ann",direction="ingress",route="r-1",service="s-1",workspace="default"} 5',
    );
  });
});
