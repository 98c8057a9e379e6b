/** Listeners' TLS (proxy, Admin API, Status API): `*ssl_cert` settings or Kong's self-signed default in `<prefix>/ssl/`; serving the HTTP APIs. */
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { Server } from "bun";
import { logger } from "../log/logger";
import type { Settings } from "../settings";
import type { Listener } from "../settings/listen";
import { pemOrThrow } from "../settings/pem";
import { writeFileAtomic } from "../support/files";
import { selfSignedCertificate } from "../support/self-signed";

const log = logger("kong");

/** Kong's setting names and default file names per kind of listener. */
const KINDS = {
  proxy: { cert: "ssl_cert", key: "ssl_cert_key", file: "kong-default-ecdsa" },
  admin: { cert: "admin_ssl_cert", key: "admin_ssl_cert_key", file: "admin-kong-default-ecdsa" },
  status: { cert: "status_ssl_cert", key: "status_ssl_cert_key", file: "status-kong-default-ecdsa" },
} as const;

export type ListenerKind = keyof typeof KINDS;

export async function listenerCertificate(
  s: Settings,
  kind: ListenerKind,
): Promise<{ cert: string; key: string }> {
  const names = KINDS[kind];
  const [cert] = s[names.cert];
  const [key] = s[names.key];
  if (cert && key)
    return { cert: pemOrThrow(cert, "certificate", names.cert), key: pemOrThrow(key, "key", names.key) };
  const dir = join(s.prefix, "ssl");
  const certPath = join(dir, `${names.file}.crt`);
  const keyPath = join(dir, `${names.file}.key`);
  if (!existsSync(certPath) || !existsSync(keyPath)) {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    const made = await selfSignedCertificate("localhost", 3650, ["localhost"]);
    writeFileAtomic(keyPath, made.keyPem, 0o600);
    writeFileAtomic(certPath, made.certPem, 0o644);
    log.notice(
      `generated a self-signed ${kind} certificate in ${dir} (set ${names.cert} and ${names.key} to use your own)`,
    );
  }
  return { cert: readFileSync(certPath, "utf8"), key: readFileSync(keyPath, "utf8") };
}

/** Serves an HTTP API (Admin, Status) on each of its listeners, with TLS where a listener has `ssl`. */
export async function serveApi(
  s: Settings,
  kind: "admin" | "status",
  listens: readonly Listener[],
  fetch: (req: Request) => Response | Promise<Response>,
): Promise<Server<undefined>[]> {
  const tls = listens.some((l) => l.ssl) ? await listenerCertificate(s, kind) : null;
  return listens.map((listen) => {
    const server = Bun.serve({
      hostname: listen.host,
      port: listen.port,
      fetch,
      ...(listen.ssl && tls ? { tls } : {}),
    });
    log.info(`${kind} API listening on ${listen.host}:${listen.port}${listen.ssl ? " (ssl)" : ""}`);
    return server;
  });
}
