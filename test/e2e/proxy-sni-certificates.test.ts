/** The TLS proxy listener presents the certificate whose `snis` entity names the client's server name, as Kong: DB-less and via the Admin API. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { connect } from "node:tls";
import { freePort, type GwProcess, startDbless, startGw, waitFor } from "../helpers/gw";
import { admin } from "../helpers/hybrid";
import { createTestPki, type Issued, type TestPki } from "../helpers/pki";
import { parseResponse } from "../helpers/raw-http";
import { type Echo, startEchoUpstream, type TestUpstream } from "../helpers/upstream";

interface Served {
  /** SHA-256 fingerprint of the certificate the listener presented. */
  fingerprint: string;
  /** The presented certificate chains to the test root and names `servername`. */
  authorized: boolean;
  status: number;
  upstream: string | undefined;
}

/** One HTTPS request on `port`, sending `servername` as SNI (none when undefined). */
function request(port: number, ca: string, servername?: string): Promise<Served> {
  return new Promise((resolve, reject) => {
    const socket = connect({ host: "127.0.0.1", port, ca, servername, rejectUnauthorized: false }, () => {
      socket.write(`GET /sni HTTP/1.1\r\nHost: ${servername ?? "localhost"}\r\nConnection: close\r\n\r\n`);
    });
    let text = "";
    socket.on("data", (d: Buffer) => {
      text += d.toString("latin1");
    });
    socket.on("error", reject);
    socket.on("end", () => {
      const res = parseResponse(text);
      if (res === null) return reject(new Error(`no response: ${JSON.stringify(text)}`));
      resolve({
        fingerprint: socket.getPeerCertificate().fingerprint256,
        authorized: socket.authorized,
        status: res.status,
        upstream: res.status === 200 ? (JSON.parse(res.body.toString()) as Echo).upstream : undefined,
      });
    });
  });
}

const fingerprint = (issued: Issued) => new X509Certificate(issued.certPem).fingerprint256;
const defaultFingerprint = (gw: GwProcess) =>
  new X509Certificate(readFileSync(join(gw.prefix, "ssl", "kong-default-ecdsa.crt"), "utf8")).fingerprint256;

let pki: TestPki;
let certA: Issued;
let certB: Issued;
let upstream: TestUpstream;

beforeAll(async () => {
  pki = await createTestPki({ intermediates: 0 });
  certA = await pki.leaf({ name: "a", cn: "a.test", sans: ["a.test"] });
  certB = await pki.leaf({ name: "b", cn: "*.b.test", sans: ["*.b.test"] });
  upstream = startEchoUpstream("sni");
});

afterAll(async () => {
  await upstream?.stop();
});

describe("DB-less: certificates with snis in the declarative config", () => {
  let gw: GwProcess;
  let ssl: number;

  beforeAll(async () => {
    ssl = freePort();
    const config = {
      _format_version: "3.0",
      certificates: [
        { cert: certA.certPem, key: certA.keyPem, snis: ["a.test"] },
        { cert: certB.certPem, key: certB.keyPem, snis: ["*.b.test"] },
      ],
      services: [{ name: "echo", url: upstream.url, routes: [{ name: "all", paths: ["/"] }] }],
    };
    // startGw passes its own --proxy_listen first; this later one wins.
    gw = await startDbless(JSON.stringify(config), { args: ["--proxy_listen", `127.0.0.1:${ssl} ssl`] });
  });

  afterAll(async () => {
    await gw?.kill();
  });

  test("an exact SNI gets its certificate, which the client verifies, and the request is routed", async () => {
    const served = await request(ssl, pki.root.certPem, "a.test");
    expect(served.fingerprint).toBe(fingerprint(certA));
    expect(served.authorized).toBe(true);
    expect(served.status).toBe(200);
    expect(served.upstream).toBe("sni");
  });

  test("a name under a `*.b.test` SNI gets that certificate", async () => {
    const served = await request(ssl, pki.root.certPem, "x.b.test");
    expect(served.fingerprint).toBe(fingerprint(certB));
    expect(served.authorized).toBe(true);
    expect(served.status).toBe(200);
  });

  test("a name no SNI matches, a name two labels under `*.b.test`, and no SNI at all get the default certificate", async () => {
    for (const servername of ["unknown.test", "x.y.b.test", undefined]) {
      const served = await request(ssl, pki.root.certPem, servername);
      expect(served.fingerprint).toBe(defaultFingerprint(gw));
      expect(served.status).toBe(200);
    }
  });
});

describe("traditional: certificates and SNIs added, changed and deleted through the Admin API", () => {
  let gw: GwProcess;
  let ssl: number;

  beforeAll(async () => {
    ssl = freePort();
    gw = await startGw({ args: ["--database", "sqlite", "--proxy_listen", `127.0.0.1:${ssl} ssl`] });
    await admin(gw, "POST", "/services", { name: "echo", url: upstream.url });
    await admin(gw, "POST", "/services/echo/routes", { name: "all", paths: ["/"] });
  });

  afterAll(async () => {
    await gw?.kill();
  });

  /** Waits until a handshake with `servername` presents the certificate with fingerprint `expected`. */
  const untilPresented = (servername: string, expected: string) =>
    waitFor(`${servername} served ${expected}`, async () => {
      const served = await request(ssl, pki.root.certPem, servername);
      return served.fingerprint === expected && served.status === 200 ? served : undefined;
    });

  test("the new certificate is served without a restart, follows its update, and the default returns once its SNI is deleted", async () => {
    await untilPresented("a.test", defaultFingerprint(gw));

    const created = await admin(gw, "POST", "/certificates", {
      cert: certA.certPem,
      key: certA.keyPem,
      snis: ["a.test"],
    });
    expect(created.status).toBe(201);
    expect((await untilPresented("a.test", fingerprint(certA))).authorized).toBe(true);
    expect((await request(ssl, pki.root.certPem, "other.test")).fingerprint).toBe(defaultFingerprint(gw));

    const id = (created.body as { id: string }).id;
    const updated = await admin(gw, "PATCH", `/certificates/${id}`, {
      cert: certB.certPem,
      key: certB.keyPem,
    });
    expect(updated.status).toBe(200);
    await untilPresented("a.test", fingerprint(certB));

    // Kong refuses to delete a certificate its SNIs still reference: the SNI goes first.
    expect((await admin(gw, "DELETE", "/snis/a.test")).status).toBe(204);
    await untilPresented("a.test", defaultFingerprint(gw));
  });
});
