/** Generated Kong-shaped declarative configs for the benchmarks: one hot route to a real upstream plus many others. */

/** The route every benchmark sends traffic to; the same id in every generated config, so it survives each swap. */
export const HOT_PATH = "/hot";

/** Deterministic ids, so a larger config is a superset of a smaller one and a swap changes only what it adds. */
const id = (kind: number, i: number) => `0000000${kind}-0000-4000-8000-${i.toString(16).padStart(12, "0")}`;

const PLUGINS = [
  { name: "rate-limiting", config: { minute: 1000, policy: "local" } },
  { name: "cors", config: {} },
  { name: "correlation-id", config: {} },
  { name: "response-transformer", config: { add: { headers: ["x-bench:1"] } } },
];

export interface BenchConfigOptions {
  /** Routes besides the hot one, each with its own service (and plugin, when `plugins` is set). */
  routes: number;
  plugins: boolean;
  /** The hot route's service URL. */
  upstream: string;
}

/** Entities in a config of `routes` routes: service + route (+ plugin) each, plus the hot service and route. */
export const entityCount = (o: Omit<BenchConfigOptions, "upstream">) => o.routes * (o.plugins ? 3 : 2) + 2;

/** Routes that give `entities` entities in total (the inverse of `entityCount`). */
export const routesFor = (entities: number, plugins: boolean) =>
  Math.ceil((entities - 2) / (plugins ? 3 : 2));

export function benchConfig(o: BenchConfigOptions): Record<string, unknown> {
  const services = [{ id: id(1, 0), name: "hot", url: o.upstream }];
  const routes = [{ id: id(2, 0), name: "hot", paths: [HOT_PATH], service: { id: id(1, 0) } }];
  const plugins: Record<string, unknown>[] = [];
  for (let i = 1; i <= o.routes; i++) {
    services.push({ id: id(1, i), name: `svc-${i}`, url: `http://backend-${i}.internal:8080/v1` });
    routes.push({ id: id(2, i), name: `route-${i}`, paths: [`/svc/${i}`], service: { id: id(1, i) } });
    if (o.plugins) {
      const plugin = PLUGINS[i % PLUGINS.length]!;
      plugins.push({ id: id(3, i), ...plugin, route: { id: id(2, i) } });
    }
  }
  return { _format_version: "3.0", services, routes, plugins };
}
