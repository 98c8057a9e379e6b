/** The node's running config: one immutable snapshot swapped atomically, so a request never sees half of two configs. */
import { type ConfigTable, parseDeclarative, ValidatedRows } from "../entities/declarative";
import { EMPTY_CONFIG_HASH } from "../entities/hash";
import type { PluginSchemas } from "../entities/schemas";
import { logger } from "../log/logger";
import type { PluginDefinition } from "../plugins/plugin";
import type { ProxySnapshot } from "../proxy/snapshot";
import { compileSnapshot } from "./compile";
import type { ConfigValidator } from "./validator";

const log = logger("config");

export interface AppliedConfig {
  table: ConfigTable;
  hash: string;
  source: string;
}

export class ActiveConfig {
  private current: ProxySnapshot;
  private applied: AppliedConfig | null = null;
  private readonly listeners: ((applied: AppliedConfig) => void)[] = [];
  private readonly defs: ReadonlyMap<string, PluginDefinition>;
  /** The last validated config's rows: a push that changes a few entities validates only those. */
  private readonly validated = new ValidatedRows();

  constructor(
    plugins: readonly PluginDefinition[],
    readonly pluginSchemas: PluginSchemas,
    private readonly nodeId: string,
  ) {
    this.defs = new Map(plugins.map((p) => [p.name, p]));
    this.current = compileSnapshot(
      parseDeclarative({ _format_version: "3.0" }),
      EMPTY_CONFIG_HASH,
      this.defs,
      nodeId,
    );
  }

  /** The proxy calls this once per request. */
  readonly snapshot = (): ProxySnapshot => this.current;

  get hash(): string {
    return this.current.hash;
  }

  /** True once any config (even one with no entities) was applied; Kong's readiness needs a non-empty hash. */
  get loaded(): boolean {
    return this.applied !== null && this.current.hash !== EMPTY_CONFIG_HASH;
  }

  get table(): ConfigTable | null {
    return this.applied?.table ?? null;
  }

  onApplied(listener: (applied: AppliedConfig) => void): void {
    this.listeners.push(listener);
  }

  /** Validates input against this node's own schemas (throws DeclarativeError with every problem) and swaps it in. */
  applyInput(input: unknown, hash: string, source: string): AppliedConfig {
    const started = performance.now();
    const table = parseDeclarative(input, { plugins: this.pluginSchemas, reuse: this.validated });
    return this.apply(table, hash, source, started);
  }

  /** As applyInput, with the validation in `validator`'s worker: the event loop only swaps the validated table in. */
  async applyInputInBackground(
    input: unknown,
    hash: string,
    source: string,
    validator: ConfigValidator,
  ): Promise<AppliedConfig> {
    const started = performance.now();
    const table = await validator.validate(input);
    return this.apply(table, hash, source, started);
  }

  /** `started` lets applyInput's validation count in the logged time, which is what a swap costs. */
  apply(table: ConfigTable, hash: string, source: string, started = performance.now()): AppliedConfig {
    this.current = compileSnapshot(table, hash, this.defs, this.nodeId);
    const applied = { table, hash, source };
    this.applied = applied;
    log.info(
      `configuration ${hash} from ${source} applied: ${table.services.length} services, ${table.routes.length} routes, ${table.plugins.length} plugins (${Math.round(performance.now() - started)} ms)`,
    );
    for (const listener of this.listeners) listener(applied);
    return applied;
  }
}
