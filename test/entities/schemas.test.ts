import { beforeAll, describe, expect, test } from "bun:test";
import { createHash } from "node:crypto";
import {
  ENTITIES,
  entityByAdminPath,
  entityDefinition,
  expandServiceUrl,
  normalizePath,
} from "../../src/entities/schemas";
import { validateEntity } from "../../src/entities/validate";
import { type Pem, selfSigned } from "./certs";

const UPSTREAM_ID = "7f3a4e4c-8b7e-4c1e-9d7a-2b5c6d7e8f90";
const CONSUMER_ID = "1b0a8c2e-5d4f-4e3a-9b2c-7d6e5f4a3b21";

function ok(entity: string, input: unknown): Record<string, unknown> {
  const r = validateEntity(entity, input, { now: 1700000000 });
  if (!r.ok) throw new Error(`expected ${entity} to validate: ${JSON.stringify(r.fields)}`);
  return r.entity;
}

function fields(entity: string, input: unknown): Record<string, unknown> {
  const r = validateEntity(entity, input);
  if (r.ok) throw new Error(`expected ${entity} to be refused`);
  return r.fields;
}

describe("services", () => {
  test("defaults filled as Kong does, every field present", () => {
    expect(ok("services", { host: "example.com" })).toMatchObject({
      name: null,
      retries: 5,
      protocol: "http",
      host: "example.com",
      port: 80,
      path: null,
      connect_timeout: 60000,
      write_timeout: 60000,
      read_timeout: 60000,
      tags: null,
      client_certificate: null,
      tls_verify: null,
      tls_verify_depth: null,
      ca_certificates: null,
      enabled: true,
      created_at: 1700000000,
      updated_at: 1700000000,
    });
  });

  test("url shorthand sets protocol, host, port and path with Kong's inference", () => {
    expect(expandServiceUrl({ url: "https://api.test/v1" })).toEqual({
      protocol: "https",
      host: "api.test",
      port: 443,
      path: "/v1",
    });
    expect(expandServiceUrl({ url: "http://api.test:8080" })).toMatchObject({ port: 8080, path: null });
    expect(expandServiceUrl({ url: "api.test:443" })).toMatchObject({ protocol: "https", port: 443 });
    expect(expandServiceUrl({ url: "grpc://api.test" })).toMatchObject({ protocol: "grpc", port: 80 });
    expect(ok("services", { name: "s", url: "https://api.test:8443/x" })).toMatchObject({
      protocol: "https",
      host: "api.test",
      port: 8443,
      path: "/x",
    });
  });

  test("protocol rules: no path for tcp, tls fields only for https/tls", () => {
    expect(fields("services", { host: "a", protocol: "tcp", path: "/x", tls_verify: true })).toEqual({
      path: "value must be null",
      tls_verify: "value must be null",
      "@entity": [
        "failed conditional validation given value of field 'protocol'",
        "failed conditional validation given value of field 'protocol'",
      ],
    });
    expect(ok("services", { host: "a", protocol: "https", tls_verify: true }).tls_verify).toBe(true);
  });

  test("hosts are checked as Kong's hostname rules read them", () => {
    expect(fields("services", { host: "a b.test" }).host).toBe("invalid value: a b.test");
    expect(fields("services", { host: "a-.test" }).host).toBe("invalid value: a-.test");
    expect(fields("services", { host: "1.2.3" }).host).toBe("invalid value: 1.2.3");
    expect(ok("services", { host: "my_host.internal." }).host).toBe("my_host.internal.");
    expect(ok("services", { host: "::1" }).host).toBe("::1");
  });

  test("bad names, hosts, ports and paths are refused with Kong's messages", () => {
    expect(fields("services", { name: "a b", host: "a:80", port: 70000, path: "/a//b" })).toEqual({
      name: "invalid value 'a b': the only accepted ascii characters are alphanumerics or ., -, _, and ~",
      host: "must not have a port",
      port: "value should be between 0 and 65535",
      path: "must not have empty segments",
    });
  });
});

describe("routes", () => {
  test("defaults", () => {
    expect(ok("routes", { paths: ["/a"] })).toMatchObject({
      protocols: ["http", "https"],
      https_redirect_status_code: 426,
      strip_path: true,
      preserve_host: false,
      request_buffering: true,
      response_buffering: true,
      regex_priority: 0,
      path_handling: "v0",
      service: null,
      hosts: null,
    });
  });

  test("http and https routes need a matching field", () => {
    expect(fields("routes", {})).toEqual({
      "@entity": [
        "must set one of 'methods', 'hosts', 'headers', 'paths', 'snis' when 'protocols' is 'https'",
      ],
    });
    expect(fields("routes", { protocols: ["http"] })).toEqual({
      "@entity": ["must set one of 'methods', 'hosts', 'headers', 'paths' when 'protocols' is 'http'"],
    });
  });

  test("stream routes refuse http fields and need sources, destinations or snis", () => {
    expect(fields("routes", { protocols: ["tcp"], paths: ["/a"] })).toEqual({
      paths: "cannot set 'paths' when 'protocols' is 'tcp', 'tls', 'tls_passthrough' or 'udp'",
      "@entity": [
        "must set one of 'sources', 'destinations', 'snis' when 'protocols' is 'tcp', 'tls' or 'udp'",
      ],
    });
    expect(ok("routes", { protocols: ["tcp"], destinations: [{ port: 5432 }] }).destinations).toEqual([
      { ip: null, port: 5432 },
    ]);
    expect(fields("routes", { protocols: ["tls_passthrough"] })).toEqual({
      "@entity": ["must set snis when 'protocols' is 'tls_passthrough'"],
    });
  });

  test("grpc routes default strip_path to false and refuse true", () => {
    expect(ok("routes", { protocols: ["grpc"], paths: ["/svc.Foo/"] }).strip_path).toBe(false);
    expect(fields("routes", { protocols: ["grpcs"], hosts: ["a"], strip_path: true })).toEqual({
      strip_path: "cannot set 'strip_path' when 'protocols' is 'grpc' or 'grpcs'",
    });
  });

  test("protocol groups are mutually exclusive; snis need a TLS protocol", () => {
    expect(fields("routes", { protocols: ["http", "tcp"], paths: ["/a"] }).protocols).toBe(
      "these sets are mutually exclusive: ('http', 'https'), ('tcp', 'tls', 'udp')",
    );
    expect(fields("routes", { protocols: ["http"], paths: ["/a"], snis: ["a.test"] })).toEqual({
      snis: "length must be 0",
      "@entity": ["'snis' can only be set when 'protocols' is 'grpcs', 'https', 'tls' or 'tls_passthrough'"],
    });
  });

  test("paths, hosts, headers and methods are checked element by element", () => {
    expect(
      fields("routes", {
        paths: ["/ok", "nope", "/a/../b", "~/(unclosed"],
        hosts: ["*.a.test", "a.*.test", "x.*"],
        headers: { Host: ["a"] },
        methods: ["GET", "get"],
      }),
    ).toEqual({
      paths: [
        null,
        "should start with: / (fixed path) or ~/ (regex path)",
        "non-normalized path, consider use '/b' instead",
        expect.stringContaining("invalid regex: '/(unclosed' (PCRE returned: "),
      ],
      hosts: [null, "invalid wildcard: must be placed at leftmost or rightmost label"],
      headers: { Host: "cannot contain 'host' header, which must be specified in the 'hosts' attribute" },
      methods: [null, "invalid value: get"],
    });
  });

  test("sets drop duplicates, keeping the first occurrence; tags refuse commas and slashes", () => {
    const r = ok("routes", { paths: ["/a"], methods: ["GET", "POST", "GET"], tags: ["x", "x", "ü"] });
    expect([r.methods, r.tags]).toEqual([
      ["GET", "POST"],
      ["x", "ü"],
    ]);
    expect(fields("routes", { paths: ["/a"], tags: ["a,b", "c/d"] }).tags).toEqual([
      "invalid tag 'a,b': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
      "invalid tag 'c/d': expected printable ascii (except `,` and `/`) or valid utf-8 sequences",
    ]);
  });

  test("plain paths must be normalized the way Kong normalizes them", () => {
    expect(normalizePath("/a/./b/../c")).toBe("/a/c");
    expect(normalizePath("/%7euser/%2f")).toBe("/~user/%2F");
  });
});

describe("upstreams and targets", () => {
  test("healthchecks defaults are filled in full", () => {
    const u = ok("upstreams", { name: "backend.internal" });
    expect(u).toMatchObject({
      algorithm: "round-robin",
      hash_on: "none",
      slots: 10000,
      hash_on_cookie_path: "/",
    });
    expect(u.healthchecks).toEqual({
      active: {
        type: "http",
        timeout: 1,
        concurrency: 10,
        http_path: "/",
        https_sni: null,
        https_verify_certificate: true,
        headers: null,
        healthy: { interval: 0, http_statuses: [200, 302], successes: 0 },
        unhealthy: {
          interval: 0,
          http_statuses: [429, 404, 500, 501, 502, 503, 504, 505],
          tcp_failures: 0,
          timeouts: 0,
          http_failures: 0,
        },
      },
      passive: {
        type: "http",
        healthy: {
          http_statuses: [
            200, 201, 202, 203, 204, 205, 206, 207, 208, 226, 300, 301, 302, 303, 304, 305, 306, 307, 308,
          ],
          successes: 0,
        },
        unhealthy: { http_statuses: [429, 500, 503], tcp_failures: 0, timeouts: 0, http_failures: 0 },
      },
      threshold: 0,
    });
  });

  test("hash_on picks the algorithm; hashing on a header needs the header name", () => {
    expect(ok("upstreams", { name: "a", hash_on: "ip" }).algorithm).toBe("consistent-hashing");
    expect(ok("upstreams", { name: "a", algorithm: "least-connections" }).hash_on).toBe("none");
    expect(fields("upstreams", { name: "a", hash_on: "header" })).toEqual({
      hash_on_header: "required field missing",
      "@entity": ["failed conditional validation given value of field 'hash_on'"],
    });
  });

  test("upstream names are hostnames without ports or IPs", () => {
    expect(fields("upstreams", { name: "10.0.0.1" }).name).toBe(
      "Invalid name ('10.0.0.1'); no ip addresses allowed",
    );
    expect(fields("upstreams", { name: "a.test:80" }).name).toBe(
      "Invalid name ('a.test:80'); no port allowed",
    );
  });

  test("targets get port 8000 when none is given, weight 100, and millisecond timestamps", () => {
    const r = validateEntity(
      "targets",
      { target: "10.0.0.1", upstream: { id: UPSTREAM_ID } },
      { now: 1700000000.1234 },
    );
    expect(r.ok && r.entity).toMatchObject({
      target: "10.0.0.1:8000",
      weight: 100,
      created_at: 1700000000.123,
    });
    expect(ok("targets", { target: "[::1]", upstream: { id: UPSTREAM_ID } }).target).toBe(
      "[0000:0000:0000:0000:0000:0000:0000:0001]:8000",
    );
    expect(ok("targets", { target: "010.000.000.001", upstream: { id: UPSTREAM_ID } }).target).toBe(
      "10.0.0.1:8000",
    );
    expect(ok("targets", { target: "a.test:81", upstream: { id: UPSTREAM_ID } }).target).toBe("a.test:81");
    expect(fields("targets", { target: "a.test:99999", upstream: { id: UPSTREAM_ID } })).toEqual({
      target: "Invalid target ('a.test:99999'); not a valid hostname or ip address",
    });
  });
});

describe("consumers and credentials", () => {
  test("consumers need a username or custom_id", () => {
    expect(fields("consumers", { tags: ["a"] })).toEqual({
      "@entity": ["at least one of these fields must be non-empty: 'custom_id', 'username'"],
    });
    expect(ok("consumers", { custom_id: "c-1" })).toMatchObject({ username: null, custom_id: "c-1" });
  });

  test("basic-auth passwords are stored as sha1(password .. consumer_id)", () => {
    const cred = ok("basicauth_credentials", {
      username: "u",
      password: "s3cret",
      consumer: { id: CONSUMER_ID },
    });
    expect(cred.password).toBe(createHash("sha1").update(`s3cret${CONSUMER_ID}`).digest("hex"));
    const raw = validateEntity(
      "basicauth_credentials",
      { username: "u", password: "already-hashed", consumer: { id: CONSUMER_ID } },
      { transform: false },
    );
    expect(raw.ok && raw.entity.password).toBe("already-hashed");
  });

  test("key-auth keys are generated when absent", () => {
    const a = ok("keyauth_credentials", { consumer: { id: CONSUMER_ID } });
    const b = ok("keyauth_credentials", { consumer: { id: CONSUMER_ID } });
    expect(a.key).toMatch(/^[0-9a-f]{32}$/);
    expect(a.key).not.toBe(b.key);
    expect(ok("keyauth_credentials", { key: "mine", consumer: { id: CONSUMER_ID } }).key).toBe("mine");
  });

  test("credentials require their consumer and acls their group", () => {
    expect(fields("acls", {})).toEqual({
      consumer: "required field missing",
      group: "required field missing",
    });
  });
});

describe("certificates", () => {
  let rsa: Pem;
  let ec: Pem;
  let ca: Pem;
  // RSA key generation can take seconds on a busy machine.
  beforeAll(() => {
    rsa = selfSigned({ cn: "rsa.test", ca: false, rsa: true });
    ec = selfSigned({ cn: "ec.test", ca: false });
    ca = selfSigned({ cn: "Test CA", ca: true });
  }, 60_000);

  test("a matching cert and key pass; a mismatch is refused", () => {
    expect(ok("certificates", rsa).cert).toBe(rsa.cert);
    expect(fields("certificates", { cert: rsa.cert, key: ec.key })).toEqual({
      "@entity": ["certificate does not match key"],
    });
  });

  test("alternate certificates must come in pairs and differ in key type", () => {
    expect(ok("certificates", { ...rsa, cert_alt: ec.cert, key_alt: ec.key }).cert_alt).toBe(ec.cert);
    expect(fields("certificates", { ...rsa, cert_alt: ec.cert })).toEqual({
      "@entity": ["all or none of these fields must be set: 'cert_alt', 'key_alt'"],
    });
    expect(fields("certificates", { ...rsa, cert_alt: rsa.cert, key_alt: rsa.key })["@entity"]).toEqual([
      "certificate and alternative certificate need to have different type (e.g. RSA and ECDSA), the provided certificates were both of the same type",
    ]);
  });

  test("garbage PEM names the field", () => {
    expect(fields("certificates", { cert: "garbage", key: rsa.key }).cert).toStartWith(
      "invalid certificate: ",
    );
  });

  test("CA certificates must be CAs, one at a time, and get their sha256 digest", () => {
    const stored = ok("ca_certificates", { cert: ca.cert });
    const der = Buffer.from(ca.cert.replace(/-----[^-]+-----|\s/g, ""), "base64");
    expect(stored.cert_digest).toBe(createHash("sha256").update(der).digest("hex"));
    expect(fields("ca_certificates", { cert: rsa.cert })).toEqual({
      "@entity": ['certificate does not appear to be a CA because it is missing the "CA" basic constraint'],
    });
    expect(fields("ca_certificates", { cert: ca.cert + ca.cert })).toEqual({
      "@entity": ["please submit only one certificate at a time"],
    });
  });

  test("snis must be names, not IPs or ports", () => {
    expect(fields("snis", { name: "10.0.0.1", certificate: { id: UPSTREAM_ID } }).name).toBe(
      "must not be an IP",
    );
    expect(fields("snis", { name: "a.*.test", certificate: { id: UPSTREAM_ID } }).name).toBe(
      "wildcard must be leftmost or rightmost character",
    );
    expect(ok("snis", { name: "*.a.test", certificate: { id: UPSTREAM_ID } }).name).toBe("*.a.test");
  });
});

describe("entity registry", () => {
  test("admin paths, endpoint keys, FKs and cascade rules", () => {
    expect(entityByAdminPath("key-auths")?.name).toBe("keyauth_credentials");
    expect(entityDefinition("keyauth_credentials")?.nestedAdminPath).toBe("key-auth");
    expect(entityDefinition("basicauth_credentials")?.nestedAdminPath).toBe("basic-auth");
    expect(entityDefinition("consumers")?.endpointKey).toBe("username");
    expect(entityDefinition("consumers")?.unique).toEqual(["username", "custom_id"]);
    expect(entityDefinition("routes")?.foreignKeys).toEqual([
      { field: "service", reference: "services", onDelete: "restrict", required: false },
    ]);
    expect(entityDefinition("targets")?.foreignKeys).toEqual([
      { field: "upstream", reference: "upstreams", onDelete: "cascade", required: true },
    ]);
    expect(entityDefinition("plugins")?.cacheKey).toEqual(["name", "route", "service", "consumer"]);
    expect(entityDefinition("certificates")?.secretFields).toEqual(["key", "key_alt"]);
    expect(entityDefinition("certificates")?.transientFields).toEqual(["snis"]);
  });

  test("parents come before children", () => {
    const rank = new Map(ENTITIES.map((e, i) => [e.name, i]));
    for (const e of ENTITIES)
      for (const fk of e.foreignKeys) expect(rank.get(fk.reference)!).toBeLessThan(rank.get(e.name)!);
  });
});
