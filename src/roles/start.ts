/** Starts a node in its role: settings → role → (store → admin → cluster push) or (sources → config → proxy). */
import { logger } from "../log/logger";
import type { Settings } from "../settings";
import { GW_VERSION } from "../version";
import { startControlPlane } from "./control-plane";
import { startDataPlane } from "./data-plane";
import { startDbless } from "./dbless";
import { createKit, handleSignals } from "./kit";
import { startTraditional } from "./traditional";

const log = logger("kong");

export async function startNode(settings: Settings): Promise<void> {
  const kit = createKit(settings);
  handleSignals(kit);
  const role =
    settings.role === "traditional" && settings.database === "off" ? "traditional (DB-less)" : settings.role;
  log.notice(`gw ${GW_VERSION} starting: role ${role}, node ${kit.id}, prefix ${settings.prefix}`);
  if (settings.role === "control_plane") await startControlPlane(kit);
  else if (settings.role === "data_plane") await startDataPlane(kit);
  else if (settings.database === "off") await startDbless(kit);
  else await startTraditional(kit);
  log.notice("gw started");
}
