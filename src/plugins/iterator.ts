/** Decides which plugin configs run for a request: Kong's scoping precedence, priority order, compiled once per config. */
import type { PluginDefinition } from "./plugin";

/** The fields of a plugin entity the iterator needs (canonical shape: foreign keys as `{ id }`). */
export interface PluginEntityRef {
  id: string;
  name: string;
  enabled?: boolean;
  route?: { id: string } | null;
  service?: { id: string } | null;
  consumer?: { id: string } | null;
  protocols?: string[] | null;
  config?: unknown;
}

export interface ConfiguredPlugin {
  def: PluginDefinition;
  entity: PluginEntityRef;
  config?: unknown;
  protocols: ReadonlySet<string> | null;
}

/** One plugin name on one route: the config without a consumer, and consumer-specific overrides. */
export interface PluginSlot {
  def: PluginDefinition;
  base: ConfiguredPlugin | null;
  byConsumer: Map<string, ConfiguredPlugin> | null;
}

export type PluginChain = readonly PluginSlot[];

const EMPTY: PluginChain = [];

/** Kong's precedence, most specific first. */
const SCOPES = ["crs", "cr", "cs", "rs", "c", "r", "s", "g"] as const;
type Scope = (typeof SCOPES)[number];

function scopeOf(p: PluginEntityRef): Scope {
  const c = p.consumer ? "c" : "";
  const r = p.route ? "r" : "";
  const s = p.service ? "s" : "";
  return (c + r + s || "g") as Scope;
}

const rank = (scope: Scope) => SCOPES.indexOf(scope);

/** Compiled from one config; `chainFor` is a map lookup on the hot path. */
export class PluginIterator {
  private readonly chains = new Map<string, PluginChain>();
  private readonly globalChain: PluginChain;
  private readonly enabled: PluginEntityRef[];
  private readonly defs: ReadonlyMap<string, PluginDefinition>;
  readonly hasBodyFilter: boolean;

  constructor(entities: readonly PluginEntityRef[], defs: ReadonlyMap<string, PluginDefinition>) {
    const enabled = entities.filter((p) => p.enabled !== false && defs.has(p.name));
    this.hasBodyFilter = enabled.some((p) => defs.get(p.name)!.bodyFilter);
    this.globalChain = buildChain(enabled, defs, null, null);
    this.enabled = enabled;
    this.defs = defs;
  }

  /** The plugins that may run for a route of a service; built on first use and kept for this config's lifetime. */
  chainFor(routeId: string | null, serviceId: string | null): PluginChain {
    if (this.enabled.length === 0) return EMPTY;
    const key = `${routeId}|${serviceId}`;
    let chain = this.chains.get(key);
    if (!chain) {
      chain =
        routeId || serviceId ? buildChain(this.enabled, this.defs, routeId, serviceId) : this.globalChain;
      this.chains.set(key, chain);
    }
    return chain;
  }
}

function buildChain(
  plugins: readonly PluginEntityRef[],
  defs: ReadonlyMap<string, PluginDefinition>,
  routeId: string | null,
  serviceId: string | null,
): PluginChain {
  const slots = new Map<string, PluginSlot & { baseRank: number; consumerRanks: Map<string, number> }>();
  for (const p of plugins) {
    if (p.route && p.route.id !== routeId) continue;
    if (p.service && p.service.id !== serviceId) continue;
    const def = defs.get(p.name)!;
    let slot = slots.get(p.name);
    if (!slot) {
      slot = {
        def,
        base: null,
        byConsumer: null,
        baseRank: Number.POSITIVE_INFINITY,
        consumerRanks: new Map(),
      };
      slots.set(p.name, slot);
    }
    const scope = scopeOf(p);
    const configured: ConfiguredPlugin = {
      def,
      entity: p,
      config: p.config,
      protocols: p.protocols ? new Set(p.protocols) : null,
    };
    if (p.consumer) {
      const current = slot.consumerRanks.get(p.consumer.id) ?? Number.POSITIVE_INFINITY;
      if (rank(scope) < current) {
        slot.byConsumer ??= new Map();
        slot.byConsumer.set(p.consumer.id, configured);
        slot.consumerRanks.set(p.consumer.id, rank(scope));
      }
    } else if (rank(scope) < slot.baseRank) {
      slot.base = configured;
      slot.baseRank = rank(scope);
    }
  }
  return [...slots.values()]
    .sort((a, b) => b.def.priority - a.def.priority || a.def.name.localeCompare(b.def.name))
    .map(({ def, base, byConsumer }) => ({ def, base, byConsumer }));
}

/** The config a slot runs with for the consumer identified so far (consumer-specific beats general). */
export function resolveSlot(
  slot: PluginSlot,
  consumerId: string | null,
  protocol: string,
): ConfiguredPlugin | null {
  const chosen = (consumerId && slot.byConsumer?.get(consumerId)) || slot.base;
  if (!chosen || (chosen.protocols && !chosen.protocols.has(protocol))) return null;
  return chosen;
}
