/** `gw migrations bootstrap | up | list | reset [--yes]`. */
import { migrationsCommand as run } from "../store/migrations";
import { settingsFromArgs } from "./settings-args";

export async function migrationsCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const yes = rest.includes("--yes") || rest.includes("-y");
  const loaded = settingsFromArgs(rest.filter((a) => a !== "--yes" && a !== "-y"));
  if (!loaded) return 1;
  const result = await run(verb ?? "", loaded.settings, { yes });
  (result.code === 0 ? process.stdout : process.stderr).write(`${result.output}\n`);
  return result.code;
}
