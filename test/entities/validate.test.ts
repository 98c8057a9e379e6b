import { describe, expect, test } from "bun:test";
import { z } from "zod";
import { schemaViolation } from "../../src/entities/errors";
import type { PluginSchemas } from "../../src/entities/schemas";
import { validateEntity, validateOrThrow } from "../../src/entities/validate";

const plugins: PluginSchemas = new Map([
  [
    "rate-limiting",
    {
      schema: z.strictObject({
        minute: z.number().optional(),
        policy: z.enum(["local", "redis"]).default("local"),
        redis: z.strictObject({ host: z.string().optional(), port: z.number().default(6379) }).prefault({}),
      }),
    },
  ],
  [
    "key-auth",
    { schema: z.strictObject({ key_names: z.array(z.string()).default(["apikey"]) }), noConsumer: true },
  ],
  ["http-only", { schema: z.strictObject({}), protocols: ["http", "https"] }],
]);

function violation(entity: string, input: unknown, opts = {}) {
  const r = validateEntity(entity, input, opts);
  if (r.ok) throw new Error("expected a violation");
  return schemaViolation(r.fields).body;
}

describe("schema violations in Kong's shape", () => {
  test("one error: schema violation (field: message)", () => {
    expect(violation("services", { host: "a", protocol: "ftp" })).toEqual({
      code: 2,
      name: "schema violation",
      message:
        "schema violation (protocol: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)",
      fields: { protocol: "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp" },
    });
  });

  test("several errors: entity-level first, then fields in order, array positions 1-based", () => {
    const body = violation("routes", { protocols: ["http", "xx"], paths: ["a"], foo: 1 });
    expect(body.message).toBe(
      "3 schema violations (foo: unknown field; paths.1: should start with: / (fixed path) or ~/ (regex path); protocols.2: expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp)",
    );
    expect(body.fields).toEqual({
      foo: "unknown field",
      paths: ["should start with: / (fixed path) or ~/ (regex path)"],
      protocols: [null, "expected one of: grpc, grpcs, http, https, tcp, tls, tls_passthrough, udp"],
    });
  });

  test("missing, null and wrongly typed values", () => {
    expect(violation("services", { host: null, port: "80", retries: 1.5, enabled: "yes" }).fields).toEqual({
      host: "required field missing",
      port: "expected an integer",
      retries: "expected an integer",
      enabled: "expected a boolean",
    });
    expect(violation("routes", { paths: ["/a"], strip_path: null }).fields).toEqual({
      strip_path: "required field missing",
    });
  });

  test("null on a defaulted field Kong does not require means the default", () => {
    const r = validateEntity("services", { host: "a", retries: null, connect_timeout: null });
    expect(r.ok && r.entity).toMatchObject({ retries: 5, connect_timeout: 60000 });
  });

  test("nested records report nested fields", () => {
    expect(
      violation("upstreams", { name: "a", healthchecks: { active: { timeout: -1, nope: 1 } } }).fields,
    ).toEqual({
      healthchecks: { active: { timeout: "value should be between 0 and 65535", nope: "unknown field" } },
    });
  });

  test("input that is not an object", () => {
    expect(violation("services", "nope").fields).toEqual({ "@entity": ["expected an input table"] });
  });

  test("validateOrThrow throws the error with its HTTP status", () => {
    expect(() => validateOrThrow("consumers", {})).toThrow(
      "schema violation (at least one of these fields must be non-empty: 'custom_id', 'username')",
    );
    try {
      validateOrThrow("consumers", {});
    } catch (e) {
      expect((e as { status: number }).status).toBe(400);
    }
  });
});

describe("create, replace and update", () => {
  const existing = validateOrThrow("services", { name: "s", host: "a.test", path: "/x" }, { now: 100 });

  test("PATCH merges into the stored entity and keeps its id and created_at", () => {
    const patched = validateOrThrow("services", { port: 8080 }, { mode: "update", existing, now: 200 });
    expect(patched).toMatchObject({ id: existing.id, name: "s", host: "a.test", path: "/x", port: 8080 });
    expect(patched.created_at).toBe(100);
    expect(patched.updated_at).toBe(200);
  });

  test("PATCH merges nested records field by field and validates the result as a whole", () => {
    const up = validateOrThrow("upstreams", { name: "u" });
    const patched = validateOrThrow(
      "upstreams",
      { healthchecks: { active: { healthy: { successes: 3 } } } },
      { mode: "update", existing: up },
    );
    expect(patched.healthchecks).toMatchObject({
      active: { timeout: 1, healthy: { successes: 3, http_statuses: [200, 302] } },
    });
    expect(violation("services", { protocol: "tcp" }, { mode: "update", existing }).fields).toEqual({
      path: "value must be null",
      "@entity": ["failed conditional validation given value of field 'protocol'"],
    });
  });

  test("PATCH with a url shorthand replaces protocol, host, port and path", () => {
    const patched = validateOrThrow("services", { url: "https://b.test" }, { mode: "update", existing });
    expect(patched).toMatchObject({ protocol: "https", host: "b.test", port: 443, path: null });
  });

  test("PATCH without a stored entity checks only the fields it carries", () => {
    expect(validateEntity("services", { port: 99 }, { mode: "update" })).toEqual({
      ok: true,
      entity: { port: 99 },
    });
    expect(violation("services", { port: -1, bogus: 1 }, { mode: "update" }).fields).toEqual({
      port: "value should be between 0 and 65535",
      bogus: "unknown field",
    });
  });

  test("PUT (replace) fills defaults again and keeps the given id", () => {
    const id = "5d7a1c2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    const replaced = validateOrThrow("services", { id, host: "c.test" }, { mode: "replace" });
    expect(replaced).toMatchObject({ id, host: "c.test", port: 80, path: null, name: null });
  });

  test("auto=false leaves id and timestamps to the caller", () => {
    const r = validateOrThrow("consumers", { username: "u" }, { auto: false });
    expect(r).toMatchObject({ id: null, created_at: null, updated_at: null });
  });
});

describe("plugins", () => {
  test("an unknown plugin name gets Kong's message", () => {
    expect(violation("plugins", { name: "nope" }, { plugins }).message).toBe(
      "schema violation (name: plugin 'nope' not enabled; add it to the 'plugins' configuration property)",
    );
  });

  test("config is validated by the plugin's schema, defaults filled, errors nested under config", () => {
    const r = validateOrThrow("plugins", { name: "rate-limiting", config: { minute: 5 } }, { plugins });
    expect(r.config).toEqual({ minute: 5, policy: "local", redis: { host: null, port: 6379 } });
    expect(r.protocols).toEqual(["grpc", "grpcs", "http", "https"]);
    expect(
      violation("plugins", { name: "rate-limiting", config: { minute: "x", extra: 1 } }, { plugins }),
    ).toMatchObject({
      message: "2 schema violations (config.extra: unknown field; config.minute: expected a number)",
      fields: { config: { minute: "expected a number", extra: "unknown field" } },
    });
  });

  test("a missing config gets the plugin's defaults", () => {
    expect(validateOrThrow("plugins", { name: "key-auth" }, { plugins }).config).toEqual({
      key_names: ["apikey"],
    });
  });

  test("plugins restricted in scope or protocols refuse the rest", () => {
    const consumer = { id: "5d7a1c2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d" };
    expect(violation("plugins", { name: "key-auth", consumer }, { plugins }).fields).toEqual({
      consumer: "value must be null",
    });
    expect(
      violation("plugins", { name: "http-only", protocols: ["grpc", "http"] }, { plugins }).fields,
    ).toEqual({
      protocols: ["expected one of: http, https", null],
    });
    expect(validateOrThrow("plugins", { name: "http-only" }, { plugins }).protocols).toEqual([
      "http",
      "https",
    ]);
  });

  test("dynamic ordering: before/after lists per phase, null when unset", () => {
    const ordered = validateOrThrow(
      "plugins",
      { name: "key-auth", ordering: { before: { access: ["rate-limiting"] } } },
      { plugins },
    );
    expect(ordered.ordering).toEqual({ before: { access: ["rate-limiting"] }, after: null });
    expect(validateOrThrow("plugins", { name: "key-auth" }, { plugins }).ordering).toBeNull();
    expect(
      violation("plugins", { name: "key-auth", ordering: { before: { access: "x" } } }, { plugins }).fields,
    ).toEqual({
      ordering: { before: { access: "expected an array" } },
    });
  });

  test("PATCH of a plugin merges its config", () => {
    const stored = validateOrThrow("plugins", { name: "rate-limiting", config: { minute: 5 } }, { plugins });
    const patched = validateOrThrow(
      "plugins",
      { config: { policy: "redis", redis: { host: "127.0.0.1" } } },
      { mode: "update", existing: stored, plugins },
    );
    expect(patched.config).toEqual({ minute: 5, policy: "redis", redis: { host: "127.0.0.1", port: 6379 } });
  });

  test("PATCH replaces a plugin's map fields instead of merging them", () => {
    const mapped: PluginSchemas = new Map([
      ["headers", { schema: z.strictObject({ add: z.record(z.string(), z.string()).optional() }) }],
    ]);
    const stored = validateOrThrow(
      "plugins",
      { name: "headers", config: { add: { a: "1" } } },
      { plugins: mapped },
    );
    const patched = validateOrThrow(
      "plugins",
      { config: { add: { b: "2" } } },
      { mode: "update", existing: stored, plugins: mapped },
    );
    expect(patched.config).toEqual({ add: { b: "2" } });
  });
});

describe("plain zod plugin schemas get Kong's wording", () => {
  const plain: PluginSchemas = new Map([
    [
      "plain",
      {
        schema: z.strictObject({
          list: z.array(z.string()).optional(),
          map: z.record(z.string(), z.string()).optional(),
          nested: z.strictObject({ a: z.string() }).optional(),
          count: z.number().int().min(1).max(10).optional(),
          ratio: z.number().gt(0).lt(1).optional(),
          mode: z.enum(["a", "b"]).optional(),
          name: z.string().min(2).optional(),
        }),
      },
    ],
  ]);

  test("types, ranges, enums and lengths", () => {
    const body = violation(
      "plugins",
      {
        name: "plain",
        config: { list: "x", map: [], nested: "x", count: 0, ratio: 1, mode: "c", name: "x" },
      },
      { plugins: plain },
    );
    expect(body.fields).toEqual({
      config: {
        list: "expected an array",
        map: "expected a map",
        nested: "expected a record",
        count: "value must be at least 1",
        ratio: "value must be less than 1",
        mode: "expected one of: a, b",
        name: "length must be at least 2",
      },
    });
  });
});
