import { describe, expect, test } from "bun:test";
import { z } from "zod";
import {
  entitySchemaJson,
  type FieldJson,
  pluginSchemaJson,
  schemaJson,
} from "../../src/entities/kong-schema";
import { validateOrThrow } from "../../src/entities/validate";

/** What go-kong does with `/schemas/{entity}`: take `default`s, recursing into fields of records. */
function goKongDefaults(fields: Record<string, FieldJson>[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const f of fields) {
    const [name, field] = Object.entries(f)[0]!;
    if (Array.isArray(field.fields)) out[name] = goKongDefaults(field.fields as Record<string, FieldJson>[]);
    else if ("default" in field) out[name] = field.default;
  }
  return out;
}

function field(fields: Record<string, FieldJson>[], name: string): FieldJson | undefined {
  return fields.find((f) => name in f)?.[name];
}

describe("/schemas/{entity}", () => {
  test("services: Kong's field list with types, defaults, ranges and references", () => {
    const json = entitySchemaJson("services")!;
    expect(json.fields.map((f) => Object.keys(f)[0])).toEqual([
      "id",
      "created_at",
      "updated_at",
      "name",
      "retries",
      "protocol",
      "host",
      "port",
      "path",
      "connect_timeout",
      "write_timeout",
      "read_timeout",
      "tags",
      "client_certificate",
      "tls_verify",
      "tls_verify_depth",
      "ca_certificates",
      "enabled",
    ]);
    expect(field(json.fields, "id")).toEqual({ type: "string", auto: true, uuid: true });
    expect(field(json.fields, "created_at")).toEqual({ type: "integer", auto: true, timestamp: true });
    expect(field(json.fields, "retries")).toEqual({ type: "integer", between: [0, 32767], default: 5 });
    expect(field(json.fields, "protocol")).toEqual({
      type: "string",
      one_of: ["grpc", "grpcs", "http", "https", "tcp", "tls", "tls_passthrough", "udp"],
      required: true,
      default: "http",
    });
    expect(field(json.fields, "host")).toEqual({ type: "string", required: true });
    expect(field(json.fields, "client_certificate")).toEqual({ type: "foreign", reference: "certificates" });
    expect(field(json.fields, "tags")).toEqual({ type: "set", elements: { type: "string" } });
    expect(json.entity_checks?.[0]).toEqual({
      conditional: {
        if_field: "protocol",
        if_match: { one_of: ["tcp", "tls", "udp", "grpc", "grpcs"] },
        then_field: "path",
        then_match: { eq: null },
      },
    });
  });

  test("routes list only Kong's listed entity checks; consumers their at_least_one_of", () => {
    expect(entitySchemaJson("routes")!.entity_checks).toHaveLength(1);
    expect(entitySchemaJson("consumers")!.entity_checks).toEqual([
      { at_least_one_of: ["custom_id", "username"] },
    ]);
  });

  test("targets: cascade FK, float timestamps, weight default", () => {
    const fields = entitySchemaJson("targets")!.fields;
    expect(field(fields, "upstream")).toEqual({
      type: "foreign",
      reference: "upstreams",
      on_delete: "cascade",
      required: true,
    });
    expect(field(fields, "created_at")).toEqual({ type: "number", auto: true, timestamp: true });
    expect(field(fields, "weight")).toMatchObject({ type: "integer", default: 100 });
  });

  test("custom entity checks are listed by their fields, never their code", () => {
    expect(entitySchemaJson("certificates")!.entity_checks).toContainEqual({
      custom_entity_check: { field_sources: ["cert", "key"] },
    });
  });

  test("unknown entities have no schema", () => {
    expect(entitySchemaJson("nope")).toBeUndefined();
  });

  for (const [entity, input] of [
    ["services", { host: "a.test" }],
    ["routes", { paths: ["/"] }],
    ["upstreams", { name: "a.test" }],
  ] as const) {
    test(`go-kong filling ${entity} from /schemas gets the same defaults gw fills`, () => {
      const defaults = goKongDefaults(entitySchemaJson(entity)!.fields);
      const filled = validateOrThrow(entity, input);
      for (const [k, v] of Object.entries(defaults)) {
        if (typeof v === "object" && v !== null && !Array.isArray(v)) expect(filled[k]).toMatchObject(v);
        else expect(filled[k]).toEqual(v);
      }
      expect(Object.keys(defaults).length).toBeGreaterThan(3);
    });
  }

  test("nested records carry their defaults at every level (upstream healthchecks)", () => {
    const hc = field(entitySchemaJson("upstreams")!.fields, "healthchecks")!;
    const active = field(hc.fields as Record<string, FieldJson>[], "active")!;
    const healthy = field(active.fields as Record<string, FieldJson>[], "healthy")!;
    expect(field(healthy.fields as Record<string, FieldJson>[], "http_statuses")).toEqual({
      type: "array",
      elements: { type: "integer", between: [100, 999] },
      default: [200, 302],
    });
    expect(healthy.default).toEqual({ interval: 0, http_statuses: [200, 302], successes: 0 });
    expect(field(active.fields as Record<string, FieldJson>[], "https_verify_certificate")).toEqual({
      type: "boolean",
      required: true,
      default: true,
    });
  });
});

describe("/schemas/plugins/{name}", () => {
  const entry = {
    schema: z.strictObject({
      minute: z.number().int().min(0).max(60).optional(),
      policy: z.enum(["local", "redis"]).default("local"),
      redis: z.strictObject({ port: z.number().default(6379), ssl: z.boolean().default(false) }).prefault({}),
      limits: z.record(z.string(), z.number()).optional(),
    }),
    protocols: ["http", "https"],
  };

  test("the plugin entity with its config record and protocols", () => {
    const json = pluginSchemaJson(entry);
    expect(field(json.fields, "name")).toEqual({ type: "string", required: true });
    expect(field(json.fields, "protocols")).toEqual({
      type: "set",
      elements: { type: "string", one_of: ["http", "https"] },
      required: true,
      default: ["http", "https"],
    });
    expect(field(json.fields, "config")).toEqual({
      type: "record",
      required: true,
      fields: [
        { minute: { type: "integer", between: [0, 60] } },
        { policy: { type: "string", one_of: ["local", "redis"], default: "local" } },
        {
          redis: {
            type: "record",
            fields: [
              { port: { type: "number", default: 6379 } },
              { ssl: { type: "boolean", default: false } },
            ],
            default: { port: 6379, ssl: false },
          },
        },
        { limits: { type: "map", keys: { type: "string" }, values: { type: "number" } } },
      ],
    });
    expect(goKongDefaults(json.fields).config).toEqual({
      policy: "local",
      redis: { port: 6379, ssl: false },
    });
  });

  test("plugins that cannot apply to consumers say so as Kong does (eq: null)", () => {
    const json = pluginSchemaJson({ ...entry, noConsumer: true });
    expect(field(json.fields, "consumer")).toEqual({
      type: "foreign",
      reference: "consumers",
      on_delete: "cascade",
      eq: null,
    });
    expect(field(json.fields, "route")).toEqual({
      type: "foreign",
      reference: "routes",
      on_delete: "cascade",
    });
  });

  test("schemaJson works for any zod record", () => {
    expect(schemaJson(z.strictObject({ a: z.literal(1) }))).toEqual({
      fields: [{ a: { type: "integer", one_of: [1], required: true } }],
    });
  });
});
