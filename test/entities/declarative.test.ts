import { beforeAll, describe, expect, test } from "bun:test";
import { z } from "zod";
import {
  type ConfigTable,
  DeclarativeError,
  exportConfigTable,
  parseDeclarative,
  parseDeclarativeText,
} from "../../src/entities/declarative";
import { configHash } from "../../src/entities/hash";
import type { PluginSchemas } from "../../src/entities/schemas";
import { type Pem, selfSigned } from "./certs";

const plugins: PluginSchemas = new Map([
  ["rate-limiting", { schema: z.strictObject({ minute: z.number().optional() }) }],
  ["key-auth", { schema: z.strictObject({ key_names: z.array(z.string()).default(["apikey"]) }) }],
  ["cors", { schema: z.strictObject({ origins: z.array(z.string()).optional() }) }],
]);

// Ids computed with python3's uuid.uuid5 from Kong's namespaces and keys.
const IDS = {
  service: "7a267194-6123-5ee0-a1c9-4c1559eb0d95",
  route: "eeb325b8-afd4-5ba2-a113-c34eeb969c1d",
  nestedPlugin: "3781375c-1841-5828-8b37-82db433d96da",
  pluginByServiceName: "38c5a1ed-c8df-54e1-ba68-31e96c601b9d",
  globalCors: "48ee727e-8b90-5faa-bda1-a3c6bc3c9daa",
  consumer: "b32379d9-3d28-5683-a79c-72139be6e34f",
  acl: "dc1ddbfc-2574-5f8c-ab9c-efb6170dfeaa",
  upstream: "1a41c992-d67f-5a3a-bfb9-9e02017a537d",
  target: "771544ae-638a-513e-a769-5bfe4fa0e35e",
};

const NESTED = `
_format_version: "3.0"
_comment: nested layout
services:
- name: example-service
  url: http://upstream.test:8080/api
  _comment: comments are allowed anywhere
  routes:
  - name: example-route
    paths: [/example]
  plugins:
  - name: rate-limiting
    config: { minute: 10 }
consumers:
- username: alice
  keyauth_credentials:
  - key: alice-key
  basicauth_credentials:
  - username: alice
    password: wonderland
  acls:
  - group: admins
upstreams:
- name: up.internal
  targets:
  - target: 10.0.0.1
    weight: 50
plugins:
- name: cors
`;

function parseErrors(input: unknown): string[] {
  try {
    parseDeclarative(input, { plugins, now: 1 });
  } catch (e) {
    if (e instanceof DeclarativeError) return e.lines;
    throw e;
  }
  throw new Error("expected the config to be refused");
}

describe("nested layout", () => {
  let table: ConfigTable;
  beforeAll(() => {
    table = parseDeclarativeText(NESTED, { plugins, now: 1700000000, filename: "kong.yml" });
  });

  test("children come out flat with their parent's FK as { id }", () => {
    expect(table.services).toHaveLength(1);
    expect(table.routes[0]).toMatchObject({ name: "example-route", service: { id: IDS.service } });
    expect(table.plugins.map((p) => [p.name, p.service])).toEqual([
      ["rate-limiting", { id: IDS.service }],
      ["cors", null],
    ]);
    expect(table.keyauth_credentials[0]).toMatchObject({ key: "alice-key", consumer: { id: IDS.consumer } });
    expect(table.targets[0]).toMatchObject({
      target: "10.0.0.1:8000",
      weight: 50,
      upstream: { id: IDS.upstream },
    });
  });

  test("ids are Kong's deterministic UUIDv5s", () => {
    expect(table.services[0]!.id).toBe(IDS.service);
    expect(table.routes[0]!.id).toBe(IDS.route);
    expect(table.plugins[0]!.id).toBe(IDS.nestedPlugin);
    expect(table.plugins[1]!.id).toBe(IDS.globalCors);
    expect(table.consumers[0]!.id).toBe(IDS.consumer);
    expect(table.acls[0]!.id).toBe(IDS.acl);
    expect(table.upstreams[0]!.id).toBe(IDS.upstream);
    expect(table.targets[0]!.id).toBe(IDS.target);
  });

  test("ids are stable across parses", () => {
    const again = parseDeclarativeText(NESTED, { plugins, now: 1 });
    expect(again.services.map((s) => s.id)).toEqual(table.services.map((s) => s.id));
    expect(again.plugins.map((s) => s.id)).toEqual(table.plugins.map((s) => s.id));
    expect(again.basicauth_credentials[0]!.id).toBe(table.basicauth_credentials[0]!.id);
  });

  test("defaults are filled, transformations run, timestamps set", () => {
    expect(table.services[0]).toMatchObject({ protocol: "http", port: 8080, path: "/api", retries: 5 });
    expect(table.plugins[1]!.config).toEqual({ origins: null });
    expect(table.basicauth_credentials[0]!.password).toBe(
      new Bun.CryptoHasher("sha1").update(`wonderland${IDS.consumer}`).digest("hex"),
    );
    expect(table.services[0]!.created_at).toBe(1700000000);
    expect(table._transform).toBe(true);
  });
});

describe("flat layout and references", () => {
  test("foreign keys by name or by id", () => {
    const table = parseDeclarative(
      {
        _format_version: "3.0",
        services: [{ name: "example-service", host: "a.test" }],
        routes: [
          { name: "by-name", service: "example-service", paths: ["/a"] },
          { name: "by-id", service: IDS.service, paths: ["/b"] },
          { name: "by-record", service: { id: IDS.service }, paths: ["/c"] },
        ],
        plugins: [{ name: "rate-limiting", service: "example-service" }],
      },
      { plugins },
    );
    expect(table.routes.map((r) => r.service)).toEqual([
      { id: IDS.service },
      { id: IDS.service },
      { id: IDS.service },
    ]);
    // Kong builds the plugin's cache key from the name as written.
    expect(table.plugins[0]!.id).toBe(IDS.pluginByServiceName);
  });

  test("a JSON file is read as JSON", () => {
    const table = parseDeclarativeText(
      JSON.stringify({ _format_version: "2.1", consumers: [{ username: "alice" }] }),
      {
        filename: "kong.json",
      },
    );
    expect(table.consumers[0]!.id).toBe(IDS.consumer);
  });

  test("certificates may nest their SNIs as names or records", () => {
    const pem: Pem = selfSigned({ cn: "a.test", ca: false });
    const table = parseDeclarative({
      _format_version: "3.0",
      certificates: [{ ...pem, snis: ["a.test", { name: "*.b.test", tags: ["x"] }] }],
    });
    const cert = table.certificates[0]!;
    expect("snis" in cert).toBe(false);
    expect(table.snis.map((s) => [s.name, s.certificate])).toEqual([
      ["a.test", { id: cert.id }],
      ["*.b.test", { id: cert.id }],
    ]);
  });
});

describe("format 1.1 and 2.1 files", () => {
  test("route paths get Kong's 3.0 migration and the table reads as 3.0", () => {
    const table = parseDeclarative({
      _format_version: "2.1",
      services: [{ name: "s", host: "a.test", routes: [{ name: "r1", paths: ["/users/\\d+", "/a/./b"] }] }],
      routes: [{ name: "r2", paths: ["/x%2Ey", "/v1/(?<id>[^/]+)", "/p%2Fq"] }],
    });
    expect(table._format_version).toBe("3.0");
    expect(table.routes.map((r) => r.paths)).toEqual([
      ["~/users/\\d+", "/a/b"],
      ["/x.y", "~/v1/(?<id>[^/]+)", "/p%2Fq"],
    ]);
  });

  test("3.0 files are not migrated: without ~ a path is a plain prefix", () => {
    const table = parseDeclarative({ _format_version: "3.0", routes: [{ paths: ["/users/\\d+"] }] });
    expect(table.routes[0]!.paths).toEqual(["/users/\\d+"]);
  });
});

describe("errors", () => {
  test("every error at once, each with the path to the bad field", () => {
    expect(
      parseErrors({
        _format_version: "3.0",
        services: [
          {
            name: "svc",
            host: "a.test",
            routes: [{ paths: ["/ok"] }, { hosts: ["a.test"] }, { paths: ["nope"] }],
            plugins: [{ name: "not-loaded" }],
          },
          { name: "svc", host: "b.test" },
          { name: "bad", port: "x" },
        ],
        routes: [{ name: "orphan", service: "missing", paths: ["/x"] }],
        consumers: [{ custom_id: "c1" }, { custom_id: "c1" }, {}],
      }),
    ).toEqual([
      "services[0].routes[2].paths[0]: should start with: / (fixed path) or ~/ (regex path)",
      "services[0].plugins[0].name: plugin 'not-loaded' not enabled; add it to the 'plugins' configuration property",
      "services[1]: uniqueness violation: 'services' entity with name set to 'svc' already declared",
      "services[2].host: required field missing",
      "services[2].port: expected an integer",
      "routes[0].service: invalid reference 'service: missing' (no such entry in 'services')",
      "consumers[1]: uniqueness violation: 'consumers' entity with custom_id set to 'c1' already declared",
      "consumers[2]: at least one of these fields must be non-empty: 'custom_id', 'username'",
    ]);
  });

  test("duplicate ids", () => {
    const id = "5d7a1c2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    expect(
      parseErrors({
        _format_version: "3.0",
        consumers: [
          { id, username: "a" },
          { id, username: "b" },
        ],
      }),
    ).toEqual([
      `consumers[1]: uniqueness violation: 'consumers' entity with primary key set to '${id}' already declared`,
    ]);
  });

  test("format version is required and must be one Kong knows", () => {
    expect(parseErrors({ services: [] })).toEqual(["_format_version: required field missing"]);
    expect(parseErrors({ _format_version: "4.0" })).toEqual([
      "_format_version: expected one of: 1.1, 2.1, 3.0",
    ]);
  });

  test("wrong shapes and unknown keys are named", () => {
    expect(
      parseErrors({ _format_version: "3.0", services: {}, vaults: [{ name: "x" }], consumers: ["x"] }),
    ).toEqual(["vaults: unknown field", "services: expected an array", "consumers[0]: expected a record"]);
  });

  test("a nested child may not set the FK its parent sets", () => {
    expect(
      parseErrors({
        _format_version: "3.0",
        upstreams: [{ name: "u", targets: [{ target: "a.test", upstream: "u" }] }],
      }),
    ).toEqual(["upstreams[0].targets[0].upstream: unknown field"]);
  });

  test("unreadable text is reported, not thrown raw", () => {
    expect(() => parseDeclarativeText("services: [", { filename: "kong.yml" })).toThrow(
      "failed parsing declarative configuration",
    );
  });

  test("the error converts to Kong's code-14 body, nested like the input", () => {
    try {
      parseDeclarative({
        _format_version: "3.0",
        services: [{ name: "s", host: "a", routes: [{ paths: ["x"] }] }],
      });
      throw new Error("expected a failure");
    } catch (e) {
      const body = (e as DeclarativeError).toEntityError().body;
      expect(body.code).toBe(14);
      expect(body.name).toBe("invalid declarative configuration");
      expect(body.fields).toEqual({
        services: [{ routes: [{ paths: ["should start with: / (fixed path) or ~/ (regex path)"] }] }],
      });
      expect(body.message).toContain("services[0].routes[0].paths[0]");
    }
  });
});

describe("flattened errors (POST /config?flatten_errors=1)", () => {
  test("one entry per entity with its type, name, id, tags and field or entity errors", () => {
    const svcId = "5d7a1c2b-3e4f-4a5b-8c6d-7e8f9a0b1c2d";
    let error: DeclarativeError | undefined;
    try {
      parseDeclarative({
        _format_version: "3.0",
        services: [
          {
            id: svcId,
            name: "svc",
            host: "a.test",
            tags: ["t1"],
            routes: [{ name: "r", methods: ["get"], paths: ["x"] }],
          },
        ],
        consumers: [{ tags: ["c"] }],
      });
    } catch (e) {
      error = e as DeclarativeError;
    }
    const body = error!.toEntityError({ flatten: true }).body as unknown as { flattened_errors: unknown };
    expect(body.flattened_errors).toEqual([
      {
        entity_type: "route",
        entity_name: "r",
        entity: { name: "r", methods: ["get"], paths: ["x"], service: { id: svcId } },
        errors: [
          { type: "field", field: "methods.1", message: "invalid value: get" },
          {
            type: "field",
            field: "paths.1",
            message: "should start with: / (fixed path) or ~/ (regex path)",
          },
        ],
      },
      {
        entity_type: "consumer",
        entity_tags: ["c"],
        entity: { tags: ["c"] },
        errors: [
          {
            type: "entity",
            message: "at least one of these fields must be non-empty: 'custom_id', 'username'",
          },
        ],
      },
    ]);
  });
});

describe("export shape", () => {
  const config = {
    _format_version: "3.0",
    services: [
      { name: "on", host: "a.test", routes: [{ name: "r-on", paths: ["/on"] }] },
      {
        name: "off",
        host: "b.test",
        enabled: false,
        routes: [{ name: "r-off", paths: ["/off"], plugins: [{ name: "cors" }] }],
        plugins: [{ name: "key-auth" }],
      },
    ],
    plugins: [{ name: "rate-limiting", enabled: false }, { name: "cors" }],
    consumers: [{ username: "alice", basicauth_credentials: [{ username: "alice", password: "pw" }] }],
  };

  test("Kong's wire shape: 3.0, no transform, plain-id FKs, nulls kept, disabled entities left out", () => {
    const out = exportConfigTable(parseDeclarative(config, { plugins, now: 5 }));
    expect(Object.keys(out)).toEqual([
      "_format_version",
      "_transform",
      "services",
      "routes",
      "consumers",
      "plugins",
      "basicauth_credentials",
    ]);
    expect(out._format_version).toBe("3.0");
    expect(out._transform).toBe(false);
    expect((out.services as { name: string }[]).map((s) => s.name)).toEqual(["on"]);
    const routes = out.routes as Record<string, unknown>[];
    expect(routes.map((r) => r.name)).toEqual(["r-on"]);
    expect(routes[0]!.service).toBe(parseDeclarative(config, { plugins }).services[0]!.id);
    expect(routes[0]!.hosts).toBeNull();
    expect((out.plugins as { name: string; service: unknown }[]).map((p) => [p.name, p.service])).toEqual([
      ["cors", null],
    ]);
  });

  test("export → parse → export keeps the config hash; passwords are not hashed twice", () => {
    const first = exportConfigTable(parseDeclarative(config, { plugins, now: 5 }));
    const wire = JSON.parse(JSON.stringify(first));
    const back = parseDeclarative(wire, { plugins, now: 99 });
    expect(back._transform).toBe(false);
    expect(configHash(exportConfigTable(back))).toEqual(configHash(first));
    expect(back.basicauth_credentials[0]!.password).toBe(
      (first.basicauth_credentials as { password: string }[])[0]!.password,
    );
  });

  test("a Kong export's extras are accepted: ws_id, workspaces, unknown fields that are null", () => {
    const table = parseDeclarative({
      _format_version: "3.0",
      _transform: false,
      workspaces: [{ id: "0dc6f45b-8f8d-40d2-a504-473544ee190b", name: "default" }],
      consumers: [
        { id: IDS.consumer, username: "alice", ws_id: "0dc6f45b-8f8d-40d2-a504-473544ee190b", type: null },
      ],
    });
    expect(table.consumers[0]).toMatchObject({ id: IDS.consumer, username: "alice" });
    expect(parseErrors({ _format_version: "3.0", consumers: [{ username: "a", type: 0 }] })).toEqual([
      "consumers[0].type: unknown field",
    ]);
  });
});
