/** request-size-limiting: refuses request bodies larger than the configured size (Kong's plugin). */
import { z } from "zod";
import { bool, int, oneOf, req } from "../entities/fields";
import { rawBodyUpTo } from "./common";
import { definePlugin, type PluginExit, type RequestContext } from "./plugin";

const UNIT_BYTES = { megabytes: 1048576, kilobytes: 1024, bytes: 1 } as const;

export const requestSizeLimitingSchema = z.strictObject({
  allowed_payload_size: int().default(128),
  size_unit: req(oneOf(["megabytes", "kilobytes", "bytes"]).default("megabytes")),
  require_content_length: req(bool().default(false)),
});

type RequestSizeLimitingConfig = z.output<typeof requestSizeLimitingSchema>;

/** A client waiting on `Expect: 100-continue` gets 417 so it never sends the body; others get 413. */
function tooLarge(ctx: RequestContext): PluginExit {
  const expect = ctx.req.headers.get("expect")?.trim().toLowerCase();
  return { status: expect === "100-continue" ? 417 : 413, message: "Request size limit exceeded" };
}

export const requestSizeLimiting = definePlugin<RequestSizeLimitingConfig>({
  name: "request-size-limiting",
  version: "3.10.0",
  priority: 951,
  configSchema: requestSizeLimitingSchema,
  async access(ctx, conf) {
    const allowed = conf.allowed_payload_size * UNIT_BYTES[conf.size_unit];
    const header = ctx.req.headers.get("content-length");
    const length = header !== null && /^\s*\d+\s*$/.test(header) ? Number(header) : null;
    if (length !== null) return length > allowed ? tooLarge(ctx) : undefined;
    if (conf.require_content_length && ctx.req.headers.get("transfer-encoding") !== "chunked")
      return { status: 411, message: "A valid Content-Length header is required" };
    // No usable length: count the body as it arrives and stop reading as soon as it is too big.
    return (await rawBodyUpTo(ctx, allowed)) === null ? tooLarge(ctx) : undefined;
  },
});
