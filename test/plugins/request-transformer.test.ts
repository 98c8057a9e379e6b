import { describe, expect, test } from "bun:test";
import { requestTransformer, UPSTREAM_METHOD } from "../../src/plugins/request-transformer";
import { access, config, configErrors, makeContext, request } from "./helpers";

const rt = (input: Record<string, unknown>) => config(requestTransformer, input);
const text = (body: unknown) =>
  typeof body === "string" ? body : new TextDecoder().decode(body as Uint8Array);

describe("request-transformer config", () => {
  test("every section is filled with empty lists", () => {
    const c = config(requestTransformer) as Record<string, unknown>;
    expect(c.http_method).toBeNull();
    expect(c.remove).toEqual({ body: [], headers: [], querystring: [] });
    expect(c.replace).toEqual({ body: [], headers: [], querystring: [], uri: null });
  });

  test("bad entries are named with Kong's wording", () => {
    expect(
      configErrors(requestTransformer, { add: { headers: ["bad header:x"], querystring: ["q"] } }),
    ).toEqual({
      add: { headers: ["'bad header' is not a valid header"], querystring: ["key 'q' has no value"] },
    });
    expect(configErrors(requestTransformer, { rename: { headers: ["a:b c"] } })).toEqual({
      rename: { headers: ["'b c' is not a valid header"] },
    });
    expect(configErrors(requestTransformer, { http_method: "get" })).toEqual({
      http_method: "invalid value: get",
    });
  });
});

describe("request-transformer access", () => {
  test("headers: remove, rename, replace, add, append in Kong's order", async () => {
    const ctx = makeContext(
      request("/", { headers: { "x-old": "1", "x-gone": "g", "x-rep": "r", "x-app": "a" } }),
    );
    await access(
      requestTransformer,
      ctx,
      rt({
        remove: { headers: ["X-Gone", "x-absent"] },
        rename: { headers: ["x-old:x-new"] },
        replace: { headers: ["x-rep:R", "x-missing:M"] },
        add: { headers: ["x-rep:ignored", "x-added:yes"] },
        append: { headers: ["x-app:b", "x-fresh:f"] },
      }),
    );
    expect(Object.fromEntries(ctx.upstreamHeaders)).toEqual({
      "x-gone": null,
      "x-new": "1",
      "x-old": null,
      "x-rep": "R",
      "x-added": "yes",
      "x-app": "a, b",
      "x-fresh": "f",
    });
  });

  test("query string operations", async () => {
    const ctx = makeContext(request("/?a=1&b=2&c=3&c=4"));
    await access(
      requestTransformer,
      ctx,
      rt({
        remove: { querystring: ["a"] },
        rename: { querystring: ["b:bee"] },
        replace: { querystring: ["c:9"] },
        add: { querystring: ["c:no", "d:new value"] },
        append: { querystring: ["e:1", "e:2"] },
      }),
    );
    expect(ctx.query).toBe("c=9&bee=2&d=new+value&e=1&e=2");
  });

  test("JSON body: fields transformed, Content-Length updated", async () => {
    const ctx = makeContext(
      request("/", {
        method: "POST",
        headers: { "content-type": "application/json; charset=utf-8" },
        body: JSON.stringify({ secret: "s", old: 1, keep: "k", list: "x" }),
      }),
    );
    await access(
      requestTransformer,
      ctx,
      rt({
        remove: { body: ["secret"] },
        rename: { body: ["old:new"] },
        replace: { body: ["keep:replaced"] },
        add: { body: ["added:yes"] },
        append: { body: ["list:y"] },
      }),
    );
    const body = text(ctx.upstreamBody);
    expect(JSON.parse(body)).toEqual({ new: 1, keep: "replaced", added: "yes", list: ["x", "y"] });
    expect(ctx.upstreamHeaders.get("content-length")).toBe(String(Buffer.byteLength(body)));
  });

  test("form and multipart bodies", async () => {
    const form = makeContext(
      request("/", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded" },
        body: "a=1&b=2",
      }),
    );
    await access(requestTransformer, form, rt({ remove: { body: ["a"] }, add: { body: ["c:3"] } }));
    expect(text(form.upstreamBody)).toBe("b=2&c=3");

    const data = new FormData();
    data.set("user", "u");
    data.set("drop", "d");
    const original = new Request("http://gw.test/", { method: "POST", body: data });
    const multi = makeContext(original);
    await access(
      requestTransformer,
      multi,
      rt({ remove: { body: ["drop"] }, rename: { body: ["user:login"] } }),
    );
    const contentType = multi.upstreamHeaders.get("content-type")!;
    expect(contentType).toStartWith("multipart/form-data; boundary=");
    const parsed = await new Response(multi.upstreamBody as Uint8Array, {
      headers: { "content-type": contentType },
    }).formData();
    expect([...parsed.entries()]).toEqual([["login", "u"]]);
  });

  test("uri, method (form body moves to the query) and header/query templates", async () => {
    const ctx = makeContext(
      request("/old?id=7", {
        method: "POST",
        headers: { "content-type": "application/x-www-form-urlencoded", "x-user": "ann" },
        body: "f=1",
      }),
    );
    await access(
      requestTransformer,
      ctx,
      rt({
        http_method: "GET",
        replace: { uri: "/users/$(query_params.id)" },
        add: { headers: ['x-who:$(headers["x-user"])'] },
      }),
    );
    expect(ctx.upstreamPath).toBe("/users/7");
    expect(ctx.shared[UPSTREAM_METHOD]).toBe("GET");
    expect(ctx.query).toBe("id=7&f=1");
    expect(ctx.upstreamHeaders.get("x-who")).toBe("ann");
  });
});
