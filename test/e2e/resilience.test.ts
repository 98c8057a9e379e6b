/** Data Plane resilience end to end: a CP and a backup exporter write to a bucket; new DPs import while the CP is down. */
import { afterAll, describe, expect, test } from "bun:test";
import { GetObjectCommand, PutObjectCommand, S3Client } from "@aws-sdk/client-s3";
import { startGcsEmulator } from "../helpers/gcs-emulator";
import { freePort, type GwProcess, waitFor } from "../helpers/gw";
import { admin, genSharedCert, startControlPlane, startDataPlane, untilServed } from "../helpers/hybrid";
import { startS3rver } from "../helpers/s3rver";
import { startEchoUpstream } from "../helpers/upstream";

const VERSION = "3.10.0";
const upstream = startEchoUpstream("resilient");
const cleanups: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c().catch(() => {});
  await upstream.stop();
});

const track = (node: GwProcess) => {
  cleanups.push(() => node.kill());
  return node;
};

interface Bucket {
  url: string;
  env: Record<string, string>;
  /** Reads the exported object's body as the bucket holds it. */
  read(key: string): Promise<string | null>;
  /** Overwrites the object's body, keeping the metadata (what an attacker with bucket write access can do). */
  tamper(key: string, body: string): Promise<void>;
}

async function s3Bucket(): Promise<Bucket> {
  const s3 = await startS3rver({ buckets: ["gw-backup"] });
  cleanups.push(() => s3.stop());
  const client = new S3Client({
    endpoint: s3.endpoint,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "S3RVER", secretAccessKey: "S3RVER" },
  });
  return {
    url: "s3://gw-backup/prod",
    env: s3.env,
    async read(key) {
      try {
        const o = await client.send(new GetObjectCommand({ Bucket: "gw-backup", Key: key }));
        return await o.Body!.transformToString();
      } catch {
        return null;
      }
    },
    async tamper(key, body) {
      const o = await client.send(new GetObjectCommand({ Bucket: "gw-backup", Key: key }));
      await client.send(
        new PutObjectCommand({ Bucket: "gw-backup", Key: key, Body: body, Metadata: o.Metadata }),
      );
    },
  };
}

async function gcsBucket(): Promise<Bucket> {
  const gcs = await startGcsEmulator();
  cleanups.push(() => gcs.stop());
  const { Storage } = await import("@google-cloud/storage");
  const storage = new Storage({ apiEndpoint: gcs.host, projectId: "demo-test" });
  const file = (key: string) => storage.bucket("gw-backup").file(key);
  return {
    url: "gcs://gw-backup/prod",
    env: gcs.env,
    async read(key) {
      try {
        return (await file(key).download())[0].toString();
      } catch {
        return null;
      }
    },
    async tamper(key, body) {
      const [meta] = await file(key).getMetadata();
      await file(key).save(body, { resumable: false, metadata: { metadata: meta.metadata } });
    },
  };
}

for (const [name, makeBucket] of [
  ["S3 (s3rver)", s3Bucket],
  ["GCS (storage emulator)", gcsBucket],
] as const) {
  describe(`fallback config on ${name}`, () => {
    test("the CP-down scenario: import off answers 404, import on serves the exported routes, the CP's config wins when back", async () => {
      const bucket = await makeBucket();
      const cert = await genSharedCert();
      const storage = ["--cluster_fallback_config_storage", bucket.url];
      const cpPrefix = (await import("../helpers/gw")).tempDir("cp-prefix");
      const cp = track(await startControlPlane(cert, { prefix: cpPrefix, env: bucket.env }));
      // A pure backup node: receives config, exports it, serves no traffic.
      track(
        await startDataPlane(cert, cp, {
          env: bucket.env,
          args: [
            ...storage,
            "--cluster_fallback_config_export",
            "on",
            "--cluster_fallback_config_export_delay",
            "0",
            "--proxy_listen",
            "off",
          ],
        }),
      );
      expect((await admin(cp, "POST", "/services", { name: "svc", url: upstream.url })).status).toBe(201);
      expect(
        (await admin(cp, "POST", "/services/svc/routes", { name: "r1", paths: ["/saved"] })).status,
      ).toBe(201);
      const key = `prod/${VERSION}/config.json`;
      const exported = await waitFor(
        "the backup node's export",
        async () => {
          const body = await bucket.read(key);
          return body?.includes("/saved") ? body : undefined;
        },
        30_000,
      );
      const parsed = JSON.parse(exported) as { _format_version: string; routes: unknown[] };
      expect(parsed._format_version).toBe("3.0");
      expect(parsed.routes).toHaveLength(1);

      const cpPort = cp.cluster;
      await cp.kill();

      const plain = track(await startDataPlane(cert, cpPort, { env: bucket.env }));
      expect((await fetch(`${plain.proxy}/saved`)).status).toBe(404);

      const importer = track(
        await startDataPlane(cert, cpPort, {
          env: bucket.env,
          args: [...storage, "--cluster_fallback_config_import", "on"],
        }),
      );
      await untilServed(importer, "/saved", 200, 30_000);
      expect((await fetch(`${importer.status}/status/ready`)).status).toBe(200);

      // The CP returns with a newer config on the same database: it replaces the imported one.
      const cp2 = track(
        await startControlPlane(cert, {
          prefix: cpPrefix,
          env: bucket.env,
          args: ["--cluster_listen", `127.0.0.1:${cpPort}`],
        }),
      );
      expect(
        (await admin(cp2, "POST", "/services/svc/routes", { name: "r2", paths: ["/newer"] })).status,
      ).toBe(201);
      await untilServed(importer, "/newer", 200, 30_000);
    }, 120_000);

    test("a tampered object is refused: the new DP stays empty and says why", async () => {
      const bucket = await makeBucket();
      const cert = await genSharedCert();
      const storage = ["--cluster_fallback_config_storage", bucket.url];
      const cp = track(
        await startControlPlane(cert, {
          env: bucket.env,
          args: [
            ...storage,
            "--cluster_fallback_config_export",
            "on",
            "--cluster_fallback_config_export_delay",
            "0",
          ],
        }),
      );
      await admin(cp, "POST", "/services", { name: "svc", url: upstream.url });
      await admin(cp, "POST", "/services/svc/routes", { name: "r1", paths: ["/legit"] });
      const key = `prod/${VERSION}/config.json`;
      const original = await waitFor(
        "the CP's export",
        async () => {
          const body = await bucket.read(key);
          return body?.includes("/legit") ? body : undefined;
        },
        30_000,
      );
      const cpPort = cp.cluster;
      await cp.kill();
      await bucket.tamper(key, original.replace("/legit", "/evil"));
      const dp = track(
        await startDataPlane(cert, cpPort, {
          env: bucket.env,
          args: [...storage, "--cluster_fallback_config_import", "on"],
        }),
      );
      await waitFor(
        "the DP to log the refusal",
        () => dp.output().includes("fallback config import failed"),
        30_000,
      );
      expect(dp.output()).toContain("refusing the fallback config");
      expect((await fetch(`${dp.proxy}/evil`)).status).toBe(404);
      expect((await fetch(`${dp.status}/status/ready`)).status).toBe(503);
    }, 120_000);
  });
}

describe("settings", () => {
  test("a malformed storage URL fails start-up with a clear message", async () => {
    const cert = await genSharedCert();
    const { runGw } = await import("../helpers/gw");
    const r = await runGw([
      "start",
      "--role",
      "data_plane",
      "--database",
      "off",
      "--cluster_cert",
      cert.cert,
      "--cluster_cert_key",
      cert.key,
      "--cluster_fallback_config_import",
      "on",
      "--cluster_fallback_config_storage",
      "ftp://nope",
      "--proxy_listen",
      `127.0.0.1:${freePort()}`,
    ]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("cluster_fallback_config_storage");
  });
});
