import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { setLogSink } from "../../src/log/logger";
import { closeFileLogs, fileLog } from "../../src/plugins/file-log";
import { config, configErrors, logEntry, makeContext, request, responseView } from "./helpers";

const dir = mkdtempSync(join(tmpdir(), "gw-file-log-"));
afterAll(() => {
  closeFileLogs();
  rmSync(dir, { recursive: true, force: true });
});

function logRequest(conf: unknown, path: string, status = 200) {
  const ctx = makeContext(request(path));
  fileLog.headerFilter!(ctx, conf, responseView(status, { "content-type": "text/plain" }));
  fileLog.log!(ctx, conf, logEntry(status));
}

const readLines = (file: string) =>
  readFileSync(file, "utf8")
    .trimEnd()
    .split("\n")
    .map((l) => JSON.parse(l));

describe("file-log", () => {
  test("config: path is required and must look like a file name; Lua fields are accepted", () => {
    expect(configErrors(fileLog, {})).toEqual({ path: "required field missing" });
    expect(configErrors(fileLog, { path: " /tmp/x" })).toEqual({ path: "not a valid filename" });
    expect(config(fileLog, { path: "/tmp/x.log", custom_fields_by_lua: { a: "return 1" } })).toMatchObject({
      reopen: false,
    });
  });

  test("one JSON line per request, appended", () => {
    const file = join(dir, "access.log");
    const conf = config(fileLog, { path: file });
    logRequest(conf, "/one");
    logRequest(conf, "/two", 404);
    const [a, b] = readLines(file);
    expect(a.request.uri).toBe("/one");
    expect(b.request.uri).toBe("/two");
    expect(b.response.status).toBe(404);
    expect(b.response.headers["content-type"]).toBe("text/plain");
  });

  test("reopen follows a rotated file; without it gw keeps writing to the moved one", () => {
    const file = join(dir, "rotating.log");
    const reopening = config(fileLog, { path: file, reopen: true });
    logRequest(reopening, "/before");
    renameSync(file, `${file}.1`);
    logRequest(reopening, "/after");
    expect(readLines(file).map((l) => l.request.uri)).toEqual(["/after"]);
    expect(readLines(`${file}.1`).map((l) => l.request.uri)).toEqual(["/before"]);
  });

  test("custom_fields_by_lua is accepted, not run, and said so once", () => {
    const lines: string[] = [];
    const file = join(dir, "lua.log");
    const conf = config(fileLog, { path: file, custom_fields_by_lua: { extra: "return 1" } });
    setLogSink((l) => lines.push(l));
    try {
      logRequest(conf, "/a");
      logRequest(conf, "/b");
    } finally {
      setLogSink((l) => process.stderr.write(l));
    }
    expect(lines.filter((l) => l.includes("custom_fields_by_lua is ignored"))).toHaveLength(1);
    expect(readLines(file).every((l) => l.extra === undefined)).toBe(true);
  });

  test("an unwritable path is logged, never thrown", () => {
    const conf = config(fileLog, { path: join(dir, "missing-dir", "x.log") });
    expect(() => logRequest(conf, "/")).not.toThrow();
  });
});
