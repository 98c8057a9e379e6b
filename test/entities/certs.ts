/** Generates real certificates and keys with the openssl CLI for the entity tests. */
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

export interface Pem {
  cert: string;
  key: string;
}

function openssl(args: string[], cwd: string): void {
  const r = Bun.spawnSync(["openssl", ...args], { cwd, stderr: "pipe" });
  if (r.exitCode !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr.toString()}`);
}

/** A self-signed certificate: EC P-256 key (RSA 2048 when asked; slower), CA or leaf (basicConstraints says which). */
export function selfSigned(opts: { cn: string; ca: boolean; rsa?: boolean }): Pem {
  const dir = mkdtempSync(join(tmpdir(), "gw-entities-cert-"));
  try {
    const newkey = opts.rsa
      ? ["-newkey", "rsa:2048"]
      : ["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1"];
    openssl(
      [
        "req",
        "-x509",
        ...newkey,
        "-nodes",
        "-keyout",
        "key.pem",
        "-out",
        "cert.pem",
        "-days",
        "30",
        "-subj",
        `/CN=${opts.cn}`,
        "-addext",
        `basicConstraints=critical,CA:${opts.ca ? "TRUE" : "FALSE"}`,
      ],
      dir,
    );
    return {
      cert: readFileSync(join(dir, "cert.pem"), "utf8"),
      key: readFileSync(join(dir, "key.pem"), "utf8"),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
