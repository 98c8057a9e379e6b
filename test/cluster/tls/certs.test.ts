import { describe, expect, test } from "bun:test";
import { readFileSync, statSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import {
  certInfo,
  genCertCommand,
  generateClusterCert,
  writeClusterCertFiles,
} from "../../../src/cluster/tls/certs";
import { tempDir } from "../../helpers/gw";
import { createTestPki } from "../../helpers/pki";

const SRC = resolve(import.meta.dir, "../../../src/cluster/tls/certs.ts");

function openssl(args: string[], stdin?: string): string {
  const proc = Bun.spawnSync(["openssl", ...args], { stdin: stdin ? Buffer.from(stdin) : undefined });
  if (proc.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${proc.stderr.toString()}`);
  return proc.stdout.toString();
}

/** What a user would run to get the digest: `openssl x509 -outform DER | sha256sum`. */
function opensslDigest(pem: string): string {
  const der = Bun.spawnSync(["openssl", "x509", "-outform", "DER"], { stdin: Buffer.from(pem) }).stdout;
  return new Bun.CryptoHasher("sha256").update(der).digest("hex");
}

const mode = (path: string) => (statSync(path).mode & 0o777).toString(8);

describe("generateClusterCert", () => {
  test("makes what kong hybrid gen_cert makes: self-signed EC P-384, CN=kong_clustering, 1095 days", async () => {
    const { certPem, keyPem } = await generateClusterCert();
    const text = openssl(["x509", "-noout", "-text"], certPem);
    expect(text).toContain("Subject: CN = kong_clustering");
    expect(text).toContain("Issuer: CN = kong_clustering");
    expect(text).toContain("NIST CURVE: P-384");
    expect(openssl(["pkey", "-noout", "-text"], keyPem)).toContain("NIST CURVE: P-384");
    // The key belongs to the certificate.
    expect(openssl(["pkey", "-pubout"], keyPem)).toBe(openssl(["x509", "-noout", "-pubkey"], certPem));
    const days = (certInfo(certPem).notAfter * 1000 - Date.now()) / 86_400_000;
    expect(Math.round(days)).toBe(1095);
    // Verifies against itself, as a shared-mode peer does.
    const dir = tempDir("gw-cert");
    writeFileSync(join(dir, "c.pem"), certPem);
    expect(openssl(["verify", "-CAfile", join(dir, "c.pem"), join(dir, "c.pem")])).toContain("OK");
  });

  test("--days sets the validity", async () => {
    const { certPem } = await generateClusterCert({ days: 10 });
    expect(Math.round((certInfo(certPem).notAfter * 1000 - Date.now()) / 86_400_000)).toBe(10);
  });

  test("each call makes a new key", async () => {
    const [a, b] = await Promise.all([generateClusterCert(), generateClusterCert()]);
    expect(certInfo(a.certPem).digest).not.toBe(certInfo(b.certPem).digest);
  });
});

describe("writeClusterCertFiles", () => {
  test("writes the cert 0644 and the key 0600", async () => {
    const dir = tempDir("gw-cert");
    const written = await writeClusterCertFiles(join(dir, "c.crt"), join(dir, "c.key"));
    expect(mode(written.certPath)).toBe("644");
    expect(mode(written.keyPath)).toBe("600");
    expect(readFileSync(written.certPath, "utf8")).toStartWith("-----BEGIN CERTIFICATE-----");
    expect(readFileSync(written.keyPath, "utf8")).toStartWith("-----BEGIN PRIVATE KEY-----");
  });

  test("refuses to overwrite an existing cert or key and leaves both untouched", async () => {
    const dir = tempDir("gw-cert");
    const cert = join(dir, "c.crt");
    const key = join(dir, "c.key");
    writeFileSync(key, "precious");
    await expect(writeClusterCertFiles(cert, key)).rejects.toThrow(
      `${key} already exists.\nWill not overwrite it`,
    );
    expect(readFileSync(key, "utf8")).toBe("precious");
    expect(() => statSync(cert)).toThrow();

    writeFileSync(cert, "also precious");
    await expect(writeClusterCertFiles(cert, join(dir, "other.key"))).rejects.toThrow(
      `${cert} already exists.`,
    );
    expect(readFileSync(cert, "utf8")).toBe("also precious");
  });
});

describe("gw hybrid gen_cert arguments", () => {
  test("with no arguments writes ./cluster.crt and ./cluster.key in the working directory", async () => {
    const dir = tempDir("gw-cert");
    const run = () =>
      Bun.spawnSync(
        [
          process.execPath,
          "-e",
          `import { genCertCommand } from ${JSON.stringify(SRC)}; process.exit(await genCertCommand([]));`,
        ],
        { cwd: dir },
      );
    const first = run();
    expect(first.exitCode).toBe(0);
    expect(first.stdout.toString()).toContain(
      `they have been written to: '${join(dir, "cluster.crt")}' and '${join(dir, "cluster.key")}'`,
    );
    expect(mode(join(dir, "cluster.crt"))).toBe("644");
    expect(mode(join(dir, "cluster.key"))).toBe("600");

    const second = run();
    expect(second.exitCode).toBe(1);
    expect(second.stderr.toString()).toContain("cluster.crt already exists.");
  });

  test("takes CERT KEY and --days N", async () => {
    const dir = tempDir("gw-cert");
    const cert = join(dir, "a.crt");
    expect(await genCertCommand([cert, join(dir, "a.key"), "--days", "30"])).toBe(0);
    expect(Math.round((certInfo(readFileSync(cert, "utf8")).notAfter * 1000 - Date.now()) / 86_400_000)).toBe(
      30,
    );
    const cert2 = join(dir, "b.crt");
    expect(await genCertCommand(["--days=2", cert2, join(dir, "b.key")])).toBe(0);
    expect(
      Math.round((certInfo(readFileSync(cert2, "utf8")).notAfter * 1000 - Date.now()) / 86_400_000),
    ).toBe(2);
  });

  test("rejects a lone path, a bad --days and unknown options, writing nothing", async () => {
    const dir = tempDir("gw-cert");
    const errors: string[] = [];
    const write = process.stderr.write.bind(process.stderr);
    process.stderr.write = ((chunk: string) => errors.push(chunk) > 0) as typeof process.stderr.write;
    try {
      expect(await genCertCommand([join(dir, "only.crt")])).toBe(1);
      expect(await genCertCommand([join(dir, "x.crt"), join(dir, "x.key"), "--days", "soon"])).toBe(1);
      expect(await genCertCommand([join(dir, "x.crt"), join(dir, "x.key"), "--days"])).toBe(1);
      expect(await genCertCommand(["--force"])).toBe(1);
    } finally {
      process.stderr.write = write;
    }
    expect(errors[0]).toContain("both cert and key path needs to be provided");
    expect(errors[1]).toContain("--days: expected a positive whole number of days, got 'soon'");
    expect(errors[2]).toContain("--days: expected a positive whole number of days, got nothing");
    expect(errors[3]).toContain("unknown option '--force'");
    expect(() => statSync(join(dir, "x.crt"))).toThrow();
  });
});

describe("certInfo", () => {
  test("reads CN, SANs, expiry, EKUs and the DER sha256 that openssl computes", async () => {
    const pki = await createTestPki();
    const notAfter = new Date(Math.floor(Date.now() / 1000 + 7200) * 1000);
    const leaf = await pki.leaf({
      name: "cp",
      cn: "cp.example",
      sans: ["cp.example", "127.0.0.1"],
      eku: ["serverAuth", "clientAuth"],
      notAfter,
    });
    const info = certInfo(leaf.certPem);
    expect(info.commonName).toBe("cp.example");
    expect(info.sans).toEqual(["cp.example", "127.0.0.1"]);
    expect(info.notAfter).toBe(notAfter.getTime() / 1000);
    expect(info.extKeyUsage).toEqual(["1.3.6.1.5.5.7.3.1", "1.3.6.1.5.5.7.3.2"]);
    expect(info.digest).toBe(opensslDigest(leaf.certPem));
    // A chain file describes its first certificate.
    expect(certInfo(leaf.chainPem).digest).toBe(info.digest);
  });

  test("a certificate without SAN or EKU gives empty lists", async () => {
    const info = certInfo((await generateClusterCert()).certPem);
    expect(info.commonName).toBe("kong_clustering");
    expect(info.sans).toEqual([]);
    expect(info.extKeyUsage).toEqual([]);
  });

  test("garbage is an error, not a crash", () => {
    expect(() => certInfo("not a certificate")).toThrow();
  });
});
