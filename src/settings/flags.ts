/** Command-line settings: `-c/--conf FILE`, `-p/--prefix DIR`, `--<setting> VALUE`, `--<setting>=VALUE`; the rest is positional. */

export interface CliFlags {
  confPath?: string;
  /** Setting name (dashes read as underscores) to raw value. */
  flags: Record<string, string>;
  /** Positional arguments, in order; everything after `--` lands here too. */
  rest: string[];
}

const SHORT: Record<string, string> = { "-c": "conf", "-p": "prefix" };

/** `--name` with no value (last, or followed by another option) is a switch: `on`, as kong.conf booleans read it. */
export function parseCliFlags(argv: readonly string[]): CliFlags {
  const out: CliFlags = { flags: {}, rest: [] };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === "--") {
      out.rest.push(...argv.slice(i + 1));
      break;
    }
    const long = /^--([^=]+)(?:=(.*))?$/s.exec(arg);
    const name = long ? long[1]!.replaceAll("-", "_") : SHORT[arg];
    if (name === undefined) {
      out.rest.push(arg);
      continue;
    }
    let value = long?.[2];
    if (value === undefined) {
      const next = argv[i + 1];
      const takesNext = next !== undefined && !(next.startsWith("-") && next.length > 1);
      value = takesNext ? next : "on";
      if (takesNext) i++;
    }
    if (name === "conf") out.confPath = value;
    else out.flags[name] = value;
  }
  return out;
}
