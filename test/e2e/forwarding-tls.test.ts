/** HTTPS upstreams through the compiled binary: Kong's tls_verify, ca_certificates, client_certificate and tls_verify_depth. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type GwProcess, startDbless } from "../helpers/gw";
import { createTestPki, type Issued } from "../helpers/pki";
import { type RawUpstream, rawUpstream } from "../proxy/upstream/raw-upstream";

const upstreams: RawUpstream[] = [];
let gw: GwProcess;

/** An HTTPS upstream presenting `leaf` (with its intermediates) that answers with the CN of the client's certificate, if any. */
function tlsUpstream(leaf: Issued, requireClientCertFrom?: Issued): RawUpstream {
  const u = rawUpstream({
    tls: {
      cert: leaf.chainPem,
      key: leaf.keyPem,
      ...(requireClientCertFrom
        ? { ca: requireClientCertFrom.certPem, requestCert: true, rejectUnauthorized: true }
        : {}),
    },
    respond(_req, conn) {
      const cn = String(conn.socket.getPeerCertificate()?.subject?.CN ?? "none");
      conn.write(`HTTP/1.1 200 OK\r\nContent-Length: ${cn.length}\r\n\r\n${cn}`);
    },
  });
  upstreams.push(u);
  return u;
}

beforeAll(async () => {
  // root → intermediate 1 → intermediate 2 issues the "deep" leaf; the other leaves come straight from the root.
  const pki = await createTestPki({ intermediates: 2 });
  const sans = ["127.0.0.1", "localhost"];
  const direct = await pki.leaf({
    name: "direct",
    cn: "direct",
    sans,
    eku: ["serverAuth"],
    issuer: pki.root,
  });
  const deep = await pki.leaf({ name: "deep", cn: "deep", sans, eku: ["serverAuth"] });
  const elsewhere = await pki.leaf({
    name: "elsewhere",
    cn: "other.test",
    sans: ["other.test"],
    eku: ["serverAuth"],
    issuer: pki.root,
  });
  const client = await pki.leaf({ name: "client", cn: "gw-client", eku: ["clientAuth"], issuer: pki.root });
  const plain = tlsUpstream(direct);
  const deepUp = tlsUpstream(deep);
  const mismatched = tlsUpstream(elsewhere);
  const mtls = tlsUpstream(direct, pki.root);

  const caId = crypto.randomUUID();
  const certId = crypto.randomUUID();
  const service = (name: string, port: number, extra: string) =>
    `  - name: ${name}\n    url: https://127.0.0.1:${port}\n${extra}    routes: [{ paths: ["/${name}"] }]\n`;
  const verified = `    tls_verify: true\n    ca_certificates: [${caId}]\n`;
  gw = await startDbless(
    [
      `_format_version: "3.0"`,
      `ca_certificates:\n  - id: ${caId}\n    cert: ${JSON.stringify(pki.root.certPem)}`,
      `certificates:\n  - id: ${certId}\n    cert: ${JSON.stringify(client.certPem)}\n    key: ${JSON.stringify(client.keyPem)}`,
      "services:",
      service("verified", plain.port, verified),
      service("no-ca", plain.port, "    tls_verify: true\n"),
      service("unverified", plain.port, "    tls_verify: false\n"),
      service("mismatch", mismatched.port, verified),
      service("mtls", mtls.port, `${verified}    client_certificate: { id: ${certId} }\n`),
      service("mtls-without-cert", mtls.port, verified),
      service("depth-1", deepUp.port, `${verified}    tls_verify_depth: 1\n`),
      service("depth-2", deepUp.port, `${verified}    tls_verify_depth: 2\n`),
    ].join("\n"),
  );
});

afterAll(async () => {
  await gw?.kill();
  for (const u of upstreams) u.stop();
});

const BAD_GATEWAY = "An invalid response was received from the upstream server";

async function expectAnswer(path: string, body: string) {
  const res = await fetch(`${gw.proxy}${path}`);
  expect({ status: res.status, body: await res.text() }).toEqual({ status: 200, body });
}

async function expectRefused(path: string) {
  const res = await fetch(`${gw.proxy}${path}`);
  expect(res.status).toBe(502);
  expect(((await res.json()) as { message: string }).message).toBe(BAD_GATEWAY);
}

describe("service protocol https", () => {
  test("tls_verify with the CA from ca_certificates: 200", () => expectAnswer("/verified", "none"));

  test("tls_verify without the CA: 502", () => expectRefused("/no-ca"));

  test("tls_verify false: the private CA is accepted", () => expectAnswer("/unverified", "none"));

  test("tls_verify with a certificate for another host name: 502", () => expectRefused("/mismatch"));

  test("client_certificate is presented to an upstream that requires one, which sees it", () =>
    expectAnswer("/mtls", "gw-client"));

  test("without client_certificate that upstream refuses the handshake: 502", () =>
    expectRefused("/mtls-without-cert"));

  // OpenSSL's depth counts the intermediates allowed between the leaf and the trust anchor; here there are two.
  test("tls_verify_depth 2 accepts a chain with two intermediates", () => expectAnswer("/depth-2", "none"));

  test("tls_verify_depth 1 refuses a chain with two intermediates: 502", () => expectRefused("/depth-1"));
});
