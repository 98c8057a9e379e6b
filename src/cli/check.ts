/** `gw check`: loads settings exactly as `gw start` would and reports every problem. */
import { settingsFromArgs } from "./settings-args";

export async function checkCommand(args: string[]): Promise<number> {
  const loaded = settingsFromArgs(args);
  if (!loaded) return 1;
  process.stdout.write("configuration is valid\n");
  return 0;
}
