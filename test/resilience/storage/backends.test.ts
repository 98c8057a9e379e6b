import { afterAll, beforeAll, describe, expect, setDefaultTimeout, test } from "bun:test";
import { HeadObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { ImportError, openConfig, sealConfig } from "../../../src/resilience/signing";
import {
  type ConfigStorage,
  openStorage,
  StorageConfigError,
  StorageError,
} from "../../../src/resilience/storage/types";
import { configKey } from "../../../src/resilience/storage/url";
import { type RunningGcsEmulator, startGcsEmulator } from "../../helpers/gcs-emulator";
import { type RunningS3rver, startS3rver } from "../../helpers/s3rver";
import { certDir, makeCert, type Pair } from "../certs";

// Real servers on a shared machine: calls can take seconds under load (bunfig's timeout is not applied per test).
setDefaultTimeout(60_000);

const BUCKET = "gw-backends";
let s3: RunningS3rver;
let gcs: RunningGcsEmulator;

const VERSION = "3.10.0";
let pki: { shared: Pair; leafRsa: Pair };

beforeAll(async () => {
  [s3, gcs] = await Promise.all([startS3rver({ buckets: [BUCKET] }), startGcsEmulator()]);
  const dir = certDir();
  makeCert(dir, "ca");
  pki = { shared: makeCert(dir, "kong_clustering"), leafRsa: makeCert(dir, "dp-rsa", "ca", true) };
});
afterAll(async () => {
  await Promise.all([s3?.stop(), gcs?.stop()]);
});

const backends: [string, () => Promise<ConfigStorage>][] = [
  ["S3 (s3rver)", () => openStorage(`s3://${BUCKET}/p`, s3.env)],
  ["GCS (emulator)", () => openStorage(`gcs://${BUCKET}/p`, gcs.env)],
];

describe.each(backends)("%s", (name, open) => {
  const ns = name.startsWith("S3") ? "s3" : "gcs";

  test("put, get, list and delete an object, metadata included", async () => {
    const storage = await open();
    const key = `${ns}/crud/config.json`;
    await storage.put(key, '{"_format_version":"3.0"}', { "gw-node-id": "node-1", "gw-sig": "MEUCIQ+/=" });
    const got = await storage.get(key);
    expect(new TextDecoder().decode(got!.body)).toBe('{"_format_version":"3.0"}');
    expect(got!.metadata).toEqual({ "gw-node-id": "node-1", "gw-sig": "MEUCIQ+/=" });
    const listed = await storage.list(`${ns}/crud/`);
    expect(listed.map((o) => o.key)).toEqual([key]);
    expect(listed[0]!.lastModified.getTime()).toBeGreaterThan(Date.now() - 3_600_000);
    await storage.delete(key);
    expect(await storage.get(key)).toBeNull();
    expect(await storage.list(`${ns}/crud/`)).toEqual([]);
  });

  test("a missing object reads as null and deleting it is not an error", async () => {
    const storage = await open();
    expect(await storage.get(`${ns}/never/written`)).toBeNull();
    await storage.delete(`${ns}/never/written`);
  });

  test("binary bodies come back byte for byte; a rewrite replaces body and metadata", async () => {
    const storage = await open();
    const key = `${ns}/binary/blob`;
    const bytes = new Uint8Array(70_000).map((_, i) => (i * 7919) % 256);
    await storage.put(key, bytes, { a: "1", b: "2" });
    await storage.put(key, bytes.slice(0, 5), { a: "3" });
    const got = await storage.get(key);
    expect(got!.body).toEqual(bytes.slice(0, 5));
    expect(got!.metadata).toEqual({ a: "3" });
  });

  test("a reader never gets one version's body with another version's metadata", async () => {
    const storage = await open();
    const key = `${ns}/rewritten/config.json`;
    const body = (v: number) => `{"v":${v},"pad":"${"x".repeat(4000)}"}`;
    await storage.put(key, body(0), { v: "0" });
    let writing = true;
    const writer = (async () => {
      for (let v = 1; v <= 15; v++) {
        await storage.put(key, body(v), { v: String(v) });
        await Bun.sleep(150);
      }
      writing = false;
    })();
    let reads = 0;
    while (writing) {
      const got = await storage.get(key);
      expect(new TextDecoder().decode(got!.body)).toBe(body(Number(got!.metadata.v)));
      reads++;
    }
    await writer;
    expect(reads).toBeGreaterThan(5);
  });

  test("a sealed config survives storage, and a body rewritten in the bucket is refused", async () => {
    const storage = await open();
    const key = configKey(`${ns}/sealed`, VERSION);
    const json = '{"_format_version":"3.0","routes":[{"name":"r","paths":["/r"]}]}';
    // An RSA-2048 certificate's metadata fits S3's 2 KB too; the shared-mode seal is the one read back.
    for (const pair of [pki.leafRsa, pki.shared]) {
      const sealed = await sealConfig(json, {
        keyPem: pair.key,
        certPem: pair.cert,
        nodeId: "node-1",
        hostname: "backup-1",
        version: VERSION,
        hash: "0".repeat(32),
        encryptionKey: "k",
      });
      await storage.put(key, sealed.body, sealed.metadata);
    }
    const opened = await openConfig((await storage.get(key))!, {
      mode: "shared",
      certPem: pki.shared.cert,
      expectedVersion: VERSION,
      encryptionKey: "k",
    });
    expect(opened.json).toBe(json);

    // Someone with bucket write access replaces the body and keeps gw's metadata.
    const stored = (await storage.get(key))!;
    await storage.put(key, json.replace('"/r"', '"/x"'), stored.metadata);
    const error = await openConfig((await storage.get(key))!, {
      mode: "shared",
      certPem: pki.shared.cert,
      expectedVersion: VERSION,
      encryptionKey: "k",
    }).catch((e) => e);
    expect(error).toBeInstanceOf(ImportError);
    expect(error.message).toContain("refusing the fallback config");
  });

  test("list returns only keys under the prefix, across many objects", async () => {
    const storage = await open();
    await Promise.all(
      Array.from({ length: 12 }, (_, i) => storage.put(`${ns}/many/${String(i).padStart(2, "0")}`, "x", {})),
    );
    await storage.put(`${ns}/manyother`, "x", {});
    const keys = (await storage.list(`${ns}/many/`)).map((o) => o.key).sort();
    expect(keys).toHaveLength(12);
    expect(keys[0]).toBe(`${ns}/many/00`);
  });

  test("metadata a backend would mangle is refused before upload", async () => {
    const storage = await open();
    await expect(storage.put(`${ns}/bad-meta`, "x", { "Upper-Case": "v" })).rejects.toThrow(/lowercase/);
    await expect(storage.put(`${ns}/bad-meta`, "x", { host: "héte" })).rejects.toThrow(/printable ASCII/);
    expect(await storage.get(`${ns}/bad-meta`)).toBeNull();
  });
});

describe("S3 specifics", () => {
  test("missing credentials fail at open time, naming the variables", async () => {
    const env = { AWS_REGION: "us-east-1" };
    await expect(openStorage("s3://bucket/p", env)).rejects.toThrow(StorageConfigError);
    await expect(openStorage("s3://bucket/p", env)).rejects.toThrow(
      /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/,
    );
    await expect(openStorage("s3://bucket/p", { ...env, AWS_ACCESS_KEY_ID: "id" })).rejects.toThrow(
      /set AWS_SECRET_ACCESS_KEY/,
    );
  });

  test("a region is required unless a custom endpoint is set; the endpoint must be a URL", async () => {
    const creds = { AWS_ACCESS_KEY_ID: "id", AWS_SECRET_ACCESS_KEY: "secret" };
    await expect(openStorage("s3://bucket/p", creds)).rejects.toThrow(/set AWS_REGION or AWS_DEFAULT_REGION/);
    expect(await openStorage("s3://bucket/p", { ...creds, AWS_DEFAULT_REGION: "eu-west-1" })).toBeDefined();
    await expect(
      openStorage("s3://bucket/p", { ...creds, AWS_CONFIG_STORAGE_ENDPOINT: "minio:9000" }),
    ).rejects.toThrow(/AWS_CONFIG_STORAGE_ENDPOINT must/);
  });

  test("cluster_fallback_export_s3_config is merged into PutObject, but cannot redirect the object", async () => {
    const setting = JSON.stringify({ CacheControl: "no-store", Bucket: "elsewhere", Key: "other" });
    const storage = await openStorage(`s3://${BUCKET}/p`, s3.env, { s3Config: setting });
    await storage.put("s3cfg/config.json", "{}", {});
    const client = new S3Client({
      endpoint: s3.endpoint,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
    });
    const head = await client.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "s3cfg/config.json" }));
    expect(head.CacheControl).toBe("no-store");
  });

  test("a malformed cluster_fallback_export_s3_config fails at open time", async () => {
    await expect(openStorage(`s3://${BUCKET}/p`, s3.env, { s3Config: "{nope" })).rejects.toThrow(
      /cluster_fallback_export_s3_config: not valid JSON/,
    );
    await expect(openStorage(`s3://${BUCKET}/p`, s3.env, { s3Config: "[1]" })).rejects.toThrow(
      /expected a JSON object/,
    );
  });

  test("metadata over S3's 2 KB limit is refused with the sizes", async () => {
    const storage = await openStorage(`s3://${BUCKET}/p`, s3.env);
    await expect(storage.put("big-meta", "x", { a: "x".repeat(2100) })).rejects.toThrow(
      /2101 bytes; S3 allows 2048/,
    );
  });

  test("a rejected request is a StorageError that names the object but never the secret", async () => {
    const secret = "very-secret-value-123";
    const env = { ...s3.env, AWS_ACCESS_KEY_ID: "unknown-key-id", AWS_SECRET_ACCESS_KEY: secret };
    const storage = await openStorage(`s3://${BUCKET}/p`, env);
    const error = await storage.get("p/config.json").catch((e) => e);
    expect(error).toBeInstanceOf(StorageError);
    expect(error.message).toContain(`s3://${BUCKET}/p/config.json: get failed`);
    expect(error.message).toContain("InvalidAccessKeyId");
    expect(error.message).not.toContain(secret);
  });
});

describe("GCS specifics", () => {
  test("missing credentials fail at open time, naming GCP_SERVICE_ACCOUNT", async () => {
    await expect(openStorage("gcs://bucket/p", {})).rejects.toThrow(/set GCP_SERVICE_ACCOUNT/);
  });

  test("a malformed service account is reported without echoing the key", async () => {
    const text = '{"private_key": "-----BEGIN PRIVATE KEY-----secret';
    const error = await openStorage("gcs://bucket/p", { GCP_SERVICE_ACCOUNT: text }).catch((e) => e);
    expect(error.message).toContain("GCP_SERVICE_ACCOUNT is not valid JSON");
    expect(error.message).not.toContain("secret");
    await expect(
      openStorage("gs://bucket/p", { GCP_SERVICE_ACCOUNT: '{"type":"service_account"}' }),
    ).rejects.toThrow(/lacks "client_email" or "private_key"/);
  });

  test("an unreachable emulator gives a StorageError naming the object", async () => {
    const storage = await openStorage("gcs://bucket/p", { STORAGE_EMULATOR_HOST: "http://127.0.0.1:9" });
    await expect(storage.get("p/config.json")).rejects.toThrow(/gcs:\/\/bucket\/p\/config.json: get failed/);
  });
});
