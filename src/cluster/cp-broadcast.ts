/** The control plane's config fan-out: export once per change (coalesced, newest wins), gzip once, send to every DP. */
import { logger } from "../log/logger";
import { type ConfigHashes, encodeCpMessage } from "./protocol";

const log = logger("clustering");

/** One exported config version, serialized and compressed once for all data planes. */
export interface Payload {
  frame: Uint8Array;
  hash: string;
  hashes: ConfigHashes;
  /** Plugin names present in the config: Kong checks these against each DP's plugin set. */
  pluginsConfigured: Set<string>;
  exportedAt: number;
}

export interface ExportedConfig {
  table: Record<string, unknown>;
  hashes: ConfigHashes;
  pluginsConfigured: Set<string>;
}

export interface PayloadSink {
  push(payload: Payload): void;
}

/**
 * Turns store changes into payloads. A change arriving while an export runs schedules exactly one more export,
 * so a burst of writes costs two exports, and the last one always reflects the newest state.
 */
export class ConfigBroadcaster {
  private current: Payload | null = null;
  private running = false;
  private again = false;
  private readonly sinks = new Set<PayloadSink>();
  private readonly waiters: ((p: Payload) => void)[] = [];

  constructor(
    private readonly exportConfig: () => Promise<ExportedConfig>,
    private readonly onPayload?: (p: Payload, table: Record<string, unknown>) => void,
  ) {}

  payload(): Payload | null {
    return this.current;
  }

  /** Resolves with the first payload (a DP connecting before the first export waits for it). */
  ready(): Promise<Payload> {
    if (this.current) return Promise.resolve(this.current);
    return new Promise((resolve) => this.waiters.push(resolve));
  }

  subscribe(sink: PayloadSink): () => void {
    this.sinks.add(sink);
    return () => this.sinks.delete(sink);
  }

  /** Call on every committed change. */
  changed(): void {
    if (this.running) {
      this.again = true;
      return;
    }
    void this.run();
  }

  private async run(): Promise<void> {
    this.running = true;
    do {
      this.again = false;
      try {
        const exported = await this.exportConfig();
        if (this.current?.hash === exported.hashes.config) continue;
        const payload: Payload = {
          frame: encodeCpMessage({
            type: "reconfigure",
            timestamp: Date.now() / 1000,
            config_table: exported.table,
            config_hash: exported.hashes.config,
            hashes: exported.hashes,
          }),
          hash: exported.hashes.config,
          hashes: exported.hashes,
          pluginsConfigured: exported.pluginsConfigured,
          exportedAt: Date.now(),
        };
        this.current = payload;
        this.onPayload?.(payload, exported.table);
        for (const resolve of this.waiters.splice(0)) resolve(payload);
        for (const sink of this.sinks) sink.push(payload);
        log.debug(`config ${payload.hash} pushed to ${this.sinks.size} data planes`);
      } catch (e) {
        log.error(`unable to export config from database: ${e instanceof Error ? e.message : String(e)}`);
      }
    } while (this.again);
    this.running = false;
  }
}
