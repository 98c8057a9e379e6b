/** Opens the node's store from its settings; closing it is part of shutdown. */
import { openStore } from "../store/index";
import { entityModels } from "../store/registry";
import type { Store } from "../store/store";
import type { NodeKit } from "./kit";
import { StartupError } from "./startup-error";

export async function openNodeStore(kit: NodeKit): Promise<Store> {
  let store: Store;
  try {
    store = await openStore(kit.settings, entityModels());
  } catch (e) {
    throw new StartupError([e instanceof Error ? e.message : String(e)]);
  }
  kit.closers.push(() => store.close());
  return store;
}
