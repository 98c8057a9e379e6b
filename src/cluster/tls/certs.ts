/** Cluster certificates: `gen_cert` (EC P-384, CN kong_clustering), and reading a certificate's name, SANs, expiry, digest, EKUs. */
import { createHash, X509Certificate } from "node:crypto";
import { chmodSync, existsSync } from "node:fs";
import { resolve } from "node:path";
import { writeFileAtomic } from "../../support/files";
import { selfSignedCertificate } from "../../support/self-signed";

export const CLUSTER_CN = "kong_clustering";
export const DEFAULT_CERT_DAYS = 1095;

export const EKU_SERVER_AUTH = "1.3.6.1.5.5.7.3.1";
export const EKU_CLIENT_AUTH = "1.3.6.1.5.5.7.3.2";
export const EKU_ANY = "2.5.29.37.0";

export interface ClusterCert {
  certPem: string;
  keyPem: string;
}

/** What gw needs to know about a certificate; `notAfter` in seconds (Kong's cert expiry metric unit), `digest` hex sha256 of DER. */
export interface CertInfo {
  commonName: string | null;
  sans: string[];
  notAfter: number;
  digest: string;
  extKeyUsage: string[];
}

/** A self-signed cluster certificate as `kong hybrid gen_cert` makes it: no extensions, subject = issuer = CN=kong_clustering. */
export async function generateClusterCert({
  days = DEFAULT_CERT_DAYS,
}: {
  days?: number;
} = {}): Promise<ClusterCert> {
  return await selfSignedCertificate(CLUSTER_CN, days);
}

/** Writes a new cluster cert (0644) and key (0600); refuses if either file exists, with Kong's wording. */
export async function writeClusterCertFiles(
  certPath = "cluster.crt",
  keyPath = "cluster.key",
  days = DEFAULT_CERT_DAYS,
): Promise<{ certPath: string; keyPath: string }> {
  certPath = resolve(certPath);
  keyPath = resolve(keyPath);
  for (const path of [certPath, keyPath]) {
    if (existsSync(path)) {
      throw new Error(`${path} already exists.\nWill not overwrite it: remove it first or give other paths.`);
    }
  }
  const { certPem, keyPem } = await generateClusterCert({ days });
  writeFileAtomic(keyPath, keyPem, 0o600);
  writeFileAtomic(certPath, certPem, 0o644);
  // The temp file's mode went through the umask; the modes users rely on are exact.
  chmodSync(keyPath, 0o600);
  chmodSync(certPath, 0o644);
  return { certPath, keyPath };
}

function parseGenCertArgs(args: string[]): { paths: string[]; days: number } {
  const paths: string[] = [];
  let days = DEFAULT_CERT_DAYS;
  for (let i = 0; i < args.length; i++) {
    const arg = args[i]!;
    const inline = /^--days=(.*)$/.exec(arg);
    if (inline || arg === "--days" || arg === "-d") {
      const raw = inline ? inline[1]! : args[++i];
      if (raw === undefined || !/^[1-9]\d*$/.test(raw)) {
        throw new Error(
          `--days: expected a positive whole number of days, got ${raw === undefined ? "nothing" : `'${raw}'`}`,
        );
      }
      days = Number(raw);
    } else if (arg.startsWith("-")) {
      throw new Error(`unknown option '${arg}' (gen_cert takes [CERT] [KEY] [--days N])`);
    } else {
      paths.push(arg);
    }
  }
  if (paths.length !== 0 && paths.length !== 2) {
    throw new Error("both cert and key path needs to be provided (gw hybrid gen_cert CERT KEY)");
  }
  return { paths, days };
}

/** `gw hybrid gen_cert [CERT] [KEY] [--days N]`; `args` are the words after `gen_cert`. Returns the exit code. */
export async function genCertCommand(args: string[]): Promise<number> {
  try {
    const { paths, days } = parseGenCertArgs(args);
    const written = await writeClusterCertFiles(paths[0], paths[1], days);
    process.stdout.write(
      `Successfully generated certificate/key pairs, they have been written to: '${written.certPath}' and '${written.keyPath}'.\n`,
    );
    return 0;
  } catch (e) {
    process.stderr.write(`Error: ${(e as Error).message}\n`);
    return 1;
  }
}

/** `CN=a\nO=b` → `a`; node gives the subject one attribute per line. */
function commonNameOf(subject: string): string | null {
  return /^CN=(.*)$/m.exec(subject)?.[1] ?? null;
}

/** `DNS:a, IP Address:1.2.3.4` → `["a", "1.2.3.4"]`. */
function sansOf(subjectAltName: string | undefined): string[] {
  if (!subjectAltName) return [];
  return subjectAltName.split(", ").map((entry) => entry.slice(entry.indexOf(":") + 1));
}

export function sha256Hex(der: Uint8Array): string {
  return createHash("sha256").update(der).digest("hex");
}

/** Reads the first certificate of a PEM (or a DER buffer). Throws node's parse error on garbage. */
export function certInfo(pemOrDer: string | Uint8Array): CertInfo {
  const cert = new X509Certificate(typeof pemOrDer === "string" ? pemOrDer : Buffer.from(pemOrDer));
  return {
    commonName: commonNameOf(cert.subject),
    sans: sansOf(cert.subjectAltName),
    notAfter: Math.floor(cert.validToDate.getTime() / 1000),
    digest: sha256Hex(cert.raw),
    extKeyUsage: cert.keyUsage ?? [],
  };
}
