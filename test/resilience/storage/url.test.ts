import { describe, expect, test } from "bun:test";
import {
  configKey,
  electionKey,
  electionPrefix,
  parseStorageUrl,
  StorageUrlError,
} from "../../../src/resilience/storage/url";

describe("parseStorageUrl", () => {
  test("accepts s3://, gcs:// and gs:// with a prefix", () => {
    expect(parseStorageUrl("s3://kong-cfg/test-prefix")).toMatchObject({
      provider: "s3",
      bucket: "kong-cfg",
      prefix: "test-prefix",
    });
    expect(parseStorageUrl("gcs://kong-cfg/a/b")).toMatchObject({
      provider: "gcs",
      bucket: "kong-cfg",
      prefix: "a/b",
    });
    expect(parseStorageUrl("gs://kong_cfg/a")).toMatchObject({
      provider: "gcs",
      bucket: "kong_cfg",
      prefix: "a",
    });
  });

  test("normalizes the prefix: no leading, trailing or doubled slashes; empty is allowed", () => {
    expect(parseStorageUrl("s3://bucket//a///b/").prefix).toBe("a/b");
    expect(parseStorageUrl("s3://bucket").prefix).toBe("");
    expect(parseStorageUrl("s3://bucket/").prefix).toBe("");
    expect(parseStorageUrl("  gs://bucket/p  ").prefix).toBe("p");
  });

  const rejects: [string, RegExp][] = [
    ["", /is empty/],
    ["bucket/prefix", /expected s3:\/\/<bucket>\/<prefix>, gcs:\/\/<bucket>\/<prefix> or gs:\/\//],
    ["http://bucket/prefix", /unknown scheme "http:\/\/"/],
    ["azure://account/container/prefix", /does not support Azure/],
    ["s3:///prefix", /bucket name is missing/],
    ["s3://My-Bucket/p", /lowercase letters/],
    ["s3://ab/p", /3 to 63 characters/],
    ["s3://a..b/p", /adjacent dots/],
    ["s3://192.168.1.1/p", /not an IP address/],
    ["s3://under_score/p", /lowercase letters, digits, dots and hyphens/],
    ["gcs://google-configs/p", /"goog"/],
    ["gs://-bucket/p", /starts and ends with a letter or digit/],
    ["s3://bucket/a/../b", /"\.\."/],
    ["s3://bucket/a\\b", /backslash/],
  ];
  for (const [value, message] of rejects) {
    test(`rejects ${JSON.stringify(value)}`, () => {
      expect(() => parseStorageUrl(value)).toThrow(StorageUrlError);
      expect(() => parseStorageUrl(value)).toThrow(message);
      expect(() => parseStorageUrl(value)).toThrow(/^cluster_fallback_config_storage: invalid value/);
    });
  }
});

describe("object keys", () => {
  test("config and election keys sit under <prefix>/<version>/", () => {
    expect(configKey("test-prefix", "3.10.0")).toBe("test-prefix/3.10.0/config.json");
    expect(electionPrefix("a/b", "3.10.0")).toBe("a/b/3.10.0/election/");
    expect(electionKey("a/b", "3.10.0", "node-1")).toBe("a/b/3.10.0/election/node-1");
  });

  test("an empty prefix gives <version>/config.json", () => {
    expect(configKey("", "3.10.0")).toBe("3.10.0/config.json");
    expect(electionPrefix("", "3.10.0")).toBe("3.10.0/election/");
  });
});
