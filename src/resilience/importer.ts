/** Fallback import for a new data plane that cannot reach its CP: fetch, verify, hand over; retried with backoff. */
import { logger } from "../log/logger";
import { type ClusterMtls, ImportError, type OpenedConfig, openConfig } from "./signing";
import { type ConfigStorage, describeFailure } from "./storage/types";
import { configKey, type StorageLocation } from "./storage/url";

const log = logger("resilience");

export interface ImporterOptions {
  storage: ConfigStorage;
  location: StorageLocation;
  version: string;
  mode: ClusterMtls;
  certPem: string;
  caPem?: string;
  encryptionKey?: string;
  /** Validates and applies the config; throws with the reasons when the DP's schemas refuse it. */
  apply(opened: OpenedConfig): void;
  /** Stop trying once this says the CP delivered a config. */
  satisfied(): boolean;
}

/** Kong never retries a failed import; gw does, until an import succeeds or the CP answers. */
export async function importFallbackConfig(opts: ImporterOptions): Promise<boolean> {
  const key = configKey(opts.location.prefix, opts.version);
  const where = `${opts.location.provider}://${opts.location.bucket}/${key}`;
  for (let attempt = 0; !opts.satisfied(); attempt++) {
    try {
      const stored = await opts.storage.get(key);
      if (!stored) throw new Error(`no fallback config at ${where}`);
      const opened = await openConfig(stored, {
        mode: opts.mode,
        certPem: opts.certPem,
        caPem: opts.caPem,
        encryptionKey: opts.encryptionKey,
        expectedVersion: opts.version,
      });
      if (opts.satisfied()) return false;
      opts.apply(opened);
      log.notice(
        `imported fallback config ${opened.hash} from ${where} (exported by ${opened.hostname} at ${opened.signedAt.toISOString()})`,
      );
      return true;
    } catch (e) {
      const reason = e instanceof ImportError || e instanceof Error ? e.message : describeFailure(e);
      const delay = Math.min(30_000, 1000 * 2 ** Math.min(attempt, 5)) * (0.5 + Math.random() / 2);
      log.error(`fallback config import failed: ${reason} (retrying in ${(delay / 1000).toFixed(1)} s)`);
      await Bun.sleep(delay);
    }
  }
  return false;
}
