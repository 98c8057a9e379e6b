/** ip-restriction: allows or denies clients by IP address and CIDR block, v4 and v6 (Kong's plugin). */
import { z } from "zod";
import { array, ipOrCidr, num, opt, str, withChecks } from "../entities/fields";
import { IpMatcher } from "../support/ip-matcher";
import { perConfig } from "./common";
import { definePlugin } from "./plugin";

export const ipRestrictionSchema = withChecks(
  z.strictObject({
    allow: opt(array(ipOrCidr())),
    deny: opt(array(ipOrCidr())),
    status: opt(num()),
    message: opt(str()),
  }),
  [{ at_least_one_of: ["allow", "deny"] }],
);

type IpRestrictionConfig = z.output<typeof ipRestrictionSchema>;

const matchers = perConfig((conf: IpRestrictionConfig) => ({
  allow: conf.allow?.length ? new IpMatcher(conf.allow) : null,
  deny: conf.deny?.length ? new IpMatcher(conf.deny) : null,
}));

export const ipRestriction = definePlugin<IpRestrictionConfig>({
  name: "ip-restriction",
  version: "3.10.0",
  priority: 990,
  configSchema: ipRestrictionSchema,
  access(ctx, conf) {
    if (!ctx.clientIp)
      return {
        status: 403,
        message: "Cannot identify the client IP address, unix domain sockets are not supported.",
      };
    const { allow, deny } = matchers(conf);
    // Deny is checked first, so an address in both lists is refused.
    const refused = deny?.matches(ctx.clientIp) || (allow !== null && !allow.matches(ctx.clientIp));
    if (!refused) return undefined;
    return { status: conf.status ?? 403, message: conf.message ?? `IP address not allowed: ${ctx.clientIp}` };
  },
});
