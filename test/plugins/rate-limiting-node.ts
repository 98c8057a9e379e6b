/** A second gw "node" for the Redis policy test: its own process, module state and Redis connection. */
import { closeRateLimitingRedis, rateLimiting } from "../../src/plugins/rate-limiting";
import { access, config, makeContext, request } from "./helpers";

const [routeId, count, syncRate] = [process.argv[2]!, Number(process.argv[3]), Number(process.argv[4] ?? -1)];
const conf = config(rateLimiting, {
  year: 5,
  policy: "redis",
  limit_by: "ip",
  redis: { host: "127.0.0.1", port: 6379 },
  sync_rate: syncRate,
});
const statuses: number[] = [];
for (let i = 0; i < count; i++) {
  const exit = await access(rateLimiting, makeContext(request("/"), { routeId, clientIp: "10.0.0.7" }), conf);
  statuses.push(exit?.status ?? 200);
}
await closeRateLimitingRedis();
console.log(JSON.stringify(statuses));
