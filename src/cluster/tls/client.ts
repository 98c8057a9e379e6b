/** The data plane's TLS for dialling the control plane (trust, SNI, name and EKU checks), and plain-words reasons for failures. */
import { checkServerIdentity, type PeerCertificate } from "node:tls";
import { pemOrThrow } from "../../settings/pem";
import { CLUSTER_CN, certInfo, EKU_ANY, EKU_SERVER_AUTH, sha256Hex } from "./certs";

/** The kong.conf settings the DP's cluster TLS depends on; PEM-valued ones take PEM text, base64 PEM, or a file path. */
export interface ClusterClientInput {
  cluster_mtls: "shared" | "pki";
  cluster_cert: string;
  cluster_cert_key: string;
  cluster_ca_cert?: string | null;
  cluster_server_name?: string | null;
  /** `host:port` of the control plane. */
  cluster_control_plane: string;
}

/** Options for `new WebSocket(url, { tls })` in Bun (a type alias, so it fits a `Record<string, unknown>` slot). */
export type ClusterClientTls = {
  cert: string;
  key: string;
  ca: string;
  serverName: string;
  rejectUnauthorized: true;
  checkServerIdentity(host: string, cert: PeerCertificate): Error | undefined;
};

/** `cp.example:8005` → `cp.example`, `[::1]:8005` → `::1`. */
export function controlPlaneHost(controlPlane: string): string {
  const bracketed = /^\[([^\]]+)\](?::\d+)?$/.exec(controlPlane);
  if (bracketed) return bracketed[1]!;
  return controlPlane.replace(/:\d+$/, "");
}

/** The name the DP sends as SNI and expects in the CP certificate. */
export function expectedServerName(input: ClusterClientInput): string {
  if (input.cluster_mtls === "shared") return CLUSTER_CN;
  return input.cluster_server_name || controlPlaneHost(input.cluster_control_plane);
}

/** Our own checks fail with this prefix, so the explainer passes them through as they are. */
const CP_CERT_PREFIX = "control plane certificate";

function serverAuthError(cert: PeerCertificate): Error | undefined {
  if (!cert.raw) return undefined;
  const eku = certInfo(cert.raw).extKeyUsage;
  // No EKU extension at all means any use is allowed (RFC 5280 §4.2.1.12).
  if (eku.length === 0 || eku.includes(EKU_SERVER_AUTH) || eku.includes(EKU_ANY)) return undefined;
  return new Error(
    `${CP_CERT_PREFIX} is not valid for TLS server authentication (extended key usage serverAuth is missing); issue the control plane a certificate with EKU serverAuth`,
  );
}

/** TLS options for the DP's WebSocket to the CP: Kong's trust and SNI rules for `shared` and `pki`. */
export function clusterClientTls(input: ClusterClientInput): ClusterClientTls {
  const cert = pemOrThrow(input.cluster_cert, "certificate", "cluster_cert");
  const key = pemOrThrow(input.cluster_cert_key, "key", "cluster_cert_key");
  const serverName = expectedServerName(input);
  if (input.cluster_mtls === "shared") {
    const ownDigest = certInfo(cert).digest;
    return {
      cert,
      key,
      ca: cert,
      serverName,
      rejectUnauthorized: true,
      // Shared mode pins the one cluster certificate: names do not matter, identity does.
      checkServerIdentity: (_host, peer) =>
        peer.raw && sha256Hex(peer.raw) !== ownDigest
          ? new Error(
              `${CP_CERT_PREFIX} is not this data plane's cluster_cert; cluster_mtls = shared needs the same cluster_cert and cluster_cert_key on every node`,
            )
          : undefined,
    };
  }
  return {
    cert,
    key,
    ca: pemOrThrow(input.cluster_ca_cert, "certificate", "cluster_ca_cert"),
    serverName,
    rejectUnauthorized: true,
    checkServerIdentity: (_host, peer) => checkServerIdentity(serverName, peer) ?? serverAuthError(peer),
  };
}

interface Explanation {
  test: RegExp;
  explain(input: ClusterClientInput): string;
}

const sharedOrPki = (input: ClusterClientInput, shared: string, pki: string) =>
  input.cluster_mtls === "shared" ? shared : pki;

const EXPLANATIONS: Explanation[] = [
  {
    test: /ERR_TLS_CERT_ALTNAME_INVALID|does not match certificate's altnames|altname/i,
    explain: (input) =>
      `the control plane certificate is not valid for the name '${expectedServerName(input)}': set cluster_server_name to a name in its CN/SAN, or issue the control plane a certificate for that name`,
  },
  {
    test: /CERT_HAS_EXPIRED|certificate has expired/i,
    explain: () => "the control plane certificate has expired: renew the control plane's cluster_cert",
  },
  {
    test: /UNABLE_TO_VERIFY_LEAF_SIGNATURE|UNABLE_TO_GET_ISSUER_CERT|SELF_SIGNED|self[- ]signed|unable to verify|CERT_SIGNATURE_FAILURE|certificate verify failed/i,
    explain: (input) =>
      sharedOrPki(
        input,
        "the control plane presented a certificate other than this data plane's cluster_cert: cluster_mtls = shared needs the same cluster_cert and cluster_cert_key on every node",
        "the control plane certificate is not signed by this data plane's cluster_ca_cert: point cluster_ca_cert at the CA that issued the control plane certificate",
      ),
  },
  {
    test: /INVALID_PURPOSE|unsupported certificate purpose/i,
    explain: () =>
      "the control plane certificate is not valid for TLS server authentication: issue it with extended key usage serverAuth",
  },
  {
    test: /CERTIFICATE_REQUIRED|certificate required/i,
    explain: () =>
      "the control plane requires a client certificate and got none: set cluster_cert and cluster_cert_key on this data plane",
  },
  {
    // Bun reports a refused port and an unresolvable host alike: "Failed to connect".
    test: /ECONNREFUSED|Unable to connect|connection refused|Failed to connect|ENOTFOUND|getaddrinfo/i,
    explain: (input) =>
      `cannot connect to cluster_control_plane = ${input.cluster_control_plane} (nothing listening, unreachable, or the host does not resolve): start the control plane or correct cluster_control_plane`,
  },
  {
    test: /Expected 101 status code: 40[04]/,
    explain: () =>
      "the control plane refused the WebSocket upgrade: check that cluster_control_plane points at a control plane's cluster_listen",
  },
  {
    test: /ECONNRESET|Connection ended|socket hang up|closed|ended|1006|EPIPE/i,
    explain: (input) =>
      `the control plane closed the connection during the handshake, most likely because it refused this data plane's certificate (its log says why): ${sharedOrPki(
        input,
        "cluster_mtls = shared needs the control plane's own cluster_cert and cluster_cert_key here",
        "the certificate must chain to the control plane's cluster_ca_cert, carry EKU clientAuth, be neither expired nor revoked, and have a CN allowed by cluster_allowed_common_names",
      )}`,
  },
];

/** Turns a WebSocket error or close message into what the operator should fix; the original stays in parentheses. */
export function explainClusterError(message: string, input: ClusterClientInput): string {
  if (message.includes(CP_CERT_PREFIX)) return message;
  const match = EXPLANATIONS.find((e) => e.test.test(message));
  return match ? `${match.explain(input)} (${message})` : message;
}
