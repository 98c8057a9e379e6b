/** `role = traditional`, `database = off`: serves `declarative_config`; `POST /config` replaces it at run time. */

import { registerDblessConfig } from "../admin/dbless-config";
import { ActiveConfig } from "../config/active";
import { ConfigTableReader } from "../config/table-reader";
import { startAdmin } from "./admin";
import { readDeclarativeSource } from "./declarative-source";
import { configStatus, type NodeKit, startStatus } from "./kit";
import { startNodeProxy } from "./proxy";

export async function startDbless(kit: NodeKit): Promise<void> {
  const active = new ActiveConfig(kit.plugins, kit.pluginSchemas, kit.id);
  const source = readDeclarativeSource(kit.settings, kit.pluginSchemas);
  if (source) active.apply(source.table, source.hash, source.origin);
  // Kong binds every listener before it answers anything: /status only once the proxy listens.
  await startNodeProxy(kit, active);
  await startStatus(kit, configStatus(active, kit.id));
  await startAdmin(
    kit,
    {
      store: null,
      reader: new ConfigTableReader(() => active.table),
      pluginsInUse: () => [...new Set(active.table?.plugins.map((p) => p.name))],
    },
    (app) => registerDblessConfig(app, active),
  );
}
