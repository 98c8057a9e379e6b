import { describe, expect, test } from "bun:test";
import {
  checkPluginCompatibility,
  checkVersionCompatibility,
  decodeBasicInfo,
  decodeCpMessage,
  encodeCpMessage,
  ProtocolError,
  type Reconfigure,
} from "../../src/cluster/protocol";

const HASH = "0123456789abcdef0123456789abcdef";
const reconfigure: Reconfigure = {
  type: "reconfigure",
  timestamp: 1764387665.123,
  config_table: { _format_version: "3.0", services: [] },
  config_hash: HASH,
  hashes: { config: HASH, routes: HASH, services: HASH, plugins: HASH, upstreams: HASH, targets: HASH },
};

const bytes = (u: Uint8Array) => new Uint8Array(u) as Uint8Array<ArrayBuffer>;

describe("reconfigure frames", () => {
  test("round-trip through gzip, as Kong's CP sends them", () => {
    const frame = bytes(encodeCpMessage(reconfigure));
    expect(frame[0]).toBe(0x1f);
    expect(frame[1]).toBe(0x8b);
    expect(decodeCpMessage(frame, 1 << 24)).toEqual(reconfigure);
  });

  test("frames larger than cluster_max_payload are refused, naming the setting", () => {
    const frame = bytes(encodeCpMessage(reconfigure));
    expect(() => decodeCpMessage(frame, 10)).toThrow(/cluster_max_payload/);
  });

  test("garbage, non-JSON and bad hashes are refused with a reason", () => {
    expect(() => decodeCpMessage(bytes(new TextEncoder().encode("hello")), 1 << 20)).toThrow(ProtocolError);
    expect(() => decodeCpMessage(bytes(Bun.gzipSync("{not json")), 1 << 20)).toThrow(/not valid JSON/);
    const badHash = { ...reconfigure, config_hash: "xyz" };
    expect(() => decodeCpMessage(bytes(Bun.gzipSync(JSON.stringify(badHash))), 1 << 20)).toThrow(/32 hex/);
    const noTable = { ...reconfigure, config_table: "nope" };
    expect(() => decodeCpMessage(bytes(Bun.gzipSync(JSON.stringify(noTable))), 1 << 20)).toThrow(
      /config_table/,
    );
  });

  test("unknown message types are ignored, as Kong's DP ignores them", () => {
    expect(
      decodeCpMessage(bytes(Bun.gzipSync(JSON.stringify({ type: "future_thing" }))), 1 << 20),
    ).toBeNull();
  });
});

describe("basic_info", () => {
  test("accepts Kong's shape and refuses anything else", () => {
    const info = decodeBasicInfo(
      JSON.stringify({ type: "basic_info", plugins: [{ name: "key-auth", version: "3.10.0" }] }),
    );
    expect(info.plugins[0]!.name).toBe("key-auth");
    expect(() => decodeBasicInfo("{}")).toThrow(/basic_info/);
    expect(() => decodeBasicInfo(JSON.stringify({ type: "basic_info" }))).toThrow(/plugins/);
    expect(() => decodeBasicInfo("not json")).toThrow(/not JSON/);
  });
});

describe("version compatibility (Kong's rules and wording)", () => {
  test("same major, DP minor not newer; patch ignored", () => {
    expect(checkVersionCompatibility("3.10.0", "3.10.5")).toBeNull();
    expect(checkVersionCompatibility("3.10.0", "3.9.0")).toBeNull();
    expect(checkVersionCompatibility("3.10.0", "3.11.0")?.message).toBe(
      "data plane version 3.11.0 is incompatible with older control plane version 3.10.0",
    );
    expect(checkVersionCompatibility("3.10.0", "2.8.0")?.message).toBe(
      "data plane version 2.8.0 is incompatible with control plane version 3.10.0 (3.x.y are accepted)",
    );
    expect(checkVersionCompatibility("3.10.0", "banana")?.status).toBe("kong_version_incompatible");
  });

  test("configured plugins must exist on the DP with a compatible version", () => {
    const cp = new Map([
      ["key-auth", "3.10.0"],
      ["rate-limiting", "3.10.0"],
    ]);
    expect(checkPluginCompatibility(["key-auth"], cp, new Map([["key-auth", "3.10.0"]]))).toBeNull();
    expect(checkPluginCompatibility(["rate-limiting"], cp, new Map([["key-auth", "3.10.0"]]))).toEqual({
      status: "plugin_set_incompatible",
      message: "configured rate-limiting plugin 3.10.0 is missing from data plane",
    });
    expect(checkPluginCompatibility(["key-auth"], cp, new Map([["key-auth", "3.11.0"]]))?.status).toBe(
      "plugin_version_incompatible",
    );
    expect(checkPluginCompatibility(["key-auth"], cp, new Map([["key-auth", "3.9.0"]]))).toBeNull();
  });
});
