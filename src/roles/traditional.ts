/** `role = traditional` with a database: Admin API and proxy in one node; every committed change reaches the proxy. */
import { ActiveConfig } from "../config/active";
import { configHash } from "../entities/hash";
import { logger } from "../log/logger";
import type { Store } from "../store/store";
import { startAdmin } from "./admin";
import { databaseStatus } from "./database-status";
import { type NodeKit, startStatus } from "./kit";
import { startNodeProxy } from "./proxy";
import { openNodeStore } from "./store";

const log = logger("kong");

/** Rebuilds the proxy's config from the store after changes; changes during a rebuild cause exactly one more. */
function followStore(store: Store, active: ActiveConfig): () => Promise<void> {
  let running: Promise<void> | null = null;
  let again = false;
  const rebuild = async () => {
    do {
      again = false;
      try {
        const exported = await store.exportAll({ skipDisabled: true });
        const hashes = configHash(exported);
        if (hashes.config !== active.hash) active.applyInput(exported, hashes.config, "database");
      } catch (e) {
        log.error(
          `unable to rebuild the router from the database: ${e instanceof Error ? e.message : String(e)}`,
        );
      }
    } while (again);
    running = null;
  };
  store.onChange(() => {
    if (running) again = true;
    else running = rebuild();
  });
  return async () => {
    running ??= rebuild();
    await running;
  };
}

export async function startTraditional(kit: NodeKit): Promise<void> {
  const store = await openNodeStore(kit);
  const active = new ActiveConfig(kit.plugins, kit.pluginSchemas, kit.id);
  await followStore(store, active)();
  // Kong binds every listener before it answers anything: /status only once the proxy listens.
  await startNodeProxy(kit, active);
  await startStatus(
    kit,
    databaseStatus(store, () => active.table !== null),
  );
  await startAdmin(kit, { store });
}
