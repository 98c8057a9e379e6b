/** The control plane's cluster listener: node:tls terminates mTLS and checks the DP certificate, then pipes to an inner Bun.serve. */
import { connect, type Socket } from "node:net";
import { createServer, type DetailedPeerCertificate, type TLSSocket } from "node:tls";
import type { Server, WebSocketHandler } from "bun";
import { logger } from "../../log/logger";
import { type CertInfo, certInfo, EKU_ANY, EKU_CLIENT_AUTH, EKU_SERVER_AUTH } from "./certs";

const log = logger("clustering");

/** nginx `ssl_verify_depth 4`, as Kong renders it: up to 4 intermediates between the DP leaf and cluster_ca_cert. */
export const VERIFY_DEPTH = 4;
/** Kong's CLUSTERING_TIMEOUT, applied to the TLS handshake. */
const HANDSHAKE_TIMEOUT_MS = 5000;

export type ClusterMtlsMode = "shared" | "pki";
export type ClusterOcspMode = "on" | "off" | "optional";

/** The DP certificate as the inner handler sees it; `notAfter` in seconds, `digest` hex sha256 of the DER. */
export interface PeerInfo {
  commonName: string | null;
  sans: string[];
  notAfter: number;
  digest: string;
  ip: string;
}

export interface ClusterListenerOptions<T> {
  host: string;
  port: number;
  /** cluster_cert (leaf plus intermediates in pki mode) and cluster_cert_key. */
  certPem: string;
  keyPem: string;
  mode: ClusterMtlsMode;
  /** cluster_ca_cert; required in pki mode. */
  caPem?: string;
  ocsp?: ClusterOcspMode;
  /** cluster_allowed_common_names; empty or absent means any CN. */
  allowedCommonNames?: string[];
  /** Called for each request of an accepted DP; return undefined after `server.upgrade`, as with Bun.serve. */
  fetch(
    req: Request,
    server: Server<T>,
    peer: PeerInfo,
  ): Response | undefined | Promise<Response | undefined>;
  websocket: WebSocketHandler<T>;
}

export interface ClusterListener {
  port: number;
  stop(): Promise<void>;
}

/** Why a DP was turned away, and what the operator should change. */
interface Rejection {
  reason: string;
  fix: string;
}

type Verdict = { ok: true; peer: PeerInfo } | { ok: false; rejection: Rejection };

const reject = (reason: string, fix: string): Verdict => ({ ok: false, rejection: { reason, fix } });

const NOT_FROM_CA =
  "issue the data plane certificate from the CA in cluster_ca_cert, and put the intermediate CAs after the leaf in the data plane's cluster_cert file";

/** OpenSSL verify codes (node's authorizationError) → what went wrong in a user's words. */
function chainRejection(code: string, info: PeerInfo): Verdict {
  switch (code) {
    case "CERT_HAS_EXPIRED":
      return reject(
        `data plane client certificate has expired (notAfter ${new Date(info.notAfter * 1000).toISOString()})`,
        "issue the data plane a new certificate",
      );
    case "CERT_NOT_YET_VALID":
      return reject(
        "data plane client certificate is not yet valid (notBefore in the future)",
        "check the clocks of the data plane's CA and of this control plane",
      );
    case "INVALID_PURPOSE":
      return clientAuthRejection();
    case "CERT_CHAIN_TOO_LONG":
      return depthRejection();
    default:
      return reject(
        `data plane client certificate does not verify against cluster_ca_cert (${code})`,
        NOT_FROM_CA,
      );
  }
}

const clientAuthRejection = () =>
  reject(
    "data plane client certificate is not valid for TLS client authentication (extended key usage clientAuth is missing)",
    "issue the data plane a certificate with extended key usage clientAuth (TLS Web Client Authentication)",
  );

const depthRejection = () =>
  reject(
    `data plane client certificate chain is longer than the verify depth (at most ${VERIFY_DEPTH} intermediate CAs)`,
    "issue the data plane certificate from a CA closer to cluster_ca_cert",
  );

/** Intermediate CAs between the leaf and the root, as node resolved the chain. */
function intermediateCount(cert: DetailedPeerCertificate): number {
  let count = 0;
  for (let c = cert.issuerCertificate; c && c !== c.issuerCertificate && c.raw; c = c.issuerCertificate)
    count++;
  return count;
}

async function revocationVerdict(
  cert: DetailedPeerCertificate,
  mode: ClusterOcspMode,
  peer: PeerInfo,
): Promise<Verdict> {
  const issuer = cert.issuerCertificate;
  const { checkOcsp } = await import("./ocsp");
  const result =
    issuer?.raw && issuer !== cert
      ? await checkOcsp(cert.raw, issuer.raw)
      : { status: "error" as const, reason: "the issuer of the client certificate is unknown" };
  if (result.status === "good") return { ok: true, peer };
  if (result.status === "revoked") {
    return reject(
      `data plane client certificate was revoked: ${result.reason}`,
      "issue the data plane a new certificate",
    );
  }
  // As Kong: an answer that is not a valid "good" refuses the DP in both modes; only no answer at all is optional.
  if (result.status === "unknown" || result.status === "invalid") {
    return reject(
      `data plane client certificate revocation status is not confirmed: ${result.reason}`,
      "the OCSP responder must list this certificate and sign its answers with the issuing CA or a delegated OCSP signer it issued",
    );
  }
  const reason = `data plane client certificate revocation check failed: ${result.reason}`;
  if (mode === "on") {
    return reject(
      reason,
      "make the OCSP responder reachable from the control plane, or set cluster_ocsp = optional",
    );
  }
  log.warn(`${reason} (cluster_ocsp = optional: accepting data plane ${peer.ip})`);
  return { ok: true, peer };
}

/** Kong's handshake check of the DP certificate, with gw's pki-mode additions (EKU, depth, allowed CNs). */
async function verifyDataPlaneCert(
  socket: Pick<TLSSocket, "getPeerCertificate" | "authorized" | "authorizationError" | "remoteAddress">,
  opts: Pick<ClusterListenerOptions<unknown>, "mode" | "ocsp" | "allowedCommonNames">,
  ownDigest: string,
): Promise<Verdict> {
  const cert = socket.getPeerCertificate(true);
  if (!cert?.raw) {
    return reject(
      "data plane failed to present client certificate during handshake",
      "set cluster_cert and cluster_cert_key on the data plane",
    );
  }
  const { commonName, sans, notAfter, digest, extKeyUsage } = certInfo(cert.raw);
  // A dual-stack listener reports IPv4 peers as ::ffff:a.b.c.d; Kong's $remote_addr shows a.b.c.d.
  const ip = (socket.remoteAddress ?? "").replace(/^::ffff:(?=\d+\.)/, "");
  const peer: PeerInfo = { commonName, sans, notAfter, digest, ip };
  if (opts.mode === "shared") {
    if (digest === ownDigest) return { ok: true, peer };
    return reject(
      "data plane presented incorrect client certificate during handshake (digest does not match the control plane certificate)",
      "give the data plane the control plane's cluster_cert and cluster_cert_key (cluster_mtls = shared uses one pair on every node)",
    );
  }
  if (!socket.authorized) return chainRejection(String(socket.authorizationError ?? "unknown error"), peer);
  if (intermediateCount(cert) > VERIFY_DEPTH) return depthRejection();
  if (!extKeyUsage.includes(EKU_CLIENT_AUTH) && !extKeyUsage.includes(EKU_ANY)) return clientAuthRejection();
  const allowed = opts.allowedCommonNames ?? [];
  if (allowed.length > 0 && !allowed.includes(peer.commonName ?? "")) {
    return reject(
      `data plane presented client certificate with CN '${peer.commonName ?? ""}', which is not in cluster_allowed_common_names`,
      "add the CN to cluster_allowed_common_names, or issue the data plane a certificate with an allowed CN",
    );
  }
  if (opts.ocsp && opts.ocsp !== "off") return revocationVerdict(cert, opts.ocsp, peer);
  return { ok: true, peer };
}

/** Pipes an accepted TLS connection to the inner server; the peer is findable under the inner connection's local port. */
function forward(
  tlsSocket: TLSSocket,
  innerPort: number,
  peer: PeerInfo,
  peers: Map<number, PeerInfo>,
): void {
  const inner: Socket = connect({ host: "127.0.0.1", port: innerPort });
  let localPort: number | undefined;
  const close = () => {
    // A late close must not drop a newer connection that the kernel gave the same port.
    if (localPort !== undefined && peers.get(localPort) === peer) peers.delete(localPort);
    tlsSocket.destroy();
    inner.destroy();
  };
  inner.once("connect", () => {
    localPort = inner.localPort!;
    peers.set(localPort, peer);
    tlsSocket.pipe(inner);
    inner.pipe(tlsSocket);
  });
  inner.on("error", close).on("close", close);
  tlsSocket.on("error", close).on("close", close);
}

/** Problems with the CP's own cluster_cert that every DP would otherwise report one by one. */
function warnAboutOwnCert(own: CertInfo, mode: ClusterMtlsMode): void {
  if (own.notAfter * 1000 < Date.now()) {
    log.warn(
      `cluster_cert expired at ${new Date(own.notAfter * 1000).toISOString()}: data planes will refuse this control plane; renew it`,
    );
  }
  const eku = own.extKeyUsage;
  if (mode === "pki" && eku.length > 0 && !eku.includes(EKU_SERVER_AUTH) && !eku.includes(EKU_ANY)) {
    log.warn(
      "cluster_cert has no extended key usage serverAuth: data planes will refuse this control plane; issue it with EKU serverAuth",
    );
  }
}

/** Starts the cluster listener; resolves once it accepts connections on `port` (0 picks one). */
export async function startClusterListener<T>(opts: ClusterListenerOptions<T>): Promise<ClusterListener> {
  if (opts.mode === "pki" && !opts.caPem) {
    throw new Error(
      "cluster_ca_cert: required when cluster_mtls = pki; set it to the CA that signs the data plane certificates",
    );
  }
  const own = certInfo(opts.certPem);
  warnAboutOwnCert(own, opts.mode);
  const ownDigest = own.digest;
  const peers = new Map<number, PeerInfo>();

  const inner = Bun.serve<T>({
    hostname: "127.0.0.1",
    port: 0,
    fetch(req, server) {
      const peer = peers.get(server.requestIP(req)?.port ?? -1);
      // Only connections the TLS front opened have a peer; anything else dialled the loopback port directly.
      if (!peer) return new Response(null, { status: 403 });
      return opts.fetch(req, server, peer);
    },
    websocket: opts.websocket,
  });

  const front = createServer({
    cert: opts.certPem,
    key: opts.keyPem,
    // Shared mode trusts nothing but its own cert, so the CertificateRequest names just that one.
    ca: opts.mode === "pki" ? opts.caPem : opts.certPem,
    requestCert: true,
    // Verification results are judged in verifyDataPlaneCert, so every refusal is logged with its reason.
    rejectUnauthorized: false,
    handshakeTimeout: HANDSHAKE_TIMEOUT_MS,
  });
  // Tracked so stop() can end live links: server.close() alone waits for every DP to hang up.
  const sockets = new Set<Socket>();
  front.on("connection", (socket: Socket) => {
    sockets.add(socket);
    socket.once("close", () => sockets.delete(socket));
  });
  front.on("secureConnection", async (socket: TLSSocket) => {
    const ip = socket.remoteAddress;
    socket.on("error", () => socket.destroy());
    let verdict: Verdict;
    try {
      verdict = await verifyDataPlaneCert(socket, opts, ownDigest);
    } catch (e) {
      verdict = reject(
        `unable to load data plane client certificate during handshake: ${(e as Error).message}`,
        "check the data plane's cluster_cert file",
      );
    }
    // The DP may have hung up while its certificate was checked (OCSP takes a round trip).
    if (socket.destroyed) return;
    if (verdict.ok) {
      forward(socket, inner.port!, verdict.peer, peers);
      return;
    }
    // Kong answers 444: close without a response.
    socket.destroy();
    log.error(`${verdict.rejection.reason}, client: ${ip}; fix: ${verdict.rejection.fix}`);
  });
  // Info, as nginx logs client handshake failures: load-balancer probes that connect and hang up look the same.
  front.on("tlsClientError", (err, socket) => {
    log.info(
      `TLS handshake with ${socket.remoteAddress ?? "a client"} failed: ${err.message} (if it is a data plane, its log says which certificate it refused: check its cluster_ca_cert / cluster_server_name)`,
    );
  });

  try {
    await new Promise<void>((resolve, fail) => {
      front.once("error", fail);
      front.listen(opts.port, opts.host, () => {
        front.off("error", fail);
        resolve();
      });
    });
  } catch (e) {
    await inner.stop(true);
    throw new Error(
      `cluster_listen: cannot listen on ${opts.host}:${opts.port} (${(e as Error).message}); free the port or choose another cluster_listen`,
    );
  }
  const address = front.address();
  return {
    port: typeof address === "object" && address ? address.port : opts.port,
    async stop() {
      const closed = new Promise<void>((resolve) => front.close(() => resolve()));
      for (const socket of sockets) socket.destroy();
      await inner.stop(true);
      await closed;
    },
  };
}
