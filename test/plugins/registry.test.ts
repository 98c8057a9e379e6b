import { describe, expect, test } from "bun:test";
import { pluginSchemaJson } from "../../src/entities/kong-schema";
import { validateEntity } from "../../src/entities/validate";
import { BUNDLED_PLUGINS, pluginSchemas, pluginsFor } from "../../src/plugins/registry";

const names = (defs: { name: string }[]) => defs.map((d) => d.name);

describe("plugins setting", () => {
  test("bundled, names, off", () => {
    expect(names(pluginsFor(["bundled"]))).toEqual(names([...BUNDLED_PLUGINS]));
    expect(names(pluginsFor(["rate-limiting", " key-auth "]))).toEqual(["key-auth", "rate-limiting"]);
    expect(pluginsFor(["off"])).toEqual([]);
    expect(pluginsFor([])).toEqual([]);
    expect(names(pluginsFor(["bundled", "off"]))).toHaveLength(BUNDLED_PLUGINS.length);
  });

  test("a plugin gw does not bundle is refused by name", () => {
    expect(() => pluginsFor(["bundled", "jwt"])).toThrow("jwt plugin is enabled but not installed");
  });

  test("every bundled plugin carries Kong's version and a unique name", () => {
    for (const p of BUNDLED_PLUGINS) expect(p.version).toBe("3.10.0");
    expect(new Set(names([...BUNDLED_PLUGINS])).size).toBe(BUNDLED_PLUGINS.length);
  });
});

describe("plugin schemas for entities", () => {
  const schemas = pluginSchemas(BUNDLED_PLUGINS);

  test("a plugin entity is validated with its config defaults filled", () => {
    const r = validateEntity(
      "plugins",
      { name: "key-auth", config: { key_names: ["x-key"] } },
      { plugins: schemas },
    );
    expect(r.ok).toBe(true);
    if (r.ok)
      expect(r.entity.config).toMatchObject({
        key_names: ["x-key"],
        hide_credentials: false,
        anonymous: null,
      });
  });

  test("bad configs, consumer scope on auth plugins and foreign protocols are refused with Kong's fields", () => {
    const r = validateEntity(
      "plugins",
      {
        name: "key-auth",
        consumer: { id: "aaaaaaaa-0000-4000-8000-000000000001" },
        protocols: ["tcp"],
        config: { hide_credentials: "yes" },
      },
      { plugins: schemas },
    );
    expect(r.ok).toBe(false);
    if (!r.ok)
      expect(r.fields).toMatchObject({
        consumer: "value must be null",
        protocols: ["expected one of: grpc, grpcs, http, https"],
        config: { hide_credentials: "expected a boolean" },
      });
  });

  test("every bundled schema renders for /schemas/plugins/{name}", () => {
    for (const [name, entry] of schemas) {
      const json = pluginSchemaJson(entry);
      const config = json.fields.find((f) => f.config)?.config as { type: string; fields: unknown[] };
      expect(config.type, name).toBe("record");
      expect(config.fields.length, name).toBeGreaterThan(0);
    }
    const rl = pluginSchemaJson(schemas.get("rate-limiting")!);
    const fields = (rl.fields.find((f) => f.config)!.config as { fields: Record<string, unknown>[] }).fields;
    expect(fields.find((f) => f.redis)?.redis).toMatchObject({ type: "record" });
    expect(fields.find((f) => f.limit_by)?.limit_by).toMatchObject({
      default: "consumer",
      one_of: expect.any(Array),
    });
  });
});
