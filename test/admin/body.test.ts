import { describe, expect, test } from "bun:test";
import { type FieldType, fromPairs, readBody } from "../../src/admin/body";

const types: Record<string, FieldType> = {
  port: "integer",
  retries: "integer",
  strip_path: "boolean",
  paths: "array",
  "paths.[]": "string",
  methods: "set",
  "methods.[]": "string",
  "config.minute": "integer",
  "config.http_statuses": "array",
  "config.http_statuses.[]": "integer",
  "service.id": "string",
  tags: "set",
  "tags.[]": "string",
};
const typeOf = (path: readonly string[]) => types[path.join(".")];

describe("form bodies (Kong's grammar)", () => {
  test("arrays with [] and with a single value, nested records with dots, typed values", () => {
    const body = fromPairs(
      [
        ["name", "example"],
        ["port", "8080"],
        ["strip_path", "false"],
        ["paths[]", "/a"],
        ["paths[]", "/b"],
        ["methods", "GET"],
        ["config.minute", "5"],
        ["config.http_statuses[]", "500"],
        ["service.id", "1b1d4e4c-0000-4000-8000-000000000000"],
      ],
      typeOf,
    );
    expect(body).toEqual({
      name: "example",
      port: 8080,
      strip_path: false,
      paths: ["/a", "/b"],
      methods: ["GET"],
      config: { minute: 5, http_statuses: [500] },
      service: { id: "1b1d4e4c-0000-4000-8000-000000000000" },
    });
  });

  test("values that do not parse stay as sent, for the validator to reject by name", () => {
    expect(fromPairs([["port", "eighty"]], typeOf)).toEqual({ port: "eighty" });
  });

  test("an empty value clears a non-string field", () => {
    expect(fromPairs([["retries", ""]], typeOf)).toEqual({ retries: null });
  });

  test("bracket indexes and bracketed record keys", () => {
    expect(
      fromPairs(
        [
          ["paths[2]", "/b"],
          ["paths[1]", "/a"],
          ["config[minute]", "7"],
        ],
        typeOf,
      ),
    ).toEqual({
      paths: ["/a", "/b"],
      config: { minute: 7 },
    });
  });
});

describe("readBody", () => {
  const req = (body: string, type: string) =>
    new Request("http://x/", { method: "POST", body, headers: { "content-type": type } });

  test("JSON bodies are taken as they are", async () => {
    expect(await readBody(req('{"name":"a","port":81}', "application/json"), () => typeOf)).toEqual({
      name: "a",
      port: 81,
    });
  });

  test("broken JSON is an error the caller turns into a 400", async () => {
    await expect(readBody(req("{nope", "application/json"), () => typeOf)).rejects.toThrow(
      "Cannot parse JSON body",
    );
  });

  test("form-encoded and multipart bodies", async () => {
    expect(
      await readBody(req("name=a&tags[]=x&tags[]=y", "application/x-www-form-urlencoded"), () => typeOf),
    ).toEqual({
      name: "a",
      tags: ["x", "y"],
    });
    const form = new FormData();
    form.append("name", "m");
    form.append("port", "82");
    const multipart = new Request("http://x/", { method: "POST", body: form });
    expect(await readBody(multipart, () => typeOf)).toEqual({ name: "m", port: 82 });
  });
});
