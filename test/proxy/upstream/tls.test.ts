import "reflect-metadata";
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import * as x509 from "@peculiar/x509";
import { UpstreamClient } from "../../../src/proxy/upstream/client";
import type { UpstreamTls } from "../../../src/proxy/upstream/types";
import { type TestPki as ChainPki, createTestPki, type Issued } from "../../helpers/pki";
import { makePki, type TestPki } from "./pki";
import { type RawUpstream, rawUpstream, readAll } from "./raw-upstream";

let pki: TestPki;
let upstream: RawUpstream;
const client = new UpstreamClient({ poolSize: 8, maxRequests: 100, idleTimeoutMs: 60_000 });
const timeouts = { connect: 2000, write: 2000, read: 2000 };

beforeAll(async () => {
  pki = await makePki();
  upstream = rawUpstream({
    tls: pki.server,
    respond(req, conn) {
      conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${req.target.length}\r\n\r\n${req.target}`);
    },
  });
});
afterAll(() => {
  client.close();
  upstream.stop();
});

const fetchVia = async (tls: UpstreamTls, host = "127.0.0.1", target = "/secure") => {
  const res = await client.request(
    { host, port: upstream.port, tls },
    { method: "GET", target, headers: ["Host", "upstream.test"], body: null },
    timeouts,
  );
  return Buffer.from(await readAll(res.body)).toString();
};

describe("TLS upstreams", () => {
  test("verified against a CA made in the test, and the socket is pooled", async () => {
    const tls = { verify: true, ca: [pki.ca] };
    const before = upstream.accepted;
    expect(await fetchVia(tls)).toBe("/secure");
    expect(await fetchVia(tls, "127.0.0.1", "/again")).toBe("/again");
    expect(upstream.accepted).toBe(before + 1);
  });

  test("verification on, without the CA: a tls error, nothing sent", async () => {
    const err = await fetchVia({ verify: true }).catch((e) => e);
    expect(err.kind).toBe("tls");
    expect(err.requestSent).toBe(false);
  });

  test("verification off (Kong's default tls_verify): the private CA is accepted", async () => {
    expect(await fetchVia({ verify: false })).toBe("/secure");
  });

  test("SNI names the host to verify: a name the certificate lacks fails, one it has passes", async () => {
    const wrong = await fetchVia({ verify: true, ca: [pki.ca], servername: "other.test" }).catch((e) => e);
    expect(wrong.kind).toBe("tls");
    expect(await fetchVia({ verify: true, ca: [pki.ca], servername: "upstream.test" })).toBe("/secure");
  });

  test("a client certificate is presented to an upstream that requires one", async () => {
    const mtls = rawUpstream({
      tls: { ...pki.server, ca: pki.ca, requestCert: true, rejectUnauthorized: true },
      respond(_req, conn) {
        conn.write("HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nmtls");
      },
    });
    try {
      const endpoint = (tls: UpstreamTls) => ({ host: "127.0.0.1", port: mtls.port, tls });
      const req = { method: "GET", target: "/", headers: [], body: null };
      const ok = await client.request(endpoint({ verify: true, ca: [pki.ca], ...pki.client }), req, timeouts);
      expect(Buffer.from(await readAll(ok.body)).toString()).toBe("mtls");
      const refused = await client
        .request(endpoint({ verify: true, ca: [pki.ca] }), req, timeouts)
        .then((r) => readAll(r.body))
        .catch((e) => e);
      expect(refused.kind === "tls" || refused.kind === "reset").toBe(true);
    } finally {
      mtls.stop();
    }
  });

  test("unusable TLS material is reported, not thrown", async () => {
    const err = await fetchVia({ verify: true, cert: "not a pem", key: "nor this" }).catch((e) => e);
    expect(err.kind).toBe("tls");
  });
});

describe("tls_verify_depth (OpenSSL: intermediates between the leaf and the trust anchor)", () => {
  // root → intermediate 1 → intermediate 2 → "deep"; "direct" comes straight from the root.
  let chains: ChainPki;
  let deep: Issued;
  let direct: Issued;
  const servers: RawUpstream[] = [];
  beforeAll(async () => {
    chains = await createTestPki({ intermediates: 2 });
    const sans = ["127.0.0.1"];
    deep = await chains.leaf({ name: "deep", cn: "deep", sans, eku: ["serverAuth"] });
    direct = await chains.leaf({
      name: "direct",
      cn: "direct",
      sans,
      eku: ["serverAuth"],
      issuer: chains.root,
    });
  });
  afterAll(() => {
    for (const s of servers) s.stop();
  });

  /** An upstream presenting `certPem` (a leaf, then whatever else it sends) that answers its leaf's name. */
  const serving = (certPem: string, leaf: Issued) => {
    const u = rawUpstream({
      tls: { cert: certPem, key: leaf.keyPem },
      respond(_req, conn) {
        conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${leaf.name.length}\r\n\r\n${leaf.name}`);
      },
    });
    servers.push(u);
    return u;
  };
  const get = async (u: RawUpstream, tls: UpstreamTls) => {
    const req = { method: "GET", target: "/", headers: [], body: null };
    try {
      const res = await client.request({ host: "127.0.0.1", port: u.port, tls }, req, timeouts);
      return Buffer.from(await readAll(res.body)).toString();
    } catch (e) {
      return e as { kind: string; requestSent: boolean; message: string };
    }
  };
  const trustRoot = (verifyDepth?: number): UpstreamTls => ({
    verify: true,
    ca: [chains.root.certPem],
    verifyDepth,
  });

  test("two intermediates: depth 2 passes, depth 1 refuses before sending, no depth means no limit", async () => {
    const u = serving(deep.chainPem, deep);
    expect(await get(u, trustRoot(2))).toBe("deep");
    expect(await get(u, trustRoot())).toBe("deep");
    const seen = u.requests.length;
    const refused = await get(u, trustRoot(1));
    expect(refused).toMatchObject({ kind: "tls", requestSent: false });
    expect((refused as { message: string }).message).toContain("certificate chain too long");
    expect(u.requests.length).toBe(seen);
  });

  test("depth 0 admits a leaf signed by the trusted root itself, not one behind an intermediate", async () => {
    expect(await get(serving(direct.certPem, direct), trustRoot(0))).toBe("direct");
    const oneDeep = await chains.leaf({
      name: "one",
      cn: "one",
      sans: ["127.0.0.1"],
      eku: ["serverAuth"],
      issuer: chains.intermediates[0],
    });
    const u = serving(oneDeep.chainPem, oneDeep);
    expect(await get(u, trustRoot(0))).toMatchObject({ kind: "tls" });
    expect(await get(u, trustRoot(1))).toBe("one");
  });

  test("the verified chain counts, not the presented one: intermediates from the CA list count too", async () => {
    // The upstream sends its leaf alone; the missing intermediates are completed from ca_certificates.
    const u = serving(deep.certPem, deep);
    const [i1, i2] = chains.intermediates as [Issued, Issued];
    const ca = [chains.root.certPem, i1.certPem, i2.certPem];
    expect(await get(u, { verify: true, ca, verifyDepth: 2 })).toBe("deep");
    expect(await get(u, { verify: true, ca, verifyDepth: 1 })).toMatchObject({ kind: "tls" });
  });

  test("a trusted root reached early ends the chain, even when the upstream also sends a cross-signed path", async () => {
    // The root re-issued under an unrelated CA (same name and key), as public CAs do for older trust stores.
    const rootCross = await x509.X509CertificateGenerator.create({
      serialNumber: "4242",
      subject: chains.root.cert.subject,
      issuer: chains.otherCa.cert.subject,
      notBefore: new Date(Date.now() - 86_400_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: chains.root.keys.publicKey,
      signingKey: chains.otherCa.keys.privateKey,
      signingAlgorithm: { name: "ECDSA", hash: "SHA-256" },
      extensions: [
        new x509.BasicConstraintsExtension(true, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true),
        await x509.SubjectKeyIdentifierExtension.create(chains.root.keys.publicKey),
        await x509.AuthorityKeyIdentifierExtension.create(chains.otherCa.cert),
      ],
    });
    // Out of order, as some servers send it: walking it as sent would count three intermediates.
    const [i1, i2] = chains.intermediates as [Issued, Issued];
    const sent = `${deep.certPem}${i1.certPem}${rootCross.toString("pem")}\n${chains.otherCa.certPem}${i2.certPem}`;
    const u = serving(sent, deep);
    expect(await get(u, trustRoot(2))).toBe("deep");
    expect(await get(u, trustRoot(1))).toMatchObject({ kind: "tls" });
  });

  test("with verification off the depth is not checked, as in Kong", async () => {
    expect(await get(serving(deep.chainPem, deep), { verify: false, verifyDepth: 0 })).toBe("deep");
  });
});
