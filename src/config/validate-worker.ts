/** Worker entry: validates pushed configs off the proxy's event loop, with this node's plugins and a memo of rows. */
import { DeclarativeError, parseDeclarative, ValidatedRows } from "../entities/declarative";
import type { PluginSchemas } from "../entities/schemas";
import { pluginSchemas, pluginsFor } from "../plugins/registry";
import type { ValidateRequest, ValidateResult } from "./validator";

declare const self: Worker;

let schemas: { plugins: string; value: PluginSchemas } | null = null;
/** Rows of the last config this worker validated: a push that changes a few entities validates only those. */
const validated = new ValidatedRows();

self.onmessage = (event: MessageEvent<ValidateRequest>) => {
  const { id, input, plugins } = event.data;
  const key = plugins.join(",");
  if (schemas?.plugins !== key) schemas = { plugins: key, value: pluginSchemas(pluginsFor(plugins)) };
  let result: ValidateResult;
  try {
    result = { id, ok: true, table: parseDeclarative(input, { plugins: schemas.value, reuse: validated }) };
  } catch (e) {
    result =
      e instanceof DeclarativeError
        ? { id, ok: false, issues: e.issues }
        : { id, ok: false, message: e instanceof Error ? e.message : String(e) };
  }
  self.postMessage(result);
};
