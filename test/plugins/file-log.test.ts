import { afterAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, renameSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
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

const lines = (file: string) =>
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
    const [a, b] = lines(file);
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
    expect(lines(file).map((l) => l.request.uri)).toEqual(["/after"]);
    expect(lines(`${file}.1`).map((l) => l.request.uri)).toEqual(["/before"]);
  });

  test("an unwritable path is logged, never thrown", () => {
    const conf = config(fileLog, { path: join(dir, "missing-dir", "x.log") });
    expect(() => logRequest(conf, "/")).not.toThrow();
  });
});
