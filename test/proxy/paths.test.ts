import { describe, expect, test } from "bun:test";
import {
  computeUpstreamPath,
  escapeUpstreamPath,
  normalizePath,
  sanitizePostfix,
} from "../../src/proxy/paths";

describe("normalizePath (Kong's normalize with merged slashes)", () => {
  test.each([
    ["", ""],
    ["/", "/"],
    ["/a", "/a"],
    ["/a/", "/a/"],
    ["/a/b/c/", "/a/b/c/"],
  ])("leaves normalized %p alone", (input, out) => {
    expect(normalizePath(input)).toBe(out);
  });

  test("keeps reserved characters encoded and uppercases their triplets", () => {
    expect(normalizePath("/a%2fb%2Fc/")).toBe("/a%2Fb%2Fc/");
    expect(normalizePath("/%20%21%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D")).toBe(
      "/ %21%23%24%25%26%27%28%29%2A%2B%2C%2F%3A%3B%3D%3F%40%5B%5D",
    );
  });

  test("decodes unreserved and other characters, whatever the triplet's case", () => {
    expect(normalizePath("/f%6f%6f")).toBe("/foo");
    expect(normalizePath("/%6B%6f%6e%67")).toBe("/kong");
    expect(normalizePath("/endel%C3%B8st")).toBe("/endeløst");
    expect(normalizePath("/%2E")).toBe("/");
  });

  test.each([
    ["//", "/"],
    ["/////", "/"],
    ["/./", "/"],
    ["/.", "/"],
    ["/..", "/"],
    ["/../", "/"],
    ["/./.././../", "/"],
    ["/a//b//", "/a/b/"],
    ["/a/b/c/./../../g", "/a/g"],
    ["mid/content=5/../6", "mid/6"],
    ["/foo/./bar/../baz", "/foo/baz"],
  ])("removes dot segments and merges slashes: %p → %p", (input, out) => {
    expect(normalizePath(input)).toBe(out);
  });

  test("an encoded dot segment is a dot segment", () => {
    expect(normalizePath("/a/%2e%2E/b")).toBe("/b");
  });

  test("Kong's mixed example; bytes that are not UTF-8 stay encoded and so reach the upstream unchanged", () => {
    const path = normalizePath("/%C3%A4/a/%2e./a%2E//a/%2e/./a/../a/%2e%2E/%5f%99%af%2f%2F");
    expect(path).toBe("/ä/a./a/_%99%AF%2F%2F");
    expect(escapeUpstreamPath(path)).toBe("/%C3%A4/a./a/_%99%AF%2F%2F");
  });
});

describe("escapeUpstreamPath (Kong's escape)", () => {
  test("leaves reserved, unreserved and % alone", () => {
    const safe = "/!#$%&'()*+,/:;=?@[]ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.~";
    expect(escapeUpstreamPath(safe)).toBe(safe);
  });

  test("escapes spaces and UTF-8 byte by byte", () => {
    expect(escapeUpstreamPath("/a b/c d")).toBe("/a%20b/c%20d");
    expect(escapeUpstreamPath("/a😀")).toBe("/a%F0%9F%98%80");
    expect(escapeUpstreamPath("/endeløst")).toBe("/endel%C3%B8st");
    expect(escapeUpstreamPath('/"<>')).toBe("/%22%3C%3E");
  });
});

describe("sanitizePostfix", () => {
  test.each([
    [".", ""],
    ["..", ""],
    ["./x", "x"],
    ["../x", "x"],
    ["/x", "/x"],
    ["", ""],
  ])("%p → %p", (input, out) => {
    expect(sanitizePostfix(input)).toBe(out);
  });
});

describe("computeUpstreamPath: Kong's path_handling table (service path /s)", () => {
  // [route path, request path, strip_path, path_handling, upstream path]; the docs' `/s/fv01/` is a typo for `/s/fv0/`.
  const rows: [string, string, boolean, "v0" | "v1", string][] = [
    ["/fv0", "/fv0/req", false, "v0", "/s/fv0/req"],
    ["/fv0", "/fv0", false, "v0", "/s/fv0"],
    ["/fv1", "/fv1/req", false, "v1", "/sfv1/req"],
    ["/fv1", "/fv1", false, "v1", "/sfv1"],
    ["/tv0", "/tv0/req", true, "v0", "/s/req"],
    ["/tv0", "/tv0", true, "v0", "/s"],
    ["/tv1", "/tv1/req", true, "v1", "/s/req"],
    ["/tv1", "/tv1", true, "v1", "/s"],
    ["/fv0/", "/fv0/req", false, "v0", "/s/fv0/req"],
    ["/fv0/", "/fv0/", false, "v0", "/s/fv0/"],
    ["/fv1/", "/fv1/req", false, "v1", "/sfv1/req"],
    ["/fv1/", "/fv1/", false, "v1", "/sfv1/"],
    ["/tv0/", "/tv0/req", true, "v0", "/s/req"],
    ["/tv0/", "/tv0/", true, "v0", "/s/"],
    ["/tv1/", "/tv1/req", true, "v1", "/sreq"],
    ["/tv1/", "/tv1/", true, "v1", "/s"],
  ];
  test.each(rows)("route %p, request %p, strip_path %p, %p → %p", (route, req, strip, handling, out) => {
    expect(computeUpstreamPath("/s", req, route, strip, handling)).toBe(out);
  });
});

describe("computeUpstreamPath v0: every cell of the strip_path tables", () => {
  const v0 = (
    servicePath: string | null,
    requestPath: string,
    matchedPrefix: string | null,
    stripPath: boolean,
  ) => computeUpstreamPath(servicePath, requestPath, matchedPrefix, stripPath, "v0");

  test("service path ending in /, strip_path, nothing left after the prefix", () => {
    expect(v0("/", "/foo", "/foo", true)).toBe("/");
    expect(v0(null, "/foo/", "/foo/", true)).toBe("/");
    expect(v0("/s/", "/foo/", "/foo/", true)).toBe("/s/");
    expect(v0("/s/", "/foo", "/foo", true)).toBe("/s");
  });

  test("service path ending in /, strip_path, rest starting with / drops the double slash", () => {
    expect(v0("/s/", "/foo/bar", "/foo", true)).toBe("/s/bar");
    expect(v0("/", "/foo/bar", "/foo", true)).toBe("/bar");
  });

  test("service path ending in /, strip_path, rest without leading / is appended", () => {
    expect(v0("/s/", "/foo/bar", "/foo/", true)).toBe("/s/bar");
    expect(v0("/s/", "/foobar", "/foo", true)).toBe("/s/bar");
  });

  test("service path ending in /, no strip_path: the request path joins it", () => {
    expect(v0("/s/", "/foo/bar", "/foo", false)).toBe("/s/foo/bar");
    expect(v0(null, "/foo/bar", "/foo", false)).toBe("/foo/bar");
    expect(v0("/", "/", null, false)).toBe("/");
  });

  test("service path without trailing /, strip_path, nothing left after the prefix", () => {
    expect(v0("/s", "/foo/", "/foo/", true)).toBe("/s/");
    expect(v0("/s", "/foo", "/foo", true)).toBe("/s");
    expect(v0("/s", "/", "/", true)).toBe("/s");
  });

  test("service path without trailing /, strip_path, rest with and without leading /", () => {
    expect(v0("/s", "/foo/bar", "/foo", true)).toBe("/s/bar");
    expect(v0("/s", "/foobar", "/foo", true)).toBe("/s/bar");
  });

  test("service path without trailing /, no strip_path", () => {
    expect(v0("/s", "/", "/", false)).toBe("/s");
    expect(v0("/s", "/foo/bar", "/foo", false)).toBe("/s/foo/bar");
  });

  test("a route without paths strips only the leading /", () => {
    expect(v0("/s", "/anything", null, true)).toBe("/s/anything");
    expect(v0("/s/", "/anything", null, true)).toBe("/s/anything");
  });

  test("a leading dot segment left after the prefix is dropped", () => {
    expect(v0("/s", "/foo.", "/foo", true)).toBe("/s");
    expect(v0("/s", "/foo../x", "/foo", true)).toBe("/s/x");
  });
});
