/** Test PKI made with the openssl CLI: shared-mode certs, CAs and leaves, EC P-384 (as `hybrid gen_cert`) or RSA. */
import { mkdtempSync, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pair {
  cert: string;
  key: string;
}

export const certDir = () => mkdtempSync(join(tmpdir(), "gw-certs-"));

function openssl(dir: string, ...args: string[]) {
  const out = Bun.spawnSync(["openssl", ...args], { cwd: dir, stderr: "pipe" });
  if (out.exitCode !== 0) throw new Error(`openssl ${args.join(" ")}: ${out.stderr.toString()}`);
}

/** `cn` self-signed (a CA or a shared-mode cert) or issued by `issuer`; EC P-384 like `hybrid gen_cert`, or RSA. */
export function makeCert(dir: string, name: string, issuer?: string, rsa = false): Pair {
  const keyArgs = rsa
    ? ["-newkey", "rsa:2048"]
    : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:secp384r1"];
  const subj = `/CN=${name}`;
  if (!issuer) {
    openssl(
      dir,
      "req",
      "-x509",
      ...keyArgs,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.crt`,
      "-subj",
      subj,
      "-days",
      "30",
    );
  } else {
    openssl(
      dir,
      "req",
      "-new",
      ...keyArgs,
      "-nodes",
      "-keyout",
      `${name}.key`,
      "-out",
      `${name}.csr`,
      "-subj",
      subj,
    );
    openssl(
      dir,
      "x509",
      "-req",
      "-in",
      `${name}.csr`,
      "-CA",
      `${issuer}.crt`,
      "-CAkey",
      `${issuer}.key`,
      "-CAcreateserial",
      "-out",
      `${name}.crt`,
      "-days",
      "30",
    );
  }
  return {
    cert: readFileSync(join(dir, `${name}.crt`), "utf8"),
    key: readFileSync(join(dir, `${name}.key`), "utf8"),
  };
}
