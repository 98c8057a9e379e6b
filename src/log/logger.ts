/** Error log: leveled, one line per event, `[component]` prefix, secrets redacted before anything is written. */

export const LOG_LEVELS = ["debug", "info", "notice", "warn", "error", "crit", "alert", "emerg"] as const;
export type LogLevel = (typeof LOG_LEVELS)[number];

const rank = (level: LogLevel) => LOG_LEVELS.indexOf(level);

/** Field names whose values are never written to a log, whatever their nesting. */
const SECRET_KEY = /pass(word)?|secret|private|(^|_)key$|token|credential|authorization|service_account/i;

let threshold = rank("notice");
let sink: (line: string) => void = (line) => process.stderr.write(line);

export function setLogLevel(level: LogLevel): void {
  threshold = rank(level);
}

/** Redirects log lines (tests capture them; the CLI may point them at a file). */
export function setLogSink(write: (line: string) => void): void {
  sink = write;
}

/** Replaces the values of secret-looking keys, recursively, so a settings or entity dump is safe to log. */
export function redact(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(redact);
  if (value && typeof value === "object") {
    const out: Record<string, unknown> = {};
    for (const [k, v] of Object.entries(value)) {
      out[k] = SECRET_KEY.test(k) && v !== null && v !== undefined ? "******" : redact(v);
    }
    return out;
  }
  return value;
}

function format(arg: unknown): string {
  if (typeof arg === "string") return arg;
  if (arg instanceof Error) return arg.message;
  return JSON.stringify(redact(arg));
}

export interface Logger {
  debug(...args: unknown[]): void;
  info(...args: unknown[]): void;
  notice(...args: unknown[]): void;
  warn(...args: unknown[]): void;
  error(...args: unknown[]): void;
  crit(...args: unknown[]): void;
}

/** A logger whose lines read `2026/11/29 03:41:05 [warn] 1234#0: [clustering] message`, nginx style as Kong users know it. */
export function logger(component: string): Logger {
  const emit =
    (level: LogLevel) =>
    (...args: unknown[]) => {
      if (rank(level) < threshold) return;
      const ts = new Date().toISOString().replace("T", " ").replace(/-/g, "/").slice(0, 19);
      sink(`${ts} [${level}] ${process.pid}#0: [${component}] ${args.map(format).join(" ")}\n`);
    };
  return {
    debug: emit("debug"),
    info: emit("info"),
    notice: emit("notice"),
    warn: emit("warn"),
    error: emit("error"),
    crit: emit("crit"),
  };
}
