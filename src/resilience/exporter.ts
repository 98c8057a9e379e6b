/** Backup exporter: writes the newest config to fallback storage, at most once per export delay, only while it leads. */
import { hostname } from "node:os";
import { logger } from "../log/logger";
import { Election } from "./election";
import { sealConfig } from "./signing";
import type { ConfigStorage } from "./storage/types";
import { describeFailure } from "./storage/types";
import { configKey, type StorageLocation } from "./storage/url";

const log = logger("resilience");

export interface ExporterOptions {
  storage: ConfigStorage;
  location: StorageLocation;
  version: string;
  nodeId: string;
  certPem: string;
  keyPem: string;
  encryptionKey?: string;
  /** `cluster_fallback_config_export_delay`, ms: exports are coalesced and the newest wins. */
  delayMs: number;
  /** Election round length, ms; a dead leader is replaced within one round plus the margin. */
  electionIntervalMs?: number;
}

interface Pending {
  json: string;
  hash: string;
}

export class ConfigExporter {
  private pending: Pending | null = null;
  private lastExportAt = Number.NEGATIVE_INFINITY;
  private lastExportedHash: string | null = null;
  private timer: Timer | null = null;
  private writing = false;
  private readonly election: Election;

  constructor(private readonly opts: ExporterOptions) {
    const interval = opts.electionIntervalMs ?? 10_000;
    this.election = new Election({
      storage: opts.storage,
      prefix: opts.location.prefix,
      version: opts.version,
      nodeId: opts.nodeId,
      intervalMs: interval,
      marginMs: Math.max(1000, interval / 2),
      onChange: (leader) => {
        log.notice(
          leader ? "this node now exports the fallback config" : "another node exports the fallback config",
        );
        if (leader) this.schedule();
      },
    });
  }

  start(): void {
    this.election.start();
  }

  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    await this.election.stop();
  }

  isLeader(): boolean {
    return this.election.isLeader();
  }

  /** A new config to export (the newest replaces any not yet written). */
  offer(json: string, hash: string): void {
    if (hash === this.lastExportedHash) return;
    this.pending = { json, hash };
    this.schedule();
  }

  private schedule(): void {
    if (this.timer || this.writing || !this.pending) return;
    const wait = Math.max(0, this.lastExportAt + this.opts.delayMs - Date.now());
    this.timer = setTimeout(() => {
      this.timer = null;
      void this.write();
    }, wait);
  }

  private async write(): Promise<void> {
    const next = this.pending;
    if (!next) return;
    if (!this.election.isLeader()) return; // onChange reschedules when leadership arrives
    this.writing = true;
    this.pending = null;
    try {
      const sealed = await sealConfig(next.json, {
        keyPem: this.opts.keyPem,
        certPem: this.opts.certPem,
        encryptionKey: this.opts.encryptionKey,
        nodeId: this.opts.nodeId,
        hostname: hostname(),
        version: this.opts.version,
        hash: next.hash,
      });
      const key = configKey(this.opts.location.prefix, this.opts.version);
      await this.opts.storage.put(key, sealed.body, sealed.metadata);
      this.lastExportedHash = next.hash;
      log.info(
        `exported config ${next.hash} to ${this.opts.location.provider}://${this.opts.location.bucket}/${key}`,
      );
    } catch (e) {
      // Retried at the next round; exports never affect proxying or the Admin API.
      this.pending ??= next;
      log.error(`fallback config export failed (will retry): ${describeFailure(e)}`);
    } finally {
      this.lastExportAt = Date.now();
      this.writing = false;
      this.schedule();
    }
  }
}
