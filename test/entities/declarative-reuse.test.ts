/** Validation reuse between pushes: reused rows give exactly a full parse's table; changed rows and whole-config checks still run. */
import { describe, expect, test } from "bun:test";
import {
  type ConfigTable,
  DeclarativeError,
  exportConfigTable,
  type ParseOptions,
  parseDeclarative,
  ValidatedRows,
} from "../../src/entities/declarative";
import { pluginSchemas, pluginsFor } from "../../src/plugins/registry";

const plugins = pluginSchemas(pluginsFor(["bundled"]));

/** What a CP pushes: Kong's export shape, ids and timestamps included (the key-auth id is random: made once). */
const PUSHED = exportConfigTable(
  parseDeclarative(
    {
      _format_version: "3.0",
      services: [
        {
          name: "orders",
          url: "http://orders.internal:8080/v1",
          routes: [
            { name: "orders", paths: ["/orders"] },
            { name: "refunds", paths: ["/refunds"], methods: ["POST"] },
          ],
          plugins: [{ name: "rate-limiting", config: { minute: 10, policy: "local" } }],
        },
      ],
      consumers: [{ username: "alice", custom_id: "a-1", keyauth_credentials: [{ key: "alice-key" }] }],
      plugins: [{ name: "cors" }],
    },
    { plugins, now: 1700000000 },
  ),
);
const pushed = (): Record<string, unknown> => structuredClone(PUSHED);

const rows = (config: Record<string, unknown>, entity: string) => config[entity] as Record<string, unknown>[];

/** The problems a config is refused with, in full (lines and Kong's flattened per-entity errors). */
function refusal(input: unknown, opts: ParseOptions) {
  try {
    parseDeclarative(input, opts);
  } catch (e) {
    if (e instanceof DeclarativeError) return { lines: e.lines, flattened: e.flattened() };
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("validated rows reused between pushes", () => {
  test("an unchanged push gives the table a full parse gives, built from the previous push's rows", () => {
    const reuse = new ValidatedRows();
    const first = parseDeclarative(pushed(), { plugins, reuse, now: 1 });
    const second = parseDeclarative(pushed(), { plugins, reuse, now: 2 });
    expect(second).toStrictEqual(parseDeclarative(pushed(), { plugins, now: 2 }));
    expect(second.routes[1]).toBe(first.routes[1]!);
    expect(second.plugins[0]).toBe(first.plugins[0]!);
  });

  test("a changed row is validated again: valid changes show, invalid ones are reported at the same path", () => {
    const reuse = new ValidatedRows();
    parseDeclarative(pushed(), { plugins, reuse });

    const changed = pushed();
    rows(changed, "routes")[1]!.paths = ["/refunds/v2"];
    const table: ConfigTable = parseDeclarative(changed, { plugins, reuse, now: 1 });
    expect(table.routes[1]!.paths).toEqual(["/refunds/v2"]);
    expect(table).toStrictEqual(parseDeclarative(changed, { plugins, now: 1 }));

    const invalid = pushed();
    rows(invalid, "routes")[1]!.paths = ["refunds"];
    rows(invalid, "plugins")[0]!.config = { minute: "ten", policy: "local" };
    const reported = refusal(invalid, { plugins, reuse });
    expect(reported).toEqual(refusal(invalid, { plugins }));
    expect(reported.lines.some((l) => l.startsWith("routes[1].paths[0]: "))).toBe(true);
    expect(reported.lines.some((l) => l.startsWith("plugins[0].config.minute: "))).toBe(true);
  });

  test("uniqueness and references are checked on the whole config even when every row is reused", () => {
    const reuse = new ValidatedRows();
    parseDeclarative(pushed(), { plugins, reuse });

    const duplicated = pushed();
    rows(duplicated, "routes").push(structuredClone(rows(duplicated, "routes")[0]!));
    const orphaned = pushed();
    delete orphaned.services;
    for (const input of [duplicated, orphaned]) {
      const reported = refusal(input, { plugins, reuse });
      expect(reported).toEqual(refusal(input, { plugins }));
      expect(reported.lines.join("\n")).toMatch(/uniqueness violation|invalid reference/);
    }
  });

  test("a failed push leaves the rows of the running config for the next push", () => {
    const reuse = new ValidatedRows();
    const running = parseDeclarative(pushed(), { plugins, reuse });
    const invalid = pushed();
    rows(invalid, "services")[0]!.port = -1;
    refusal(invalid, { plugins, reuse });
    expect(parseDeclarative(pushed(), { plugins, reuse }).routes[0]).toBe(running.routes[0]!);
  });

  test("rows without timestamps take this parse's clock, as a full parse gives them", () => {
    const reuse = new ValidatedRows();
    const input = { _format_version: "3.0", services: [{ name: "s", host: "s.internal" }] };
    parseDeclarative(structuredClone(input), { plugins, reuse, now: 1 });
    const again = parseDeclarative(structuredClone(input), { plugins, reuse, now: 2 });
    expect(again.services[0]!.created_at).toBe(2);
  });

  test("rows validated under another plugin set are validated again", () => {
    const reuse = new ValidatedRows();
    parseDeclarative(pushed(), { plugins, reuse });
    const withoutCors = pluginSchemas(pluginsFor(["rate-limiting", "key-auth"]));
    expect(refusal(pushed(), { plugins: withoutCors, reuse }).lines).toEqual([
      "plugins[1].name: plugin 'cors' not enabled; add it to the 'plugins' configuration property",
    ]);
  });
});
