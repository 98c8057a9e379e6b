/** `gw config db_import` / `db_export`: declarative text into the store, and the store back out as a declarative file. */
import { existsSync } from "node:fs";
import { writeFileAtomic } from "../support/files";
import type { Store } from "./store";

/** Kong's `db_export` default file name. */
export const DEFAULT_EXPORT_FILE = "./kong.yml";

/** The whole store as Kong's `db_export` writes it: YAML unless the file name says JSON. */
export async function dbExport(store: Store, filename = DEFAULT_EXPORT_FILE): Promise<string> {
  const table = await store.exportAll();
  return filename.endsWith(".json")
    ? `${JSON.stringify(table, null, 2)}\n`
    : Bun.YAML.stringify(table, null, 2);
}

/** Writes an export where Kong would, refusing to overwrite an existing file with Kong's message. */
export async function dbExportToFile(store: Store, filename = DEFAULT_EXPORT_FILE): Promise<void> {
  if (existsSync(filename)) throw new Error(`${filename} already exists. Will not overwrite it.`);
  writeFileAtomic(filename, await dbExport(store, filename));
}
