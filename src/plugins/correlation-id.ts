/** correlation-id: gives each request an id header (uuid, uuid#counter or tracker) and optionally echoes it back. */
import { z } from "zod";
import { bool, oneOf, req, str } from "../entities/fields";
import { setResponseHeader } from "./common";
import { serializeValues } from "./log-serializer";
import { definePlugin, type RequestContext } from "./plugin";

export const correlationIdSchema = z.strictObject({
  header_name: str().default("Kong-Request-ID"),
  generator: req(oneOf(["uuid", "uuid#counter", "tracker"]).default("uuid#counter")),
  echo_downstream: req(bool().default(false)),
});

type CorrelationIdConfig = z.output<typeof correlationIdSchema>;

/** Kong draws one uuid per worker at start and counts from it. */
const WORKER_UUID = crypto.randomUUID();
let counter = 0;
const ID = "gw.correlation_id";

const GENERATORS: Record<CorrelationIdConfig["generator"], (ctx: RequestContext) => string> = {
  uuid: () => crypto.randomUUID(),
  "uuid#counter": () => `${WORKER_UUID}#${++counter}`,
  // Kong: server address, port, worker pid, connection serial, requests on it, time; gw has no connection serials.
  tracker: (ctx) => {
    const [addr, port = ctx.protocol === "https" ? "443" : "80"] = ctx.host.split(":");
    return `${addr}-${port}-${process.pid}-${++counter}-1-${(Date.now() / 1000).toFixed(3)}`;
  },
};

export const correlationId = definePlugin<CorrelationIdConfig>({
  name: "correlation-id",
  version: "3.10.0",
  // Kong 3.x runs it before every other plugin (it was 1 before 3.0), so auth failures carry the id too.
  priority: 100001,
  configSchema: correlationIdSchema,
  access(ctx, conf) {
    let id = ctx.req.headers.get(conf.header_name);
    if (!id) {
      id = GENERATORS[conf.generator](ctx);
      ctx.upstreamHeaders.set(conf.header_name.toLowerCase(), id);
    }
    serializeValues(ctx).correlation_id = id;
    ctx.shared[ID] = id;
    return undefined;
  },
  headerFilter(ctx, conf, res) {
    if (!conf.echo_downstream) return;
    const id = (ctx.shared[ID] as string | undefined) || ctx.req.headers.get(conf.header_name);
    setResponseHeader(res.headers, conf.header_name, id || GENERATORS[conf.generator](ctx));
  },
});
