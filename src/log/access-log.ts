/** Proxy access log in Kong's default format, buffered and flushed in batches so logging never blocks a response. */
import { appendFileSync, mkdirSync } from "node:fs";
import { dirname } from "node:path";

const MONTHS = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];

/** nginx's `$time_local`, e.g. `29/Nov/2026:03:41:05 +0000` (gw logs in UTC). */
function timeLocal(d: Date): string {
  const p = (n: number) => String(n).padStart(2, "0");
  return `${p(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:${p(d.getUTCHours())}:${p(d.getUTCMinutes())}:${p(d.getUTCSeconds())} +0000`;
}

export interface AccessEntry {
  remoteAddr: string;
  method: string;
  target: string;
  httpVersion: string;
  status: number;
  bytesSent: number;
  referer: string | null;
  userAgent: string | null;
  requestId: string;
}

export interface AccessLog {
  write(entry: AccessEntry): void;
  flush(): void;
}

/** `off` → null; `/dev/stdout` and `/dev/stderr` → the process streams; anything else → an appended file. */
export function openAccessLog(target: string | null | undefined): AccessLog | null {
  if (!target || target === "off") return null;
  const write =
    target === "/dev/stdout"
      ? (s: string) => process.stdout.write(s)
      : target === "/dev/stderr"
        ? (s: string) => process.stderr.write(s)
        : fileWriter(target);
  let buffer: string[] = [];
  const flush = () => {
    if (buffer.length === 0) return;
    const lines = buffer.join("");
    buffer = [];
    write(lines);
  };
  setInterval(flush, 200).unref();
  process.on("exit", flush);
  return {
    write(e) {
      buffer.push(
        `${e.remoteAddr} - - [${timeLocal(new Date())}] "${e.method} ${e.target} HTTP/${e.httpVersion}" ${e.status} ${e.bytesSent} "${e.referer ?? "-"}" "${e.userAgent ?? "-"}" kong_request_id: "${e.requestId}"\n`,
      );
      if (buffer.length >= 512) flush();
    },
    flush,
  };
}

function fileWriter(path: string): (s: string) => void {
  mkdirSync(dirname(path), { recursive: true });
  return (s) => appendFileSync(path, s, { mode: 0o640 });
}
