/** OCSP revocation check of a data plane certificate at the responder named in its AIA extension (RFC 6960, as Kong's cluster_ocsp). */
import { createHash, verify as verifySignature, X509Certificate } from "node:crypto";
import {
  BasicOCSPResponse,
  CertID,
  id_kp_OCSPSigning,
  id_pkix_ocsp_basic,
  OCSPRequest,
  OCSPResponse,
  OCSPResponseStatus,
  Request,
  type SingleResponse,
  TBSRequest,
} from "@peculiar/asn1-ocsp";
import { AsnConvert, OctetString } from "@peculiar/asn1-schema";
import { AlgorithmIdentifier, Certificate, CRLReasons } from "@peculiar/asn1-x509";

/**
 * `invalid`: the responder answered but the answer does not validate (signature, CertID, freshness, garbage).
 * `error`: no answer to judge (no AIA URL, network, HTTP status, empty body).
 */
export type OcspStatus = "good" | "revoked" | "unknown" | "invalid" | "error";

export interface OcspResult {
  status: OcspStatus;
  reason: string;
}

/** Kong's CLUSTERING_OCSP_TIMEOUT. */
export const OCSP_TIMEOUT_MS = 5000;
/** Clock skew tolerated on thisUpdate/nextUpdate, as OpenSSL's OCSP_check_validity callers commonly allow. */
const SKEW_MS = 5 * 60_000;

const HASHES: Record<string, string> = {
  "1.3.14.3.2.26": "sha1",
  "2.16.840.1.101.3.4.2.1": "sha256",
  "2.16.840.1.101.3.4.2.2": "sha384",
  "2.16.840.1.101.3.4.2.3": "sha512",
};

/** Signature algorithm OID → digest for crypto.verify (null: the algorithm hashes by itself). */
const SIGNATURE_DIGESTS: Record<string, string | null> = {
  "1.2.840.113549.1.1.5": "sha1",
  "1.2.840.113549.1.1.11": "sha256",
  "1.2.840.113549.1.1.12": "sha384",
  "1.2.840.113549.1.1.13": "sha512",
  "1.2.840.10045.4.1": "sha1",
  "1.2.840.10045.4.3.2": "sha256",
  "1.2.840.10045.4.3.3": "sha384",
  "1.2.840.10045.4.3.4": "sha512",
  "1.3.101.112": null,
};

const SHA1_OID = "1.3.14.3.2.26";

class OcspError extends Error {}

/** The first OCSP responder URL of the certificate's Authority Information Access extension. */
export function ocspResponderUrl(leaf: X509Certificate): string | null {
  const match = /^OCSP - URI:(.+)$/m.exec(leaf.infoAccess ?? "");
  return match ? match[1]!.trim() : null;
}

function certIdFor(leafDer: Uint8Array, issuerDer: Uint8Array, hashOid: string): CertID {
  const hash = HASHES[hashOid];
  if (!hash) throw new OcspError(`unsupported CertID hash algorithm ${hashOid}`);
  const leaf = AsnConvert.parse(leafDer, Certificate);
  const issuer = AsnConvert.parse(issuerDer, Certificate);
  const digest = (data: ArrayBuffer | Uint8Array) =>
    new OctetString(createHash(hash).update(new Uint8Array(data)).digest());
  return new CertID({
    hashAlgorithm: new AlgorithmIdentifier({ algorithm: hashOid, parameters: null }),
    issuerNameHash: digest(AsnConvert.serialize(leaf.tbsCertificate.issuer)),
    issuerKeyHash: digest(issuer.tbsCertificate.subjectPublicKeyInfo.subjectPublicKey),
    serialNumber: leaf.tbsCertificate.serialNumber,
  });
}

/** DER of an OCSP request for one certificate, hashed with sha1 as responders universally accept. */
export function buildOcspRequest(leafDer: Uint8Array, issuerDer: Uint8Array): Uint8Array {
  const request = new OCSPRequest({
    tbsRequest: new TBSRequest({
      requestList: [new Request({ reqCert: certIdFor(leafDer, issuerDer, SHA1_OID) })],
    }),
  });
  return new Uint8Array(AsnConvert.serialize(request));
}

const bytesEqual = (a: ArrayBuffer | Uint8Array, b: ArrayBuffer | Uint8Array) =>
  Buffer.from(new Uint8Array(a)).equals(Buffer.from(new Uint8Array(b)));

function sameCertId(a: CertID, b: CertID): boolean {
  return (
    bytesEqual(a.issuerNameHash.buffer, b.issuerNameHash.buffer) &&
    bytesEqual(a.issuerKeyHash.buffer, b.issuerKeyHash.buffer) &&
    bytesEqual(a.serialNumber, b.serialNumber)
  );
}

/** The issuer signs its own responses, or delegates to a certificate it issued with EKU OCSPSigning (RFC 6960 §4.2.2.2). */
function responderCandidates(basic: BasicOCSPResponse, issuer: X509Certificate): X509Certificate[] {
  const now = Date.now();
  const delegated = (basic.certs ?? [])
    .map((c) => new X509Certificate(Buffer.from(AsnConvert.serialize(c))))
    .filter(
      (c) =>
        c.checkIssued(issuer) &&
        c.verify(issuer.publicKey) &&
        (c.keyUsage ?? []).includes(id_kp_OCSPSigning) &&
        c.validFromDate.getTime() <= now &&
        now <= c.validToDate.getTime(),
    );
  return [issuer, ...delegated];
}

function checkSignature(basic: BasicOCSPResponse, issuer: X509Certificate): void {
  const algorithm = basic.signatureAlgorithm.algorithm;
  if (!(algorithm in SIGNATURE_DIGESTS))
    throw new OcspError(`unsupported response signature algorithm ${algorithm}`);
  const tbs = new Uint8Array(basic.tbsResponseDataRaw ?? AsnConvert.serialize(basic.tbsResponseData));
  const signature = new Uint8Array(basic.signature);
  const signedBy = responderCandidates(basic, issuer).find((signer) => {
    try {
      return verifySignature(SIGNATURE_DIGESTS[algorithm]!, tbs, signer.publicKey, signature);
    } catch {
      return false;
    }
  });
  if (!signedBy) {
    throw new OcspError(
      "response signature does not verify against the issuer or a responder certificate it authorized (EKU OCSPSigning)",
    );
  }
}

function checkFreshness(single: SingleResponse): void {
  const now = Date.now();
  if (single.thisUpdate.getTime() > now + SKEW_MS)
    throw new OcspError("response is not yet valid (thisUpdate in the future)");
  if (single.nextUpdate && single.nextUpdate.getTime() < now - SKEW_MS) {
    throw new OcspError(`response expired at ${single.nextUpdate.toISOString()} (nextUpdate passed)`);
  }
}

function interpret(single: SingleResponse): OcspResult {
  const status = single.certStatus;
  if (status.revoked) {
    const code = status.revoked.revocationReason?.reason;
    const why = code === undefined ? "" : `, reason ${CRLReasons[code] ?? code}`;
    return {
      status: "revoked",
      reason: `certificate revoked at ${status.revoked.revocationTime.toISOString()}${why}`,
    };
  }
  if (status.good !== undefined) return { status: "good", reason: "certificate status good" };
  return { status: "unknown", reason: "the OCSP responder does not know this certificate (status unknown)" };
}

/** Parses and verifies a DER OCSP response for the certificate `leafDer` issued by `issuerDer`. */
export function evaluateOcspResponse(
  body: Uint8Array,
  leafDer: Uint8Array,
  issuerDer: Uint8Array,
): OcspResult {
  const response = AsnConvert.parse(body, OCSPResponse);
  if (response.responseStatus !== OCSPResponseStatus.successful) {
    throw new OcspError(
      `responder answered ${OCSPResponseStatus[response.responseStatus] ?? response.responseStatus}`,
    );
  }
  if (response.responseBytes?.responseType !== id_pkix_ocsp_basic) {
    throw new OcspError("response is not a basic OCSP response");
  }
  const basic = AsnConvert.parse(response.responseBytes.response.buffer, BasicOCSPResponse);
  const issuer = new X509Certificate(Buffer.from(issuerDer));
  checkSignature(basic, issuer);
  const single = basic.tbsResponseData.responses.find((r) =>
    sameCertId(r.certID, certIdFor(leafDer, issuerDer, r.certID.hashAlgorithm.algorithm)),
  );
  if (!single) throw new OcspError("response does not cover the certificate asked about (CertID mismatch)");
  checkFreshness(single);
  return interpret(single);
}

async function postRequest(url: string, body: Uint8Array, timeoutMs: number): Promise<Uint8Array> {
  let res: Response;
  try {
    res = await fetch(url, {
      method: "POST",
      headers: { "Content-Type": "application/ocsp-request" },
      body,
      signal: AbortSignal.timeout(timeoutMs),
    });
  } catch (e) {
    throw new OcspError(`failed to send request to OCSP responder ${url}: ${(e as Error).message}`);
  }
  if (res.status !== 200) throw new OcspError(`OCSP responder returns bad HTTP status code: ${res.status}`);
  const answer = new Uint8Array(await res.arrayBuffer());
  if (answer.length === 0) throw new OcspError("unexpected response from OCSP responder: empty body");
  return answer;
}

/** Asks the certificate's OCSP responder about it; never throws: failures come back as "invalid" or "error" with the reason. */
export async function checkOcsp(
  leafDer: Uint8Array,
  issuerDer: Uint8Array,
  { timeoutMs = OCSP_TIMEOUT_MS }: { timeoutMs?: number } = {},
): Promise<OcspResult> {
  try {
    const url = ocspResponderUrl(new X509Certificate(Buffer.from(leafDer)));
    if (!url) {
      throw new OcspError(
        "OCSP responder endpoint can not be determined, the client certificate may be missing the required extensions",
      );
    }
    const body = await postRequest(url, buildOcspRequest(leafDer, issuerDer), timeoutMs);
    try {
      return evaluateOcspResponse(body, leafDer, issuerDer);
    } catch (e) {
      return {
        status: "invalid",
        reason: `failed to validate OCSP response from ${url}: ${(e as Error).message}`,
      };
    }
  } catch (e) {
    return { status: "error", reason: (e as Error).message };
  }
}
