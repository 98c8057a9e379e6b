/** `gw config parse | db_import | db_export`: declarative files offline and against the database. */
import { readFileSync } from "node:fs";
import { DeclarativeError, parseDeclarativeText } from "../entities/declarative";
import { pluginSchemas, pluginsFor } from "../plugins/registry";
import { DEFAULT_EXPORT_FILE, dbExportToFile, dbImport } from "../store/import-export";
import { openStore } from "../store/index";
import { entityModels } from "../store/registry";
import { settingsFromArgs } from "./settings-args";

function readFile(path: string | undefined): string | null {
  if (!path) {
    process.stderr.write("Error: missing file argument (usage: gw config <parse|db_import> FILE)\n");
    return null;
  }
  try {
    return readFileSync(path, "utf8");
  } catch (e) {
    process.stderr.write(
      `Error: cannot read ${path}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}\n`,
    );
    return null;
  }
}

export async function configCommand(args: string[]): Promise<number> {
  const [verb, ...rest] = args;
  const loaded = settingsFromArgs(rest);
  if (!loaded) return 1;
  const { settings } = loaded;
  const [file] = loaded.rest;
  const plugins = pluginSchemas(pluginsFor(settings.plugins));
  switch (verb) {
    case "parse": {
      const text = readFile(file);
      if (text === null) return 1;
      try {
        parseDeclarativeText(text, { plugins, filename: file });
      } catch (e) {
        if (!(e instanceof DeclarativeError)) throw e;
        process.stderr.write(`Error: Failed parsing:\n${e.lines.map((l) => `  ${l}`).join("\n")}\n`);
        return 1;
      }
      process.stdout.write(`parse successful\n`);
      return 0;
    }
    case "db_import":
    case "db_export": {
      if (settings.database === "off") {
        process.stderr.write(
          `Error: 'gw config ${verb}' needs a database: set database = sqlite or postgres\n`,
        );
        return 1;
      }
      const text = verb === "db_import" ? readFile(file) : "";
      if (text === null) return 1;
      const store = await openStore(settings, entityModels());
      try {
        if (verb === "db_import") {
          const r = await dbImport(store, text, file!, { plugins });
          process.stdout.write(
            `parse successful, beginning import\nimport successful (${r.inserted} inserted, ${r.updated} updated, ${r.unchanged} unchanged)\n`,
          );
        } else {
          await dbExportToFile(store, file ?? DEFAULT_EXPORT_FILE);
          process.stdout.write(`exported to ${file ?? DEFAULT_EXPORT_FILE}\n`);
        }
        return 0;
      } catch (e) {
        process.stderr.write(`Error: ${(e as Error).message}\n`);
        return 1;
      } finally {
        await store.close();
      }
    }
    default:
      process.stderr.write(
        `Error: unknown config command '${verb ?? ""}' (expected parse, db_import or db_export)\n`,
      );
      return 1;
  }
}
