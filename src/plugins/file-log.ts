/** file-log: appends each request's serialized log entry to a file, one JSON object per line. */
import { closeSync, openSync, writeSync } from "node:fs";
import { z } from "zod";
import { bool, check, req, str } from "../entities/fields";
import { logger } from "../log/logger";
import { luaCode } from "./http-log";
import { noticeIgnoredLua, recordResponse, serialize } from "./log-serializer";
import { definePlugin } from "./plugin";

const log = logger("file-log");

const FILENAME = /^[^\s*&%\\`][^*&%\\`]*[^\s*&%\\`]$/;

export const fileLogSchema = z.strictObject({
  path: check(str(), (v) => (FILENAME.test(v) ? undefined : "not a valid filename")),
  reopen: req(bool().default(false)),
  custom_fields_by_lua: luaCode(),
});

type FileLogConfig = z.output<typeof fileLogSchema>;

/** Open descriptors by path, shared by every config that logs to the same file (as Kong's handler does). */
const descriptors = new Map<string, number>();

function descriptor(conf: FileLogConfig): number | null {
  let fd = descriptors.get(conf.path);
  if (fd !== undefined && conf.reopen) {
    // Reopening lets log rotation move the file away under gw.
    closeSync(fd);
    descriptors.delete(conf.path);
    fd = undefined;
  }
  if (fd === undefined) {
    try {
      fd = openSync(conf.path, "a", 0o644);
    } catch (e) {
      log.error(`failed to open the file: ${(e as Error).message}`);
      return null;
    }
    descriptors.set(conf.path, fd);
  }
  return fd;
}

/** Closes every log file (node shutdown, tests). */
export function closeFileLogs(): void {
  for (const fd of descriptors.values()) closeSync(fd);
  descriptors.clear();
}

export const fileLog = definePlugin<FileLogConfig>({
  name: "file-log",
  version: "3.10.0",
  priority: 9,
  configSchema: fileLogSchema,
  headerFilter(ctx, _conf, res) {
    recordResponse(ctx, res);
  },
  log(ctx, conf, entry) {
    noticeIgnoredLua("file-log", conf);
    const fd = descriptor(conf);
    if (fd === null) return;
    try {
      // One write per line, on a descriptor opened for append, so concurrent writers never interleave mid-line.
      writeSync(fd, `${JSON.stringify(serialize(ctx, entry))}\n`);
    } catch (e) {
      log.error(`failed to write to ${conf.path}: ${(e as Error).message}`);
    }
  },
});
