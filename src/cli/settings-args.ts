/** Turns a command's arguments into settings (or a printed list of problems), the same way for every command. */
import { formatSettingErrors, loadSettings, parseCliFlags, type Settings } from "../settings";

export interface CommandSettings {
  settings: Settings;
  /** Positional arguments left after the options. */
  rest: string[];
}

/** Null after printing every problem (the caller exits 1). */
export function settingsFromArgs(
  args: readonly string[],
  overrides: Record<string, string> = {},
): CommandSettings | null {
  const cli = parseCliFlags(args);
  const result = loadSettings({
    confPath: cli.confPath,
    env: process.env,
    flags: { ...overrides, ...cli.flags },
  });
  for (const w of result.warnings) process.stderr.write(`warning: ${w}\n`);
  if (!result.ok) {
    process.stderr.write(`Error: invalid configuration:\n${formatSettingErrors(result.errors)}\n`);
    return null;
  }
  return { settings: result.settings, rest: cli.rest };
}
