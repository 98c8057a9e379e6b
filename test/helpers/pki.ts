/** Test PKI factory: a root CA, intermediates, leaves with chosen EKU/SAN/CN/validity/OCSP URL, an unrelated CA, all as PEM files. */
import "reflect-metadata";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as x509 from "@peculiar/x509";

x509.cryptoProvider.set(crypto);

const ALG = { name: "ECDSA", namedCurve: "P-256", hash: "SHA-256" } as const;
const DAY_MS = 86_400_000;

export type Eku = "serverAuth" | "clientAuth" | "ocspSigning";

/** A certificate with its key, written to `<dir>/<name>.crt|.key`; `chainPath` holds the leaf plus its intermediates. */
export interface Issued {
  name: string;
  cert: x509.X509Certificate;
  keys: CryptoKeyPair;
  parent: Issued | null;
  certPem: string;
  keyPem: string;
  chainPem: string;
  certPath: string;
  keyPath: string;
  chainPath: string;
  /** Upper-case hex, as `openssl ocsp` index files spell serials. */
  serialHex: string;
}

export interface LeafSpec {
  name: string;
  cn: string;
  /** DNS names, or IP addresses (recognised by their dots and digits). */
  sans?: string[];
  eku?: Eku[];
  /** Defaults to the deepest intermediate, or the root. */
  issuer?: Issued;
  notBefore?: Date;
  notAfter?: Date;
  /** Written into the AIA extension as the OCSP responder. */
  ocspUrl?: string;
}

export interface TestPki {
  dir: string;
  root: Issued;
  intermediates: Issued[];
  /** The CA that signs leaves by default. */
  issuing: Issued;
  /** A CA that has nothing to do with `root`, for "wrong CA" cases. */
  otherCa: Issued;
  leaf(spec: LeafSpec): Promise<Issued>;
  /** A self-signed, non-CA certificate (what `gen_cert` makes). */
  selfSigned(name: string, cn: string): Promise<Issued>;
  /** Writes an `openssl ocsp` index listing `valid` and `revoked` certificates; returns its path. */
  ocspIndex(name: string, valid: Issued[], revoked: Issued[]): string;
}

const toPem = (der: ArrayBuffer, label: string) =>
  `-----BEGIN ${label}-----\n${Buffer.from(der)
    .toString("base64")
    .replace(/(.{64})/g, "$1\n")
    .replace(/\n?$/, "\n")}-----END ${label}-----\n`;

/** A positive serial whose first byte has no leading zero nibble, so openssl prints it exactly as we do. */
function randomSerial(): string {
  const bytes = crypto.getRandomValues(new Uint8Array(16));
  bytes[0] = 0x10 + (bytes[0]! % 0x60);
  return Buffer.from(bytes).toString("hex").toUpperCase();
}

const isIp = (s: string) => /^[\d.]+$/.test(s) || s.includes(":");

function ekuOid(e: Eku): string {
  return x509.ExtendedKeyUsage[e];
}

export async function createTestPki(opts: { dir?: string; intermediates?: number } = {}): Promise<TestPki> {
  const dir = opts.dir ?? mkdtempSync(join(tmpdir(), "gw-pki-"));

  async function save(
    name: string,
    cert: x509.X509Certificate,
    keys: CryptoKeyPair,
    parent: Issued | null,
  ): Promise<Issued> {
    const certPem = cert.toString("pem").replace(/\r/g, "").replace(/\n?$/, "\n");
    const keyPem = toPem(await crypto.subtle.exportKey("pkcs8", keys.privateKey), "PRIVATE KEY");
    let chainPem = certPem;
    for (let p = parent; p?.parent; p = p.parent) chainPem += p.certPem;
    const issued: Issued = {
      name,
      cert,
      keys,
      parent,
      certPem,
      keyPem,
      chainPem,
      certPath: join(dir, `${name}.crt`),
      keyPath: join(dir, `${name}.key`),
      chainPath: join(dir, `${name}.chain.crt`),
      serialHex: cert.serialNumber.toUpperCase(),
    };
    writeFileSync(issued.certPath, certPem);
    writeFileSync(issued.keyPath, keyPem, { mode: 0o600 });
    writeFileSync(issued.chainPath, chainPem);
    return issued;
  }

  async function signed(
    name: string,
    subject: string,
    issuer: Issued | null,
    extensions: x509.Extension[],
    notBefore = new Date(Date.now() - DAY_MS),
    notAfter = new Date(Date.now() + 30 * DAY_MS),
  ): Promise<Issued> {
    const keys = (await crypto.subtle.generateKey(ALG, true, ["sign", "verify"])) as CryptoKeyPair;
    const ski = await x509.SubjectKeyIdentifierExtension.create(keys.publicKey);
    const base = { serialNumber: randomSerial(), notBefore, notAfter, signingAlgorithm: ALG };
    const cert = issuer
      ? await x509.X509CertificateGenerator.create({
          ...base,
          subject,
          issuer: issuer.cert.subject,
          publicKey: keys.publicKey,
          signingKey: issuer.keys.privateKey,
          extensions: [...extensions, ski, await x509.AuthorityKeyIdentifierExtension.create(issuer.cert)],
        })
      : await x509.X509CertificateGenerator.createSelfSigned({
          ...base,
          name: subject,
          keys,
          extensions: [...extensions, ski],
        });
    return save(name, cert, keys, issuer);
  }

  const caExtensions = () => [
    new x509.BasicConstraintsExtension(true, undefined, true),
    new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
  ];

  const root = await signed("root-ca", "CN=gw test root CA", null, caExtensions());
  const intermediates: Issued[] = [];
  for (let i = 1; i <= (opts.intermediates ?? 0); i++) {
    const parent = intermediates.at(-1) ?? root;
    intermediates.push(
      await signed(`intermediate-${i}`, `CN=gw test intermediate ${i}`, parent, caExtensions()),
    );
  }
  const otherCa = await signed("other-ca", "CN=unrelated CA", null, caExtensions());
  const issuing = intermediates.at(-1) ?? root;

  return {
    dir,
    root,
    intermediates,
    issuing,
    otherCa,
    leaf(spec) {
      const extensions: x509.Extension[] = [
        new x509.BasicConstraintsExtension(false),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature, true),
      ];
      if (spec.eku?.length) extensions.push(new x509.ExtendedKeyUsageExtension(spec.eku.map(ekuOid)));
      if (spec.sans?.length) {
        extensions.push(
          new x509.SubjectAlternativeNameExtension(
            spec.sans.map((value) => ({ type: isIp(value) ? "ip" : "dns", value })),
          ),
        );
      }
      if (spec.ocspUrl) extensions.push(new x509.AuthorityInfoAccessExtension({ ocsp: spec.ocspUrl }));
      return signed(
        spec.name,
        `CN=${spec.cn}`,
        spec.issuer ?? issuing,
        extensions,
        spec.notBefore,
        spec.notAfter,
      );
    },
    selfSigned(name, cn) {
      return signed(name, `CN=${cn}`, null, []);
    },
    ocspIndex(name, valid, revoked) {
      const stamp = (d: Date) => `${d.toISOString().replace(/[-:T]/g, "").slice(2, 14)}Z`;
      const line = (c: Issued, status: "V" | "R") =>
        [
          status,
          stamp(c.cert.notAfter),
          status === "R" ? stamp(new Date(Date.now() - 60_000)) : "",
          c.serialHex,
          "unknown",
          `/${c.cert.subject.replace(/, /g, "/")}`,
        ].join("\t");
      const path = join(dir, `${name}.index.txt`);
      writeFileSync(
        path,
        [...valid.map((c) => line(c, "V")), ...revoked.map((c) => line(c, "R"))]
          .map((l) => `${l}\n`)
          .join(""),
      );
      writeFileSync(`${path}.attr`, "unique_subject = no\n");
      return path;
    },
  };
}
