/** Opens the configured store (`database = sqlite | postgres`) after checking its schema is current. */
import { explainConnectionError, openDriver, type StoreSettings } from "./connect";
import { SqlStore } from "./engine";
import {
  assertMigrationsCover,
  bootstrap,
  NEEDS_BOOTSTRAP,
  NEW_MIGRATIONS,
  schemaState,
  up,
} from "./migrations";
import type { ModelSet } from "./model";
import { entityModels } from "./registry";
import type { Store } from "./store";

export type { StoreSettings } from "./connect";
export type * from "./store";

/**
 * SQLite is the embedded store that needs nothing installed: it bootstraps and migrates itself on open, since only
 * this node uses the file. PostgreSQL is shared by several nodes, so as in Kong an operator runs `gw migrations`.
 */
export async function openStore(settings: StoreSettings, models: ModelSet = entityModels()): Promise<Store> {
  assertMigrationsCover(models);
  const driver = openDriver(settings);
  try {
    const state = await schemaState(driver);
    if (settings.database === "sqlite") {
      if (!state.bootstrapped) await bootstrap(driver, models);
      else if (state.pending.length > 0) await up(driver, models);
    } else if (!state.bootstrapped) {
      throw new Error(NEEDS_BOOTSTRAP);
    } else if (state.pending.length > 0) {
      throw new Error(NEW_MIGRATIONS);
    }
    return await SqlStore.open(driver, models);
  } catch (error) {
    await driver.close().catch(() => {});
    throw explainConnectionError(settings, error);
  }
}
