/** The kong.conf grammar as Kong reads it: `key = value` lines, `#` comments (`\#` is a literal), on/off booleans, comma lists. */

export interface ConfEntry {
  /** Comment stripped, `\#` unescaped, trimmed; "" means the setting is unset. */
  value: string;
  line: number;
}

export interface ParsedConf {
  /** A key given twice keeps its later line, as Kong's reader does. */
  entries: Map<string, ConfEntry>;
  /** Non-blank, non-comment lines that are not `key = value`. */
  malformed: { line: number; text: string }[];
}

const KEY_LINE = /^([A-Za-z_][A-Za-z0-9_.-]*)\s*=(.*)$/;

/** Kong drops everything from the first `#` not preceded by a backslash, with the whitespace before it. */
export function stripComment(value: string): string {
  return value.replace(/\s*(?<!\\)#.*$/, "").replaceAll("\\#", "#");
}

export function parseKongConf(text: string): ParsedConf {
  const entries = new Map<string, ConfEntry>();
  const malformed: ParsedConf["malformed"] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const trimmed = raw.trim();
    if (trimmed === "" || trimmed.startsWith("#")) return;
    const match = KEY_LINE.exec(trimmed);
    if (!match) malformed.push({ line: index + 1, text: trimmed });
    else entries.set(match[1]!, { value: stripComment(match[2]!).trim(), line: index + 1 });
  });
  return { entries, malformed };
}

/** `on`/`true` and `off`/`false`, as kong.conf.default documents; anything else is not a boolean. */
export function parseBoolean(value: string): boolean | undefined {
  const v = value.trim().toLowerCase();
  if (v === "on" || v === "true") return true;
  if (v === "off" || v === "false") return false;
  return undefined;
}

/** Comma-separated, each item trimmed, empty items dropped. */
export function parseList(value: string): string[] {
  return value
    .split(",")
    .map((item) => item.trim())
    .filter((item) => item !== "");
}
