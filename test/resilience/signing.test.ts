import { beforeAll, describe, expect, test } from "bun:test";
import {
  ImportError,
  type OpenOptions,
  openConfig,
  type SealOptions,
  sealConfig,
} from "../../src/resilience/signing";
import { createTestPki } from "../helpers/pki";
import { certDir, makeCert, type Pair } from "./certs";

const VERSION = "3.10.0";
const EXPORT = JSON.stringify({
  _format_version: "3.0",
  _transform: false,
  services: [{ id: "0855b320-0dd2-547d-891d-601e9b38647f", name: "svc", host: "example.com", port: 80 }],
  routes: [
    { id: "481a9539-f49c-51b6-b2e2-fe99ee68866c", name: "r", paths: ["/r"], service: { id: "0855b320" } },
  ],
});

let shared: Pair;
let ca1: Pair;
let leaf1: Pair;
let leafRsa: Pair;
let leaf2: Pair;

beforeAll(() => {
  const dir = certDir();
  shared = makeCert(dir, "kong_clustering");
  ca1 = makeCert(dir, "ca1");
  leaf1 = makeCert(dir, "dp1", "ca1");
  leafRsa = makeCert(dir, "dp-rsa", "ca1", true);
  makeCert(dir, "ca2");
  leaf2 = makeCert(dir, "evil", "ca2");
});

const sealWith = (pair: Pair, extra: Partial<SealOptions> = {}) =>
  sealConfig(EXPORT, {
    keyPem: pair.key,
    certPem: pair.cert,
    nodeId: "4d3c2b1a-0000-4000-8000-000000000001",
    hostname: "backup-1.example",
    version: VERSION,
    hash: "0123456789abcdef0123456789abcdef",
    ...extra,
  });
const sharedOpts = (): OpenOptions => ({ mode: "shared", certPem: shared.cert, expectedVersion: VERSION });
const pkiOpts = (): OpenOptions => ({
  mode: "pki",
  certPem: leaf1.cert,
  caPem: ca1.cert,
  expectedVersion: VERSION,
});

async function refusal(promise: Promise<unknown>): Promise<ImportError> {
  const error = await promise.then(
    () => undefined,
    (e) => e,
  );
  expect(error).toBeInstanceOf(ImportError);
  return error as ImportError;
}

describe("seal and open", () => {
  test("shared mode: the body stays the plain declarative export and opens with its origin", async () => {
    const sealed = await sealWith(shared);
    expect(new TextDecoder().decode(sealed.body)).toBe(EXPORT);
    const opened = await openConfig(sealed, sharedOpts());
    expect(opened.json).toBe(EXPORT);
    expect(opened.config._format_version).toBe("3.0");
    expect(opened).toMatchObject({
      nodeId: "4d3c2b1a-0000-4000-8000-000000000001",
      hostname: "backup-1.example",
      hash: "0123456789abcdef0123456789abcdef",
    });
    expect(Math.abs(opened.signedAt.getTime() - Date.now())).toBeLessThan(60_000);
  });

  test("pki mode: a config signed by another node certified by the same CA opens", async () => {
    const sealed = await sealWith(leafRsa);
    const opened = await openConfig(sealed, pkiOpts());
    expect(opened.json).toBe(EXPORT);
  });

  test("pki mode: a certificate issued by an intermediate opens when cluster_cert carries the chain", async () => {
    const pki = await createTestPki({ intermediates: 1 });
    const leaf = await pki.leaf({ name: "dp-chain", cn: "dp-chain" });
    const opts: OpenOptions = {
      mode: "pki",
      certPem: leaf.certPem,
      caPem: pki.root.certPem,
      expectedVersion: VERSION,
    };
    const withChain = await sealWith({ cert: leaf.chainPem, key: leaf.keyPem });
    expect((await openConfig(withChain, opts)).json).toBe(EXPORT);

    const leafOnly = await sealWith({ cert: leaf.certPem, key: leaf.keyPem });
    const error = await refusal(openConfig(leafOnly, opts));
    expect(error.reason).toBe("untrusted_certificate");
    expect(error.message).toContain("CN=dp-chain");
  });

  test("metadata is S3-safe and fits S3's 2 KB limit with EC and RSA-2048 certificates", async () => {
    for (const pair of [shared, leaf1, leafRsa]) {
      const { metadata } = await sealWith(pair, { hostname: "hôte-été", encryptionKey: "k" });
      const size = Object.entries(metadata).reduce((n, [k, v]) => n + k.length + v.length, 0);
      expect(size).toBeLessThan(2048);
      for (const [k, v] of Object.entries(metadata)) {
        expect(k).toMatch(/^[a-z0-9-]+$/);
        expect(v).toMatch(/^[\x20-\x7e]*$/);
      }
    }
  });

  test("a non-ASCII hostname round-trips", async () => {
    const opened = await openConfig(await sealWith(shared, { hostname: "hôte-été" }), sharedOpts());
    expect(opened.hostname).toBe("hôte-été");
  });

  test("a key that does not belong to the certificate is refused at export time", async () => {
    await expect(
      sealConfig(EXPORT, { ...baseSeal(), keyPem: leaf1.key, certPem: shared.cert }),
    ).rejects.toThrow(/cluster_cert_key does not match cluster_cert/);
  });
});

function baseSeal(): SealOptions {
  return {
    keyPem: shared.key,
    certPem: shared.cert,
    nodeId: "n",
    hostname: "h",
    version: VERSION,
    hash: "h",
  };
}

describe("refusals", () => {
  test("an unsigned object (a bare export someone uploaded) is refused", async () => {
    const error = await refusal(
      openConfig({ body: new TextEncoder().encode(EXPORT), metadata: {} }, sharedOpts()),
    );
    expect(error.reason).toBe("unsigned");
    expect(error.message).toContain("not signed");
  });

  test("a tampered body is refused", async () => {
    const sealed = await sealWith(shared);
    const tampered = new TextEncoder().encode(EXPORT.replace('"/r"', '"/evil"'));
    // Same length, so it is the signature and not the size check that catches it.
    const sameLength = tampered.slice(0, sealed.body.length);
    const error = await refusal(openConfig({ body: sameLength, metadata: sealed.metadata }, sharedOpts()));
    expect(error.reason).toBe("bad_signature");
    expect(error.message).toContain("altered");
  });

  test("tampered, added or removed metadata is refused", async () => {
    const sealed = await sealWith(shared);
    for (const metadata of [
      { ...sealed.metadata, "gw-node-id": "someone-else" },
      { ...sealed.metadata, "gw-extra": "1" },
      Object.fromEntries(Object.entries(sealed.metadata).filter(([k]) => k !== "gw-hash")),
    ]) {
      const error = await refusal(openConfig({ body: sealed.body, metadata }, sharedOpts()));
      expect(error.reason).toBe("bad_signature");
    }
  });

  test("shared mode: an object signed with another certificate is refused, naming both fingerprints", async () => {
    const error = await refusal(openConfig(await sealWith(leaf2), sharedOpts()));
    expect(error.reason).toBe("untrusted_certificate");
    expect(error.message).toContain("this node's cluster_cert");
  });

  test("pki mode: a certificate from another CA is refused even though its signature is valid", async () => {
    const error = await refusal(openConfig(await sealWith(leaf2), pkiOpts()));
    expect(error.reason).toBe("untrusted_certificate");
    expect(error.message).toContain("not issued by cluster_ca_cert");
    expect(error.message).toContain("evil");
  });

  test("pki mode: swapping in a trusted certificate does not make a foreign signature pass", async () => {
    const sealed = await sealWith(leaf2);
    const trustedDer = Buffer.from(
      leaf1.cert.replace(/-----[A-Z ]+-----/g, "").replace(/\s/g, ""),
      "base64",
    ).toString("base64");
    const error = await refusal(
      openConfig({ body: sealed.body, metadata: { ...sealed.metadata, "gw-cert": trustedDer } }, pkiOpts()),
    );
    expect(error.reason).toBe("bad_signature");
  });

  test("pki mode: an expired uploader certificate is refused", async () => {
    const sealed = await sealWith(leaf1);
    const later = new Date(Date.now() + 90 * 86_400_000);
    const error = await refusal(openConfig(sealed, { ...pkiOpts(), now: later }));
    expect(error.reason).toBe("untrusted_certificate");
    expect(error.message).toContain("not valid now");
  });

  test("pki mode without cluster_ca_cert is refused with the fix", async () => {
    const error = await refusal(openConfig(await sealWith(leaf1), { ...pkiOpts(), caPem: undefined }));
    expect(error.message).toContain("requires cluster_ca_cert");
  });

  test("an object from another version is refused", async () => {
    const error = await refusal(openConfig(await sealWith(shared, { version: "3.9.1" }), sharedOpts()));
    expect(error.reason).toBe("wrong_version");
    expect(error.message).toContain("exported by version 3.9.1 and this node runs 3.10.0");
  });

  test("a truncated body is reported as truncated", async () => {
    const sealed = await sealWith(shared);
    const error = await refusal(
      openConfig({ body: sealed.body.slice(0, 40), metadata: sealed.metadata }, sharedOpts()),
    );
    expect(error.reason).toBe("truncated");
    expect(error.message).toContain(`40 of the ${sealed.body.length} bytes the exporter wrote`);
  });

  test("a signed body that is not JSON, or not an object, is refused", async () => {
    for (const body of ["<html>503</html>", "[1,2]"]) {
      const sealed = await sealConfig(body, baseSeal());
      const error = await refusal(openConfig(sealed, sharedOpts()));
      expect(error.reason).toBe("not_json");
    }
  });
});

describe("encryption at rest", () => {
  test("an encrypted object hides the config and opens with the same key", async () => {
    const sealed = await sealWith(shared, { encryptionKey: "correct horse battery staple" });
    expect(Buffer.from(sealed.body).includes("example.com")).toBe(false);
    expect(sealed.metadata["gw-enc"]).toBe("aes-256-gcm");
    const opened = await openConfig(sealed, {
      ...sharedOpts(),
      encryptionKey: "correct horse battery staple",
    });
    expect(opened.json).toBe(EXPORT);
  });

  test("a wrong key, or no key, cannot decrypt", async () => {
    const sealed = await sealWith(shared, { encryptionKey: "right" });
    const wrong = await refusal(openConfig(sealed, { ...sharedOpts(), encryptionKey: "wrong" }));
    expect(wrong.reason).toBe("cannot_decrypt");
    expect(wrong.message).toContain("cluster_fallback_config_encryption_key");
    const none = await refusal(openConfig(sealed, sharedOpts()));
    expect(none.reason).toBe("cannot_decrypt");
    expect(none.message).toContain("set cluster_fallback_config_encryption_key");
  });

  test("stripping the encryption marker is detected as tampering", async () => {
    const sealed = await sealWith(shared, { encryptionKey: "right" });
    const { "gw-enc": _, ...metadata } = sealed.metadata;
    const error = await refusal(
      openConfig({ body: sealed.body, metadata }, { ...sharedOpts(), encryptionKey: "right" }),
    );
    expect(error.reason).toBe("bad_signature");
  });
});
