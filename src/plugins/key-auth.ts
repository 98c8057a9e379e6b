/** key-auth: identifies the consumer by an API key from a header, the query string or the body (Kong's plugin). */
import { z } from "zod";
import { array, bool, headerName, opt, req, str } from "../entities/fields";
import {
  authenticate,
  bodyKind,
  encodeBody,
  failAuthentication,
  parsedBody,
  setUpstreamBody,
  withoutQueryArg,
} from "./common";
import { definePlugin, type PluginExit, type PluginServices, type RequestContext } from "./plugin";

export const keyAuthSchema = z.strictObject({
  key_names: req(array(headerName()).default(["apikey"])),
  hide_credentials: req(bool().default(false)),
  anonymous: opt(str()),
  key_in_header: req(bool().default(true)),
  key_in_query: req(bool().default(true)),
  key_in_body: req(bool().default(false)),
  run_on_preflight: req(bool().default(true)),
  realm: opt(str()),
});

type KeyAuthConfig = z.output<typeof keyAuthSchema>;

interface KeyAuthCredential {
  id: string;
  key: string;
  consumer: { id: string };
  ttl?: number | null;
}

const unauthorized = (message: string, conf: KeyAuthConfig): PluginExit => ({
  status: 401,
  message,
  headers: [["WWW-Authenticate", conf.realm ? `Key realm="${conf.realm}"` : "Key"]],
});

type Found = { key: string } | { duplicate: true } | null;
type Body = Record<string, unknown> | null;

/**
 * Kong's search order per key name: header, then query, then body; the first name that yields a value wins.
 * Synchronous: the body, when it is searched at all, was parsed beforehand.
 */
function findKey(ctx: RequestContext, conf: KeyAuthConfig, body: Body): Found {
  const query = conf.key_in_query && ctx.query ? new URLSearchParams(ctx.query) : null;
  for (const name of conf.key_names) {
    // nginx drops client headers with underscores; Kong's lookup maps `_` in a key name to `-`.
    let value: unknown = conf.key_in_header ? ctx.req.headers.get(name.replaceAll("_", "-")) : null;
    if (value === null && query) {
      const all = query.getAll(name);
      value = all.length > 1 ? all : (all[0] ?? null);
    }
    if (value === null && body) value = body[name] ?? null;
    if (typeof value === "string") {
      if (conf.hide_credentials) hideKey(ctx, name, body);
      return { key: value };
    }
    if (Array.isArray(value)) return { duplicate: true };
  }
  return null;
}

function hideKey(ctx: RequestContext, name: string, body: Body): void {
  ctx.upstreamHeaders.set(name.toLowerCase(), null);
  ctx.query = withoutQueryArg(ctx.query, name);
  const kind = bodyKind(ctx.req.headers.get("content-type"));
  if (!body || !kind) return;
  const { [name]: _removed, ...rest } = body;
  const encoded = encodeBody(kind, rest);
  if (encoded !== null) setUpstreamBody(ctx, encoded);
}

function authenticateKey(
  ctx: RequestContext,
  conf: KeyAuthConfig,
  services: PluginServices,
  body: Body,
): PluginExit | undefined {
  const found = findKey(ctx, conf, body);
  let rejection: PluginExit;
  if (found && "duplicate" in found) rejection = unauthorized("Duplicate API key found", conf);
  else if (!found || found.key === "") rejection = unauthorized("No API key found in request", conf);
  else {
    const credential = services.credentials<KeyAuthCredential>("keyauth_credentials", "key", found.key);
    const consumer =
      credential && credential.ttl !== 0 ? services.consumerById(credential.consumer.id) : null;
    if (credential && consumer) {
      authenticate(ctx, consumer, credential, credential.id);
      return undefined;
    }
    rejection = unauthorized("Unauthorized", conf);
  }
  return failAuthentication(ctx, services, conf.anonymous, rejection);
}

export const keyAuth = definePlugin<KeyAuthConfig>({
  name: "key-auth",
  version: "3.10.0",
  priority: 1250,
  configSchema: keyAuthSchema,
  noConsumer: true,
  access(ctx, conf, services) {
    if (!conf.run_on_preflight && ctx.method === "OPTIONS") return undefined;
    // Logical OR between auth plugins: an earlier one already identified the client.
    if (conf.anonymous && ctx.credential) return undefined;
    // Only configs that search the body pay for reading it (and the async step).
    if (!conf.key_in_body) return authenticateKey(ctx, conf, services, null);
    return parsedBody(ctx).then((body) => authenticateKey(ctx, conf, services, body));
  },
});
