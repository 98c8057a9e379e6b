import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { buildOcspRequest, checkOcsp } from "../../../src/cluster/tls/ocsp";
import { freePort } from "../../helpers/gw";
import { startOcspResponder } from "../../helpers/ocsp-responder";
import { createTestPki, type Issued, type TestPki } from "../../helpers/pki";

const der = (c: Issued) => new X509Certificate(c.certPem).raw;

let pki: TestPki;
let good: Issued;
let revoked: Issued;
let unlisted: Issued;
let noAia: Issued;
let signer: Issued;
let ocspPort: number;
let index: string;

beforeAll(async () => {
  pki = await createTestPki({ intermediates: 1 });
  ocspPort = freePort();
  const ocspUrl = `http://127.0.0.1:${ocspPort}`;
  good = await pki.leaf({ name: "good", cn: "dp-good", eku: ["clientAuth"], ocspUrl });
  revoked = await pki.leaf({ name: "revoked", cn: "dp-revoked", eku: ["clientAuth"], ocspUrl });
  unlisted = await pki.leaf({ name: "unlisted", cn: "dp-unlisted", eku: ["clientAuth"], ocspUrl });
  noAia = await pki.leaf({ name: "no-aia", cn: "dp-no-aia", eku: ["clientAuth"] });
  signer = await pki.leaf({ name: "ocsp-signer", cn: "gw test OCSP responder", eku: ["ocspSigning"] });
  index = pki.ocspIndex("index", [good, noAia], [revoked]);
});

const issuerDer = () => der(pki.issuing);

describe("checkOcsp against openssl ocsp with a delegated responder certificate", () => {
  let stop: () => Promise<void>;
  beforeAll(async () => {
    const responder = await startOcspResponder({
      port: ocspPort,
      indexPath: index,
      caPath: pki.issuing.certPath,
      signerCertPath: signer.certPath,
      signerKeyPath: signer.keyPath,
    });
    stop = responder.stop;
  });
  afterAll(() => stop());

  test("a valid certificate is good", async () => {
    expect(await checkOcsp(der(good), issuerDer())).toEqual({
      status: "good",
      reason: "certificate status good",
    });
  });

  test("a revoked certificate is revoked, with the revocation time", async () => {
    const result = await checkOcsp(der(revoked), issuerDer());
    expect(result.status).toBe("revoked");
    expect(result.reason).toMatch(/^certificate revoked at \d{4}-\d\d-\d\dT/);
  });

  test("a certificate the responder does not list is unknown", async () => {
    expect((await checkOcsp(der(unlisted), issuerDer())).status).toBe("unknown");
  });

  test("a certificate without an AIA OCSP URL cannot be checked", async () => {
    expect(await checkOcsp(der(noAia), issuerDer())).toEqual({
      status: "error",
      reason:
        "OCSP responder endpoint can not be determined, the client certificate may be missing the required extensions",
    });
  });

  test("asking with the wrong issuer gets a response that does not verify", async () => {
    const result = await checkOcsp(der(good), der(pki.otherCa));
    expect(result.status).toBe("invalid");
    expect(result.reason).toContain("failed to validate OCSP response");
  });
});

describe("checkOcsp response verification", () => {
  test("a response signed by the issuing CA itself is accepted", async () => {
    const responder = await startOcspResponder({
      port: ocspPort,
      indexPath: index,
      caPath: pki.issuing.certPath,
      signerCertPath: pki.issuing.certPath,
      signerKeyPath: pki.issuing.keyPath,
    });
    try {
      expect((await checkOcsp(der(good), issuerDer())).status).toBe("good");
      expect((await checkOcsp(der(revoked), issuerDer())).status).toBe("revoked");
    } finally {
      await responder.stop();
    }
  });

  test("a response signed by a certificate the issuer never authorized is invalid, even if it says good", async () => {
    const responder = await startOcspResponder({
      port: ocspPort,
      indexPath: index,
      caPath: pki.issuing.certPath,
      signerCertPath: pki.otherCa.certPath,
      signerKeyPath: pki.otherCa.keyPath,
    });
    try {
      const result = await checkOcsp(der(good), issuerDer());
      expect(result.status).toBe("invalid");
      expect(result.reason).toContain("response signature does not verify");
    } finally {
      await responder.stop();
    }
  });

  test("a responder that is down is an error naming the URL", async () => {
    const result = await checkOcsp(der(good), issuerDer());
    expect(result.status).toBe("error");
    expect(result.reason).toContain(`failed to send request to OCSP responder http://127.0.0.1:${ocspPort}`);
  });

  test("an HTTP error or an empty or garbage body is an error with Kong's wording", async () => {
    const answers = [new Response("nope", { status: 503 }), new Response(""), new Response("garbage")];
    const server = Bun.serve({ hostname: "127.0.0.1", port: ocspPort, fetch: () => answers.shift()! });
    try {
      expect((await checkOcsp(der(good), issuerDer())).reason).toBe(
        "OCSP responder returns bad HTTP status code: 503",
      );
      expect((await checkOcsp(der(good), issuerDer())).reason).toBe(
        "unexpected response from OCSP responder: empty body",
      );
      const garbage = await checkOcsp(der(good), issuerDer());
      expect(garbage.status).toBe("invalid");
      expect(garbage.reason).toContain("failed to validate OCSP response");
    } finally {
      await server.stop(true);
    }
  });

  test("the request is one openssl reads as asking about our certificate", async () => {
    const dir = pki.dir;
    await Bun.write(`${dir}/req.der`, buildOcspRequest(der(good), issuerDer()));
    const text = Bun.spawnSync([
      "openssl",
      "ocsp",
      "-reqin",
      `${dir}/req.der`,
      "-req_text",
    ]).stdout.toString();
    expect(text).toContain("Hash Algorithm: sha1");
    expect(text).toContain(`Serial Number: ${good.serialHex}`);
  });
});
