/** Kong's tls_verify_depth: rebuilds the chain OpenSSL would verify for an upstream and checks its length against the depth. */
import { X509Certificate } from "node:crypto";
import { rootCertificates } from "node:tls";
import type { Socket } from "bun";

/** Bun's detailed peer certificate: each links to the next one the peer sent, or one its trust store added. */
interface PeerCert {
  raw?: Uint8Array;
  fingerprint256?: string;
  issuerCertificate?: PeerCert;
}

/** Far more certificates than any real chain; bounds the walk over Bun's list, which can loop back on itself. */
const MAX_PEER_CERTS = 32;
const PEM_BLOCK = /-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g;

const parsedCas = new WeakMap<string[], X509Certificate[]>();
let bundledRoots: X509Certificate[] | null = null;

function trustStore(ca: string[] | undefined): X509Certificate[] {
  if (ca === undefined || ca.length === 0) {
    bundledRoots ??= rootCertificates.map((pem) => new X509Certificate(pem));
    return bundledRoots;
  }
  let store = parsedCas.get(ca);
  if (store === undefined) {
    store = ca.flatMap((pem) => (pem.match(PEM_BLOCK) ?? []).map((block) => new X509Certificate(block)));
    parsedCas.set(ca, store);
  }
  return store;
}

/** The certificates the peer presented (leaf first), plus any Bun appended from its store, each once. */
function presented(socket: Socket<unknown>): X509Certificate[] {
  // Bun's getPeerCertificate(abbreviated) takes a boolean that its typings omit; false links the whole chain.
  const getPeerCertificate = socket.getPeerCertificate as unknown as (
    abbreviated: boolean,
  ) => PeerCert | undefined;
  const seen = new Set<string>();
  const certs: X509Certificate[] = [];
  for (
    let c = getPeerCertificate.call(socket, false);
    c?.raw !== undefined && c.fingerprint256 !== undefined && !seen.has(c.fingerprint256);
    c = c.issuerCertificate
  ) {
    seen.add(c.fingerprint256);
    certs.push(new X509Certificate(c.raw));
    if (certs.length === MAX_PEER_CERTS) break;
  }
  return certs;
}

function issuerIn(pool: X509Certificate[], cert: X509Certificate, chain: X509Certificate[]) {
  return pool.find(
    (c) =>
      cert.checkIssued(c) &&
      !chain.some((x) => x.fingerprint256 === c.fingerprint256) &&
      cert.verify(c.publicKey),
  );
}

/**
 * True when the verified chain has more than `depth` intermediates. OpenSSL ≥ 1.1 (what Kong's nginx runs) counts
 * neither the leaf nor the trust anchor, so depth N allows N + 2 certificates; it builds the chain preferring trusted
 * issuers (X509_V_FLAG_TRUSTED_FIRST) and, without partial-chain mode, ends it at a self-signed certificate. Bun
 * verifies with BoringSSL but exposes no depth, so the chain is rebuilt here from what the peer sent.
 */
export function chainTooLong(socket: Socket<unknown>, ca: string[] | undefined, depth: number): boolean {
  const peer = presented(socket);
  const leaf = peer[0];
  if (leaf === undefined) return false;
  const anchors = trustStore(ca);
  const chain = [leaf];
  // Building one certificate past the limit is enough to know.
  for (let cur = leaf; chain.length <= depth + 2 && !cur.checkIssued(cur); ) {
    const next = issuerIn(anchors, cur, chain) ?? issuerIn(peer, cur, chain);
    if (next === undefined) break;
    chain.push(next);
    cur = next;
  }
  return chain.length > depth + 2;
}
