/** Reads `declarative_config` / `declarative_config_string` into a validated config table and its DB-less hash. */
import { readFileSync } from "node:fs";
import { type ConfigTable, DeclarativeError, parseDeclarativeText } from "../entities/declarative";
import { fileHash } from "../entities/hash";
import type { PluginSchemas } from "../entities/schemas";
import type { Settings } from "../settings";
import { StartupError } from "./startup-error";

export interface DeclarativeSource {
  table: ConfigTable;
  hash: string;
  text: string;
  origin: string;
}

/** Null when neither setting is given; a StartupError listing every problem when the file is invalid. */
export function readDeclarativeSource(s: Settings, plugins: PluginSchemas): DeclarativeSource | null {
  let text: string;
  let origin: string;
  if (s.declarative_config_string) {
    text = s.declarative_config_string;
    origin = "declarative_config_string";
  } else if (s.declarative_config) {
    try {
      text = readFileSync(s.declarative_config, "utf8");
    } catch (e) {
      throw new StartupError([
        `declarative_config: cannot read ${s.declarative_config} (${(e as NodeJS.ErrnoException).code ?? "error"})`,
      ]);
    }
    origin = s.declarative_config;
  } else {
    return null;
  }
  try {
    const table = parseDeclarativeText(text, { plugins, filename: s.declarative_config ?? undefined });
    return { table, hash: fileHash(text), text, origin };
  } catch (e) {
    if (e instanceof DeclarativeError) {
      throw new StartupError([
        `error parsing declarative config file ${origin}:`,
        ...e.lines.map((l) => `  ${l}`),
      ]);
    }
    throw e;
  }
}
