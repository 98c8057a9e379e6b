import { describe, expect, test } from "bun:test";
import { responseTransformer } from "../../src/plugins/response-transformer";
import { config, configErrors, headersOf, makeContext, request, responseView } from "./helpers";

const rt = (input: Record<string, unknown>) => config(responseTransformer, input);
const ctx = () => makeContext(request("/"));

function filterBody(conf: unknown, body: unknown, contentType = "application/json") {
  const res = responseView(200, { "content-type": contentType });
  const out = responseTransformer.bodyFilter!(
    ctx(),
    conf,
    new TextEncoder().encode(JSON.stringify(body)),
    res,
  );
  return JSON.parse(new TextDecoder().decode(out));
}

describe("response-transformer config", () => {
  test("defaults and bad entries", () => {
    expect(config(responseTransformer)).toMatchObject({
      remove: { json: [], headers: [] },
      add: { json: [], json_types: [], headers: [] },
    });
    expect(configErrors(responseTransformer, { add: { json: ["novalue"], json_types: ["int"] } })).toEqual({
      add: { json: ["invalid value: novalue"], json_types: ["expected one of: boolean, number, string"] },
    });
    expect(configErrors(responseTransformer, { rename: { headers: ["x-a:x b"] } })).toEqual({
      rename: { headers: ["'x b' is not a valid header"] },
    });
  });
});

describe("response-transformer headers", () => {
  test("remove, rename, replace, add, append", () => {
    const res = responseView(200, {
      "x-secret": "s",
      "x-old": "o",
      "x-rep": "r",
      "content-type": "application/json",
      "content-length": "10",
    });
    responseTransformer.headerFilter!(
      ctx(),
      rt({
        remove: { headers: ["X-Secret"] },
        rename: { headers: ["x-old:x-new"] },
        replace: { headers: ["x-rep:R", "x-absent:A"] },
        add: { headers: ["x-rep:no", "x-added:yes"] },
        append: { headers: ["x-rep:R2"], json: ["a:b"] },
      }),
      res,
    );
    const h = headersOf(res.headers);
    expect(h["x-secret"]).toBeUndefined();
    expect(h["x-old"]).toBeUndefined();
    expect(h["x-new"]).toBe("o");
    expect(h["x-absent"]).toBeUndefined();
    expect(h["x-added"]).toBe("yes");
    // The body will change, so its old length must go.
    expect(h["content-length"]).toBeUndefined();
    // Replaced (not added to), then appended.
    const xRep = res.headers.filter((_, i) => i > 0 && res.headers[i - 1] === "x-rep" && i % 2 === 1);
    expect(xRep).toEqual(["R", "R2"]);
  });
});

describe("response-transformer JSON body", () => {
  test("operations and json_types casts", () => {
    const conf = rt({
      remove: { json: ["secret"] },
      rename: { json: ["old:new"] },
      replace: { json: ["count:5", "absent:1"], json_types: ["number", "number"] },
      add: { json: ["flag:true", "count:9"], json_types: ["boolean", "number"] },
      append: { json: ["tags:b"] },
    });
    expect(filterBody(conf, { secret: 1, old: "o", count: 1, tags: "a" })).toEqual({
      new: "o",
      count: 5,
      flag: true,
      tags: ["a", "b"],
    });
  });

  test("non-JSON responses and unparseable bodies pass through untouched", () => {
    const conf = rt({ add: { json: ["a:b"] } });
    const res = responseView(200, { "content-type": "text/html" });
    const raw = new TextEncoder().encode("<p>hi</p>");
    expect(responseTransformer.bodyFilter!(ctx(), conf, raw, res)).toBe(raw);
    const broken = new TextEncoder().encode("{nope");
    expect(
      responseTransformer.bodyFilter!(
        ctx(),
        conf,
        broken,
        responseView(200, { "content-type": "application/json" }),
      ),
    ).toBe(broken);
  });
});
