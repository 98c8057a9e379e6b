/** `ssl` on admin_listen and status_listen with the compiled binary: Kong's default 8444-style listeners serve TLS. */
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { X509Certificate } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { join } from "node:path";
import { connect, type PeerCertificate } from "node:tls";
import { freePort, type GwProcess, runGw, startGw, tempDir } from "../helpers/gw";
import { createTestPki } from "../helpers/pki";

/** The certificate a TLS listener presents, without trusting it. */
function presented(port: number): Promise<PeerCertificate> {
  return new Promise((resolve, reject) => {
    const socket = connect(
      { host: "127.0.0.1", port, rejectUnauthorized: false, servername: "localhost" },
      () => {
        resolve(socket.getPeerCertificate());
        socket.end();
      },
    );
    socket.on("error", reject);
  });
}

const fingerprint = (pem: string) => new X509Certificate(pem).fingerprint256;

let gw: GwProcess;
const adminTls = freePort();
const statusTls = freePort();

beforeAll(async () => {
  gw = await startGw({
    args: [
      "--admin_listen",
      `127.0.0.1:${freePort()}, 127.0.0.1:${adminTls} ssl`,
      "--status_listen",
      `127.0.0.1:${freePort()}, 127.0.0.1:${statusTls} ssl`,
    ],
    wait: "none",
  });
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    try {
      const res = await fetch(`https://127.0.0.1:${statusTls}/status`, {
        tls: { rejectUnauthorized: false },
      });
      if (res.ok) break;
    } catch {}
    await Bun.sleep(100);
  }
});

afterAll(async () => {
  await gw?.kill();
});

describe("generated certificates", () => {
  test("the Admin API answers over TLS with the certificate gw made in <prefix>/ssl", async () => {
    const res = await fetch(`https://127.0.0.1:${adminTls}/`, { tls: { rejectUnauthorized: false } });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { tagline: string }).tagline).toBe("Welcome to kong");
    const pem = readFileSync(join(gw.prefix, "ssl", "admin-kong-default-ecdsa.crt"), "utf8");
    expect((await presented(adminTls)).fingerprint256).toBe(fingerprint(pem));
  });

  test("the Status API answers over TLS with its own generated certificate", async () => {
    const res = await fetch(`https://127.0.0.1:${statusTls}/status`, { tls: { rejectUnauthorized: false } });
    expect(res.status).toBe(200);
    const pem = readFileSync(join(gw.prefix, "ssl", "status-kong-default-ecdsa.crt"), "utf8");
    expect((await presented(statusTls)).fingerprint256).toBe(fingerprint(pem));
  });
});

describe("configured certificates", () => {
  test("admin_ssl_cert / admin_ssl_cert_key are what the Admin API presents", async () => {
    const pki = await createTestPki({ dir: tempDir("admin-tls") });
    const leaf = await pki.leaf({
      name: "admin",
      cn: "admin.gw.test",
      sans: ["localhost", "127.0.0.1"],
      eku: ["serverAuth"],
    });
    const port = freePort();
    const node = await startGw({
      args: [
        "--admin_listen",
        `127.0.0.1:${port} ssl`,
        "--admin_ssl_cert",
        leaf.chainPath,
        "--admin_ssl_cert_key",
        leaf.keyPath,
      ],
    });
    try {
      const res = await fetch(`https://127.0.0.1:${port}/status`, { tls: { ca: pki.root.certPem } });
      expect(res.status).toBe(200);
      expect((await presented(port)).subject.CN).toBe("admin.gw.test");
    } finally {
      await node.kill();
    }
  });

  test("a certificate without its key is refused by gw check, naming the setting", async () => {
    const dir = tempDir("admin-tls-bad");
    const conf = join(dir, "kong.conf");
    writeFileSync(conf, `admin_listen = 127.0.0.1:8444 ssl\nadmin_ssl_cert = ${join(dir, "missing.crt")}\n`);
    const r = await runGw(["check", "-c", conf]);
    expect(r.code).toBe(1);
    expect(r.output).toContain("admin_ssl_cert_key must be specified");
  });
});
