/** Read-only upstream views on DB-less and data plane nodes (`/upstreams/{u}/targets`, `/health`), as Kong mounts them. */
import { Hono } from "hono";
import type { ConfigTable } from "../entities/declarative";

type Upstream = ConfigTable["upstreams"][number];
type Target = ConfigTable["targets"][number];

/** gw runs no active health checks yet, so every target reports Kong's `HEALTHCHECKS_OFF`. */
const HEALTH = "HEALTHCHECKS_OFF";

export function upstreamViews(table: () => ConfigTable | null, nodeId: string): Hono {
  const app = new Hono();
  const find = (key: string): { upstream: Upstream; targets: Target[] } | null => {
    const t = table();
    const upstream = t?.upstreams.find((u) => u.id === key || u.name === key);
    if (!t || !upstream) return null;
    return { upstream, targets: t.targets.filter((x) => x.upstream.id === upstream.id) };
  };
  const notFound = { message: "Not found" };

  app.get("/upstreams/:upstream/targets", (c) => {
    const found = find(c.req.param("upstream"));
    if (!found) return c.json(notFound, 404);
    return c.json({ data: found.targets.filter((t) => t.weight > 0), next: null });
  });
  app.get("/upstreams/:upstream/targets/all", (c) => {
    const found = find(c.req.param("upstream"));
    if (!found) return c.json(notFound, 404);
    return c.json({ data: found.targets, next: null });
  });
  app.get("/upstreams/:upstream/targets/:target", (c) => {
    const key = c.req.param("target");
    const target = find(c.req.param("upstream"))?.targets.find((t) => t.id === key || t.target === key);
    return target ? c.json(target) : c.json(notFound, 404);
  });
  app.get("/upstreams/:upstream/health", (c) => {
    const found = find(c.req.param("upstream"));
    if (!found) return c.json(notFound, 404);
    if (c.req.query("balancer_health") === "1") {
      return c.json({ data: { health: HEALTH, id: found.upstream.id }, next: null, node_id: nodeId });
    }
    const data = found.targets.map((t) => ({ ...t, health: HEALTH, data: { addresses: [] } }));
    return c.json({ data, next: null, node_id: nodeId });
  });
  return app;
}
