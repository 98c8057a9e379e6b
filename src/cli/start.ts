/** `gw start`: loads settings, then runs the node for its role until a signal stops it. */
import { logger } from "../log/logger";
import { startNode } from "../roles/start";
import { StartupError } from "../roles/startup-error";
import { settingsFromArgs } from "./settings-args";

const log = logger("kong");

export async function startCommand(args: string[]): Promise<number> {
  const loaded = settingsFromArgs(args);
  if (!loaded) return 1;
  try {
    await startNode(loaded.settings);
  } catch (e) {
    if (e instanceof StartupError) {
      process.stderr.write(`Error: ${e.message}\n`);
      return 1;
    }
    log.crit(`could not start: ${e instanceof Error ? e.message : String(e)}`);
    return 1;
  }
  return -1;
}
