/** acl: lets consumers through by group membership (allow or deny list), as Kong's acl plugin. */
import { z } from "zod";
import { array, bool, opt, req, str, withChecks } from "../entities/fields";
import { HEADERS, perConfig } from "./common";
import { definePlugin, type PluginExit, type RequestContext } from "./plugin";

const FIELDS = "'allow', 'deny'";

export const aclSchema = withChecks(
  z.strictObject({
    allow: opt(array(str())),
    deny: opt(array(str())),
    hide_groups_header: req(bool().default(false)),
    always_use_authenticated_groups: req(bool().default(false)),
  }),
  [
    { at_least_one_of: ["allow", "deny"] },
    {
      custom_entity_check: {
        field_sources: ["allow", "deny"],
        fn: (c) =>
          (c.allow as string[]).length > 0 && (c.deny as string[]).length > 0
            ? `only one of these fields must be non-empty: ${FIELDS}`
            : undefined,
      },
    },
  ],
);

type AclConfig = z.output<typeof aclSchema>;

const compile = perConfig((conf: AclConfig) => {
  const deny = (conf.deny ?? []).length > 0;
  return { deny, groups: new Set(deny ? conf.deny! : (conf.allow ?? [])) };
});

const FORBIDDEN: PluginExit = { status: 403, message: "You cannot consume this service" };

/** A client with a credential is known but not allowed (403); one without is not identified at all (401). */
const unidentified = (ctx: RequestContext): PluginExit =>
  ctx.credential ? FORBIDDEN : { status: 401, message: "Unauthorized" };

export const acl = definePlugin<AclConfig>({
  name: "acl",
  version: "3.10.0",
  priority: 950,
  configSchema: aclSchema,
  noConsumer: true,
  access(ctx, conf, services) {
    const rule = compile(conf);
    const consumerId = ctx.consumer?.id ?? ctx.credential?.consumer?.id ?? null;
    // Groups set by another plugin (kong.ctx.shared.authenticated_groups) win for anonymous consumers, or always.
    const useAuthenticated = !consumerId || !ctx.credential || conf.always_use_authenticated_groups;
    const authenticated = useAuthenticated ? ctx.authenticatedGroups : null;
    let groups: string[];
    let header: string;
    if (authenticated) {
      groups = authenticated;
      header = HEADERS.authenticatedGroups;
    } else if (consumerId) {
      groups = services.aclGroups(consumerId);
      header = HEADERS.consumerGroups;
      if (groups.length === 0 && !rule.deny) return unidentified(ctx);
    } else {
      return unidentified(ctx);
    }
    const inGroup = groups.some((g) => rule.groups.has(g));
    if (inGroup === rule.deny) return FORBIDDEN;
    if (!conf.hide_groups_header && groups.length > 0) ctx.upstreamHeaders.set(header, groups.join(", "));
    return undefined;
  },
});
