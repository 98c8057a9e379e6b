import { describe, expect, test } from "bun:test";
import {
  canonicalString,
  configHash,
  EMPTY_CONFIG_HASH,
  fileHash,
  hashValue,
  luaNumber,
} from "../../src/entities/hash";

const md5 = (s: string) => new Bun.CryptoHasher("md5").update(s).digest("hex");

describe("Kong's canonical string", () => {
  test("null, strings, numbers and booleans", () => {
    expect(canonicalString(null)).toBe("/null/");
    expect(canonicalString("abc")).toBe("abc");
    expect(canonicalString(60000)).toBe("60000");
    expect(canonicalString(true)).toBe("true");
    expect(canonicalString(false)).toBe("false");
  });

  test("empty arrays and objects are both {}", () => {
    expect(canonicalString([])).toBe("{}");
    expect(canonicalString({})).toBe("{}");
  });

  test("arrays: one element alone, two to five joined by ;, more than five each followed by ;", () => {
    expect(canonicalString(["a"])).toBe("a");
    expect(canonicalString(["a", "b"])).toBe("a;b");
    expect(canonicalString([1, 2, 3, 4, 5])).toBe("1;2;3;4;5");
    expect(canonicalString([1, 2, 3, 4, 5, 6])).toBe("1;2;3;4;5;6;");
    expect(canonicalString([null, ["x"]])).toBe("/null/;x");
  });

  test("objects: keys in byte order, each key:value;", () => {
    expect(canonicalString({ b: 1, a: "x", C: null })).toBe("C:/null/;a:x;b:1;");
    expect(canonicalString({ outer: { z: [], y: [true] } })).toBe("outer:y:true;z:{};;");
  });

  test("non-ASCII keys sort by UTF-8 bytes", () => {
    expect(canonicalString({ é: 1, z: 2, "\u{1F600}": 3, "\uFF21": 4 })).toBe("z:2;é:1;Ａ:4;😀:3;");
  });

  test("numbers are formatted like LuaJIT's %.14g", () => {
    // Expected strings from python3's '%.14g' % x.
    const cases: [number, string][] = [
      [0.1, "0.1"],
      [1.5, "1.5"],
      [1e15, "1e+15"],
      [123456789012345, "1.2345678901234e+14"],
      [1e-5, "1e-05"],
      [0.0001, "0.0001"],
      [1.23456789012349, "1.2345678901235"],
      [2 ** 53, "9.007199254741e+15"],
      [-2.5, "-2.5"],
      [1795925912.421, "1795925912.421"],
      [999999999999995, "1e+15"],
    ];
    for (const [n, s] of cases) expect(luaNumber(n)).toBe(s);
  });
});

describe("hashValue", () => {
  test("an absent value is the empty config hash; anything else is md5 of its canonical string", () => {
    expect(hashValue(undefined)).toBe(EMPTY_CONFIG_HASH);
    expect(EMPTY_CONFIG_HASH).toBe("0".repeat(32));
    expect(hashValue({ a: [1, 2] })).toBe(md5("a:1;2;"));
    expect(hashValue([])).toBe(md5("{}"));
  });

  test("folds the buffer into its raw md5 past 1,000,000 bytes (vectors from an independent implementation)", () => {
    expect(hashValue(Array(300000).fill("abcdefgh"))).toBe("61496bc84116692927da45581640c8e8");
    const mixed = { z: Array(200000).fill("é".repeat(10)), a: [1.5, 2, null, true, { x: [] }, "ü"] };
    expect(hashValue(mixed)).toBe("bddc9a4a55d0a8caec763a87c082c0c3");
  });
});

describe("configHash", () => {
  const table = {
    _format_version: "3.0",
    _transform: false,
    services: [{ id: "s1", name: "svc", port: 80, path: null, tags: ["a", "b"], enabled: true }],
    routes: [{ id: "r1", service: "s1", paths: ["/a"], hosts: null, protocols: ["http", "https"] }],
    consumers: [{ id: "c1", username: "u", custom_id: null }],
  };

  test("five sub-hashes, zero for absent keys, and md5 over them plus the rest", () => {
    expect(configHash(table)).toEqual({
      config: "08c89a4559b30318a6718feb6d02e84b",
      routes: "ccae837037c3efa986240cba807a4296",
      services: "3f665138b5b37cc0db2e88ef638324c2",
      plugins: EMPTY_CONFIG_HASH,
      upstreams: EMPTY_CONFIG_HASH,
      targets: EMPTY_CONFIG_HASH,
    });
  });

  test("key order in the input does not change the hash, values do", () => {
    const reordered = {
      consumers: table.consumers,
      routes: table.routes,
      services: table.services,
      _transform: false,
      _format_version: "3.0",
    };
    expect(configHash(reordered).config).toBe(configHash(table).config);
    const changed = { ...table, consumers: [{ id: "c1", username: "v", custom_id: null }] };
    const h = configHash(changed);
    expect(h.config).not.toBe(configHash(table).config);
    expect(h.routes).toBe(configHash(table).routes);
  });

  test("the DB-less file hash is md5 of the raw text", () => {
    expect(fileHash("_format_version: '3.0'\n")).toBe(md5("_format_version: '3.0'\n"));
  });
});
