/** The proxy's TLS certificate: `ssl_cert`/`ssl_cert_key`, or (as Kong) a self-signed default kept in `<prefix>/ssl/`. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { logger } from "../log/logger";
import type { Settings } from "../settings";
import { pemOrThrow } from "../settings/pem";
import { writeFileAtomic } from "../support/files";
import { selfSignedCertificate } from "../support/self-signed";

const log = logger("kong");

export async function proxyCertificate(s: Settings): Promise<{ cert: string; key: string }> {
  const [cert] = s.ssl_cert;
  const [key] = s.ssl_cert_key;
  if (cert && key)
    return { cert: pemOrThrow(cert, "certificate", "ssl_cert"), key: pemOrThrow(key, "key", "ssl_cert_key") };
  const dir = join(s.prefix, "ssl");
  const certPath = join(dir, "kong-default-ecdsa.crt");
  const keyPath = join(dir, "kong-default-ecdsa.key");
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = await selfSignedCertificate("localhost", 3650, ["localhost"]);
    writeFileAtomic(keyPath, made.keyPem, 0o600);
    writeFileAtomic(certPath, made.certPem, 0o644);
    log.notice(
      `generated a self-signed proxy certificate in ${dir} (set ssl_cert and ssl_cert_key to use your own)`,
    );
  }
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}
