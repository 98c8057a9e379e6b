/** basic-auth: identifies the consumer by username and password, checked against Kong's salted sha1 digests. */
import { createHash, timingSafeEqual } from "node:crypto";
import { z } from "zod";
import { bool, opt, req, str } from "../entities/fields";
import { authenticate, failAuthentication } from "./common";
import { definePlugin, type PluginExit, type RequestContext } from "./plugin";

export const basicAuthSchema = z.strictObject({
  anonymous: opt(str()),
  hide_credentials: req(bool().default(false)),
  realm: req(str().default("service")),
});

type BasicAuthConfig = z.output<typeof basicAuthSchema>;

interface BasicAuthCredential {
  id: string;
  username: string;
  password: string;
  consumer: { id: string };
}

/** `Basic <base64 user:pass>`; the password may contain colons, the username may not. */
function parseBasic(header: string): [string, string] | null {
  const m = /^\s*[Bb]asic\s*(.+)/.exec(header);
  if (!m) return null;
  const decoded = Buffer.from(m[1]!.trim(), "base64").toString("utf8");
  const parts = /^([^:]+):(.*)$/s.exec(decoded);
  return parts ? [parts[1]!, parts[2]!] : null;
}

/** Kong stores sha1(password .. consumer_id) hex; compare digests in constant time. */
function passwordMatches(credential: BasicAuthCredential, given: string): boolean {
  const digest = createHash("sha1")
    .update(given + credential.consumer.id)
    .digest("hex");
  const stored = Buffer.from(credential.password);
  const computed = Buffer.from(digest);
  return stored.length === computed.length && timingSafeEqual(stored, computed);
}

function credentialFrom(
  ctx: RequestContext,
  conf: BasicAuthConfig,
  lookup: (username: string) => BasicAuthCredential | null,
  header: "proxy-authorization" | "authorization",
): { credential: BasicAuthCredential | null; password: string } | null {
  const value = ctx.req.headers.get(header);
  if (value === null) return null;
  if (conf.hide_credentials) ctx.upstreamHeaders.set(header, null);
  const parsed = parseBasic(value);
  return parsed ? { credential: lookup(parsed[0]), password: parsed[1] } : null;
}

export const basicAuth = definePlugin<BasicAuthConfig>({
  name: "basic-auth",
  version: "3.10.0",
  priority: 1100,
  configSchema: basicAuthSchema,
  noConsumer: true,
  access(ctx, conf, services) {
    if (conf.anonymous && ctx.credential) return undefined;
    const rejection: PluginExit = {
      status: 401,
      message: "Unauthorized",
      headers: [["WWW-Authenticate", `Basic realm="${conf.realm}"`]],
    };
    const lookup = (username: string) =>
      services.credentials<BasicAuthCredential>("basicauth_credentials", "username", username);
    // Kong tries Proxy-Authorization first and falls back to Authorization when it names no known user.
    let found = credentialFrom(ctx, conf, lookup, "proxy-authorization");
    if (!found?.credential) found = credentialFrom(ctx, conf, lookup, "authorization");
    const credential = found?.credential;
    const consumer =
      credential && passwordMatches(credential, found!.password)
        ? services.consumerById(credential.consumer.id)
        : null;
    if (credential && consumer) {
      authenticate(ctx, consumer, credential, credential.username);
      return undefined;
    }
    return failAuthentication(ctx, services, conf.anonymous, rejection);
  },
});
