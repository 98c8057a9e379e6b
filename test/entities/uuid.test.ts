import { describe, expect, test } from "bun:test";
import {
  cacheKeyString,
  DECLARATIVE_NAMESPACE,
  declarativeId,
  entityNamespace,
  splitRouteId,
  uuidv5,
} from "../../src/entities/uuid";

// Expected values computed with python3's uuid.uuid5 on this machine, independently of this code.
describe("uuidv5", () => {
  test("matches RFC 4122 reference outputs for the DNS and URL namespaces", () => {
    expect(uuidv5("6ba7b810-9dad-11d1-80b4-00c04fd430c8", "www.example.com")).toBe(
      "2ed6657d-e927-568b-95e1-2665a8aea6a2",
    );
    expect(uuidv5("6ba7b811-9dad-11d1-80b4-00c04fd430c8", "http://example.com/")).toBe(
      "0a300ee9-f9e4-5697-a51a-efc7fafaba67",
    );
  });

  test("hashes names as UTF-8", () => {
    expect(uuidv5(entityNamespace("services"), "sérvice-✓")).toBe("145ad565-a045-5387-b7f6-76933c0d0a35");
  });

  test("refuses a namespace that is not a uuid", () => {
    expect(() => uuidv5("not-a-uuid", "x")).toThrow("invalid namespace uuid");
  });
});

describe("Kong's declarative ids", () => {
  test("per-entity namespaces derive from Kong's root namespace", () => {
    expect(DECLARATIVE_NAMESPACE).toBe("fd02801f-0957-4a15-a55a-c8d9606f30b5");
    expect(entityNamespace("services")).toBe("90050c4f-539a-5bd9-bfb5-2ff1c430ca18");
    expect(entityNamespace("routes")).toBe("78aafefa-16c7-5598-8955-58dc6264b27a");
    expect(entityNamespace("plugins")).toBe("e9b79996-068a-576f-804e-98a685f0a58e");
  });

  test("endpoint-key ids: a service named example-service", () => {
    expect(declarativeId("services", "example-service")).toBe("7a267194-6123-5ee0-a1c9-4c1559eb0d95");
  });

  test("cache-key ids: plugins, targets and acls", () => {
    const svc = "7a267194-6123-5ee0-a1c9-4c1559eb0d95";
    expect(declarativeId("plugins", cacheKeyString("plugins", ["rate-limiting", "", svc, ""]))).toBe(
      "3781375c-1841-5828-8b37-82db433d96da",
    );
    expect(declarativeId("plugins", cacheKeyString("plugins", ["cors", "", "", ""]))).toBe(
      "48ee727e-8b90-5faa-bda1-a3c6bc3c9daa",
    );
    const consumer = declarativeId("consumers", "alice");
    expect(consumer).toBe("b32379d9-3d28-5683-a79c-72139be6e34f");
    expect(declarativeId("acls", cacheKeyString("acls", [consumer, "admins"]))).toBe(
      "dc1ddbfc-2574-5f8c-ab9c-efb6170dfeaa",
    );
  });

  test("cache keys use * for the workspace unless one is given, and empty strings for unset parts", () => {
    expect(cacheKeyString("plugins", ["cors", null, undefined, ""])).toBe("plugins:*:cors:::");
    expect(cacheKeyString("acls", ["c", "g"], "ws1")).toBe("acls:ws1:c:g");
  });

  test("split sub-route ids", () => {
    expect(splitRouteId("eeb325b8-afd4-5ba2-a113-c34eeb969c1d", 2)).toBe(
      "0bc849f8-8757-5604-919e-60995fc43f91",
    );
  });
});
