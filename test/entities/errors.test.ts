import { describe, expect, test } from "bun:test";
import {
  caCertificateReferenced,
  EntityError,
  foreignKeyViolation,
  invalidOffset,
  invalidSize,
  notFound,
  operationUnsupported,
  prettyKey,
  referencedByOthers,
  schemaViolation,
  uniqueViolation,
} from "../../src/entities/errors";

describe("Kong DAO errors", () => {
  test("unique violation: 409 with Kong's message", () => {
    const e = uniqueViolation({ name: "x" });
    expect(e).toBeInstanceOf(EntityError);
    expect(e.status).toBe(409);
    expect(e.body).toEqual({
      code: 5,
      name: "unique constraint violation",
      message: "UNIQUE violation detected on '{name=\"x\"}'",
      fields: { name: "x" },
    });
  });

  test("foreign key violation names the parent entity", () => {
    const e = foreignKeyViolation("service", { id: "123" }, "services");
    expect(e.status).toBe(400);
    expect(e.body).toEqual({
      code: 4,
      name: "foreign key violation",
      message: "the foreign key '{id=\"123\"}' does not reference an existing 'services' entity.",
      fields: { service: { id: "123" } },
    });
  });

  test("referenced by others uses Kong's restricted-delete wording", () => {
    expect(referencedByOthers("services", "routes").body).toEqual({
      code: 4,
      name: "foreign key violation",
      message: "an existing 'routes' entity references this 'services' entity",
      fields: { "@referenced_by": "routes" },
    });
  });

  test("a referenced CA certificate cannot be deleted (code 19)", () => {
    expect(caCertificateReferenced("ca1", "services", "s1")).toMatchObject({
      status: 400,
      body: {
        code: 19,
        name: "referenced by others",
        message: "ca certificate ca1 is still referenced by services (id = s1)",
      },
    });
  });

  test("not found, invalid size, invalid offset, unsupported", () => {
    expect(notFound({ id: "abc" })).toMatchObject({
      status: 404,
      body: {
        code: 6,
        name: "not found",
        message: "could not find the entity with primary key '{id=\"abc\"}'",
      },
    });
    expect(invalidSize()).toMatchObject({
      status: 400,
      body: { code: 9, name: "invalid size", message: "size must be an integer between 1 and 1000" },
    });
    expect(invalidOffset("zz", "bad offset").body).toMatchObject({
      code: 7,
      message: "'zz' is not a valid offset: bad offset",
    });
    expect(operationUnsupported("cannot create 'targets' entities").status).toBe(405);
  });

  test("schema violation counts and orders its lines", () => {
    expect(schemaViolation({ b: "x", a: { c: "y" }, "@entity": ["e"] }).message).toBe(
      "3 schema violations (e; a.c: y; b: x)",
    );
  });

  test("pretty keys render nulls and numbers as Kong's pl.pretty does", () => {
    expect(prettyKey({ name: null, port: 80, id: "a" })).toBe('{name=null,port=80,id="a"}');
  });
});
