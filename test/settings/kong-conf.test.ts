import { describe, expect, test } from "bun:test";
import { parseBoolean, parseKongConf, parseList, stripComment } from "../../src/settings/kong-conf";

describe("kong.conf grammar", () => {
  test("key = value lines, with or without spaces, keep their line numbers", () => {
    const { entries, malformed } = parseKongConf("# header\n\nrole = data_plane\n  database=off  \n");
    expect(entries.get("role")).toEqual({ value: "data_plane", line: 3 });
    expect(entries.get("database")).toEqual({ value: "off", line: 4 });
    expect(malformed).toEqual([]);
  });

  test("an inline comment is dropped with the whitespace before it", () => {
    const { entries } = parseKongConf("log_level = debug   # very chatty\n");
    expect(entries.get("log_level")?.value).toBe("debug");
  });

  test("an escaped \\# is a literal #, and an inline comment after it still ends the value", () => {
    const { entries } = parseKongConf("pg_password = pa\\#ss\\#word # the password\n");
    expect(entries.get("pg_password")?.value).toBe("pa#ss#word");
  });

  test("a commented-out setting, as in kong.conf.default, is not a setting", () => {
    const { entries } = parseKongConf("#role = control_plane\n   # database = off\n");
    expect(entries.size).toBe(0);
  });

  test("an empty value is kept as empty (unset), and a value that is only a comment is empty", () => {
    const { entries } = parseKongConf("pg_password =\ncluster_cert = # none yet\n");
    expect(entries.get("pg_password")?.value).toBe("");
    expect(entries.get("cluster_cert")?.value).toBe("");
  });

  test("a key given twice keeps the later line", () => {
    const { entries } = parseKongConf("role = control_plane\nrole = data_plane\n");
    expect(entries.get("role")).toEqual({ value: "data_plane", line: 2 });
  });

  test("lines that are not key = value are reported with their line numbers", () => {
    const { malformed } = parseKongConf("role = traditional\nthis is not a setting\n= value\n");
    expect(malformed).toEqual([
      { line: 2, text: "this is not a setting" },
      { line: 3, text: "= value" },
    ]);
  });

  test("Windows line endings parse the same", () => {
    const { entries } = parseKongConf("role = data_plane\r\ndatabase = off\r\n");
    expect(entries.get("role")?.value).toBe("data_plane");
    expect(entries.get("database")?.value).toBe("off");
  });

  test("stripComment leaves values without comments alone", () => {
    expect(stripComment("s3://bucket/prefix")).toBe("s3://bucket/prefix");
  });

  test("booleans: on/off and true/false, any case; anything else is not a boolean", () => {
    expect([parseBoolean("on"), parseBoolean("TRUE"), parseBoolean("off"), parseBoolean("false")]).toEqual([
      true,
      true,
      false,
      false,
    ]);
    expect(parseBoolean("yes")).toBeUndefined();
  });

  test("lists are split on commas, trimmed, with empty items dropped", () => {
    expect(parseList(" a , b,,c , ")).toEqual(["a", "b", "c"]);
    expect(parseList("")).toEqual([]);
  });
});
