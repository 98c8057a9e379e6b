import { afterAll, describe, expect, test } from "bun:test";
import { ConfigValidator } from "../../src/config/validator";
import { DeclarativeError, parseDeclarative } from "../../src/entities/declarative";
import { pluginSchemas, pluginsFor } from "../../src/plugins/registry";

const plugins = pluginsFor(["bundled"]);
const validator = new ConfigValidator(plugins.map((p) => p.name));
afterAll(() => validator.close());

function config(routes: number, extra: Record<string, unknown> = {}) {
  return {
    _format_version: "3.0",
    services: [
      {
        name: "svc",
        url: "http://127.0.0.1:9",
        routes: Array.from({ length: routes }, (_, i) => ({ name: `r${i}`, paths: [`/r${i}`] })),
        plugins: [{ name: "rate-limiting", config: { minute: 5 } }],
      },
    ],
    ...extra,
  };
}

describe("config validation in a worker", () => {
  test("the worker's table is what parseDeclarative gives in-thread, defaults and ids included", async () => {
    const input = config(50);
    const table = await validator.validate(structuredClone(input));
    const inThread = parseDeclarative(structuredClone(input), { plugins: pluginSchemas(plugins) });
    // Timestamps are the clock's at validation time; everything else must match exactly.
    const strip = (t: unknown) =>
      JSON.parse(JSON.stringify(t, (k, v) => (k === "created_at" || k === "updated_at" ? 0 : v)));
    expect(strip(table)).toEqual(strip(inThread));
    expect(table.routes.length).toBe(50);
  });

  test("an invalid config fails with the same DeclarativeError lines as in-thread", async () => {
    const input = config(2);
    (input.services[0]!.routes[1] as Record<string, unknown>).paths = ["no-slash"];
    (input.services[0]!.plugins[0]!.config as Record<string, unknown>).minute = -1;
    const error = await validator.validate(structuredClone(input)).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(DeclarativeError);
    let expected: string[] = [];
    try {
      parseDeclarative(structuredClone(input), { plugins: pluginSchemas(plugins) });
    } catch (e) {
      expected = (e as DeclarativeError).lines;
    }
    expect((error as DeclarativeError).lines).toEqual(expected);
    expect(expected.length).toBeGreaterThan(1);
  });

  test("calls settle in order, and a bad one between good ones does not disturb them", async () => {
    const results = await Promise.allSettled([
      validator.validate(config(3)),
      validator.validate({ _format_version: "9.9" }),
      validator.validate(config(4)),
    ]);
    expect(results.map((r) => r.status)).toEqual(["fulfilled", "rejected", "fulfilled"]);
    expect(results[2]!.status === "fulfilled" && results[2]!.value.routes.length).toBe(4);
  });
});
