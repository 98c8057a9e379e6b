/** The binary's commands as a user runs them: help, version, check, config parse, start-up failures. */
import { describe, expect, test } from "bun:test";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { runGw, tempDir } from "../helpers/gw";

describe("gw help and version", () => {
  test("--help lists the commands; help <command> shows its options", async () => {
    const help = await runGw(["--help"]);
    expect(help.code).toBe(0);
    for (const c of ["start", "check", "config", "hybrid", "migrations", "version"])
      expect(help.stdout).toContain(c);
    const hybrid = await runGw(["help", "hybrid"]);
    expect(hybrid.stdout).toContain("gen_cert");
  });

  test("version names gw and the Kong version it mirrors", async () => {
    const v = await runGw(["version"]);
    expect(v.code).toBe(0);
    expect(v.stdout).toMatch(/^gw \d+\.\d+\.\d+ \(Kong Gateway \d+\.\d+\.\d+ compatible/);
  });

  test("an unknown command says so and exits 1", async () => {
    const r = await runGw(["frobnicate"]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain("unknown command 'frobnicate'");
  });
});

describe("gw check", () => {
  test("a valid kong.conf passes", async () => {
    const dir = tempDir("check");
    const conf = join(dir, "kong.conf");
    writeFileSync(conf, "role = traditional   # inline comment\ndatabase = sqlite\nlog_level = info\n");
    const r = await runGw(["check", "-c", conf]);
    expect(r.output).toContain("valid");
    expect(r.code).toBe(0);
  });

  test("every problem is reported with the setting and the fix, exit 1", async () => {
    const dir = tempDir("check");
    const conf = join(dir, "kong.conf");
    writeFileSync(
      conf,
      "role = data_plane\ndatabase = sqlite\ncluster_mtls = bogus\nproxy_listen = nonsense\n",
    );
    const r = await runGw(["check", "-c", conf]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("cluster_mtls");
    expect(r.output).toContain("proxy_listen");
    expect(r.output).toContain('only in-memory storage can be used when role = "data_plane"');
  });

  test("KONG_* environment overrides the file, and flags override both", async () => {
    const dir = tempDir("check");
    const conf = join(dir, "kong.conf");
    writeFileSync(conf, "log_level = nonsense\n");
    expect((await runGw(["check", "-c", conf])).code).toBe(1);
    expect((await runGw(["check", "-c", conf], { KONG_LOG_LEVEL: "debug" })).code).toBe(0);
    expect(
      (await runGw(["check", "-c", conf, "--log_level", "warn"], { KONG_LOG_LEVEL: "bogus" })).code,
    ).toBe(0);
  });
});

describe("gw config parse", () => {
  test("a valid declarative file parses", async () => {
    const r = await runGw(["config", "parse", join(import.meta.dir, "../../examples/kong.yml")]);
    expect(r.code).toBe(0);
    expect(r.output).toContain("parse successful");
  });

  test("all errors at once, each with the path to the bad field", async () => {
    const dir = tempDir("parse");
    const file = join(dir, "bad.yml");
    writeFileSync(
      file,
      `_format_version: "3.0"
services:
  - name: s
    host: example.com
    port: 99999
    routes:
      - name: r
        paths: ["no-slash"]
      - name: r2
        protocols: ["carrier-pigeon"]
        paths: ["/ok"]
`,
    );
    const r = await runGw(["config", "parse", file]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("services[0].port");
    expect(r.output).toContain("services[0].routes[0].paths[0]");
    expect(r.output).toContain("services[0].routes[1].protocols");
  });

  test("a file that is not YAML at all", async () => {
    const dir = tempDir("parse");
    const file = join(dir, "broken.yml");
    writeFileSync(file, "_format_version: [\n");
    const r = await runGw(["config", "parse", file]);
    expect(r.code).toBe(1);
    expect(r.output.toLowerCase()).toContain("yaml");
  });
});

describe("start-up failures", () => {
  test("a bad setting stops start-up with the same message as check, and no stack trace", async () => {
    const r = await runGw(["start", "--role", "data_plane", "--database", "sqlite"]);
    expect(r.code).toBe(1);
    expect(r.output).toContain('only in-memory storage can be used when role = "data_plane"');
    expect(r.output).not.toMatch(/\bat .*\.ts:\d+/);
  });

  test("a bad declarative_config stops a DB-less node with the path to the bad field", async () => {
    const dir = tempDir("badcfg");
    const file = join(dir, "kong.yml");
    writeFileSync(
      file,
      `_format_version: "3.0"\nservices:\n  - name: s\n    host: example.com\n    port: -1\n`,
    );
    const r = await runGw(["start", "--database", "off", "--declarative_config", file, "--prefix", dir]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("services[0].port");
  });
});
