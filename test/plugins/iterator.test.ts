import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { type PluginEntityRef, PluginIterator, resolveSlot } from "../../src/plugins/iterator";
import { definePlugin } from "../../src/plugins/plugin";

const def = (name: string, priority: number) =>
  definePlugin({ name, version: "3.10.0", priority, configSchema: z.object({ tag: z.string() }) });
const defs = new Map([
  ["auth", def("auth", 1250)],
  ["limit", def("limit", 910)],
  ["late", def("late", 10)],
]);

let n = 0;
const plugin = (
  name: string,
  tag: string,
  scope: { route?: string; service?: string; consumer?: string } = {},
) =>
  ({
    id: `p${n++}`,
    name,
    route: scope.route ? { id: scope.route } : null,
    service: scope.service ? { id: scope.service } : null,
    consumer: scope.consumer ? { id: scope.consumer } : null,
    config: { tag },
    enabled: true,
  }) satisfies PluginEntityRef;

const tagFor = (
  it: PluginIterator,
  route: string,
  service: string,
  name: string,
  consumer: string | null = null,
) => {
  const slot = it.chainFor(route, service).find((s) => s.def.name === name);
  return slot
    ? (((resolveSlot(slot, consumer, "http")?.config as { tag: string }) ?? null)?.tag ?? null)
    : null;
};

describe("plugin precedence (Kong's order)", () => {
  const it = new PluginIterator(
    [
      plugin("limit", "global"),
      plugin("limit", "service", { service: "s1" }),
      plugin("limit", "route", { route: "r1" }),
      plugin("limit", "route+service", { route: "r1", service: "s1" }),
      plugin("limit", "consumer", { consumer: "c1" }),
      plugin("limit", "consumer+service", { consumer: "c1", service: "s1" }),
      plugin("limit", "consumer+route", { consumer: "c2", route: "r1" }),
      plugin("limit", "consumer+route+service", { consumer: "c3", route: "r1", service: "s1" }),
      plugin("limit", "c3-consumer-only", { consumer: "c3" }),
    ],
    defs,
  );

  test("route+service beats route, service and global when no consumer is known", () => {
    expect(tagFor(it, "r1", "s1", "limit")).toBe("route+service");
    expect(tagFor(it, "r2", "s1", "limit")).toBe("service");
    expect(tagFor(it, "r9", "s9", "limit")).toBe("global");
  });

  test("consumer-specific configs beat general ones, most specific first", () => {
    expect(tagFor(it, "r1", "s1", "limit", "c3")).toBe("consumer+route+service");
    expect(tagFor(it, "r1", "s1", "limit", "c2")).toBe("consumer+route");
    expect(tagFor(it, "r1", "s1", "limit", "c1")).toBe("consumer+service");
    expect(tagFor(it, "r9", "s9", "limit", "c1")).toBe("consumer");
    expect(tagFor(it, "r9", "s9", "limit", "c4")).toBe("global");
  });
});

describe("chain order and filters", () => {
  test("plugins run by descending priority, disabled ones never", () => {
    const it = new PluginIterator(
      [
        plugin("late", "x"),
        plugin("auth", "x"),
        plugin("limit", "x"),
        { ...plugin("auth", "off"), enabled: false },
      ],
      defs,
    );
    expect(it.chainFor("r", "s").map((s) => s.def.name)).toEqual(["auth", "limit", "late"]);
    expect(tagFor(it, "r", "s", "auth")).toBe("x");
  });

  test("a plugin limited to https does not run for http requests", () => {
    const it = new PluginIterator([{ ...plugin("auth", "tls-only"), protocols: ["https"] }], defs);
    const slot = it.chainFor("r", "s")[0]!;
    expect(resolveSlot(slot, null, "http")).toBeNull();
    expect(resolveSlot(slot, null, "https")).not.toBeNull();
  });

  test("no plugins: an empty chain for every route", () => {
    expect(new PluginIterator([], defs).chainFor("r", "s")).toHaveLength(0);
  });
});
