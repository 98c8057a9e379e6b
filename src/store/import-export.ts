/** `gw config db_import` / `db_export`: declarative text into the store, and the store back out as a declarative file. */
import { existsSync } from "node:fs";
import { DeclarativeError, type ParseOptions, parseDeclarativeText } from "../entities/declarative";
import { writeFileAtomic } from "../support/files";
import type { ConfigTable, ImportResult, Row, Store } from "./store";

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

/**
 * The parser stamps rows the file gives no timestamps with its clock; this impossible clock marks them, so the
 * import keeps the stored timestamps of unchanged rows instead of rewriting every row on every import.
 */
const UNSTAMPED = -1;

function dropParserTimestamps(table: ConfigTable): ConfigTable {
  for (const [key, rows] of Object.entries(table)) {
    if (key.startsWith("_") || !Array.isArray(rows)) continue;
    for (const row of rows as Row[]) {
      // Left in place as undefined so the stamp the import adds keeps the field's position in the row.
      if (row.created_at === UNSTAMPED) row.created_at = undefined;
      if (row.updated_at === UNSTAMPED) row.updated_at = undefined;
    }
  }
  return table;
}

/**
 * `gw config db_import FILE`: parses the file (YAML, or JSON for `.json`) and loads it in one transaction. Importing
 * the same file again changes nothing. Errors read as Kong's: `Failed parsing:` / `Failed importing:` and the causes.
 */
export async function dbImport(
  store: Store,
  text: string,
  filename: string,
  options: Pick<ParseOptions, "plugins"> = {},
): Promise<ImportResult> {
  let table: ConfigTable;
  try {
    table = parseDeclarativeText(text, { ...options, filename, now: UNSTAMPED }) as unknown as ConfigTable;
  } catch (error) {
    if (error instanceof DeclarativeError)
      throw new Error(`Failed parsing:\n${error.message}`, { cause: error });
    throw error;
  }
  try {
    return await store.importAll(dropParserTimestamps(table));
  } catch (error) {
    throw new Error(`Failed importing:\n${(error as Error).message}`, { cause: error });
  }
}
