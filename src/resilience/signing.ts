/** Seals exported configs (signature, origin, optional AES-256-GCM) in object metadata and checks them before import. */
import {
  createCipheriv,
  createDecipheriv,
  createHash,
  createPrivateKey,
  type KeyObject,
  randomBytes,
  scrypt,
  sign,
  verify,
  X509Certificate,
} from "node:crypto";

/*
 * Design. The body stays the bare declarative export (Kong and `gw config parse` read it as is) unless encryption is
 * on. Everything gw adds lives in the object's own metadata, not in a sibling object, so body and signature are
 * written and read together and can never be a mismatched pair. S3 caps user metadata at 2 KB: with an EC P-384
 * cluster certificate (what `hybrid gen_cert` makes) the metadata is about 0.9 KB and with RSA-2048 about 1.8 KB;
 * each intermediate carried for pki mode adds its DER size in base64 (about 0.7 KB for EC). Larger sets are refused
 * by the S3 backend, with the sizes, when the exporter uploads; GCS allows 8 KB.
 *
 * The signature covers every `gw-*` metadata field (sorted, so adding, removing or editing any is detected) and the
 * SHA-256 of the stored body (the ciphertext when encrypted: the importer verifies before it decrypts).
 * Known limit: someone with write access to the bucket can put back an older object that was validly signed
 * (rollback); `signedAt` is returned so the importer can log the age of what it applies.
 */

export const META = {
  nodeId: "gw-node-id",
  hostname: "gw-hostname",
  version: "gw-version",
  hash: "gw-hash",
  signedAt: "gw-signed-at",
  size: "gw-size",
  cert: "gw-cert",
  chain: "gw-chain",
  encryption: "gw-enc",
  salt: "gw-enc-salt",
  iv: "gw-enc-iv",
  signature: "gw-sig",
} as const;

const SIGNATURE_CONTEXT = "gw-fallback-config-v1\n";
const CIPHER = "aes-256-gcm";
const TAG_BYTES = 16;
/** scrypt because the setting is often a passphrase; these costs take tens of milliseconds, once per process. */
const SCRYPT = { N: 1 << 14, r: 8, p: 1, maxmem: 64 * 1024 * 1024 };

export type ClusterMtls = "shared" | "pki";

export type ImportErrorReason =
  | "unsigned"
  | "untrusted_certificate"
  | "truncated"
  | "bad_signature"
  | "wrong_version"
  | "cannot_decrypt"
  | "not_json";

/** Why a stored config was refused; `reason` is stable for callers and tests, `message` is for people. */
export class ImportError extends Error {
  override name = "ImportError";
  constructor(
    readonly reason: ImportErrorReason,
    message: string,
  ) {
    super(`refusing the fallback config: ${message}`);
  }
}

export interface SealOptions {
  /** `cluster_cert_key` (PEM). */
  keyPem: string;
  /**
   * `cluster_cert` (PEM), leaf first, then any intermediates: carried along so PKI-mode importers can chain it to
   * their `cluster_ca_cert`.
   */
  certPem: string;
  /** `cluster_fallback_config_encryption_key`; when set the body is encrypted. */
  encryptionKey?: string;
  nodeId: string;
  hostname: string;
  version: string;
  /** The config hash (Kong's md5), recorded so importers can log and compare it. */
  hash: string;
  now?: Date;
}

export interface SealedConfig {
  body: Uint8Array;
  metadata: Record<string, string>;
}

export interface OpenOptions {
  mode: ClusterMtls;
  /** This node's `cluster_cert`: in shared mode, the certificate every node shares and the signature must match. */
  certPem: string;
  /** `cluster_ca_cert`, required in pki mode: the uploader's certificate must be issued by it. */
  caPem?: string;
  encryptionKey?: string;
  expectedVersion: string;
  now?: Date;
}

export interface OpenedConfig {
  json: string;
  config: Record<string, unknown>;
  nodeId: string;
  hostname: string;
  hash: string;
  signedAt: Date;
}

const b64 = (bytes: Uint8Array) => Buffer.from(bytes).toString("base64");
const sha256 = (bytes: Uint8Array) => createHash("sha256").update(bytes).digest("hex");

/** Ed25519/Ed448 keys hash internally and take no digest name. */
const digestFor = (key: KeyObject) =>
  key.asymmetricKeyType === "ed25519" || key.asymmetricKeyType === "ed448" ? null : "sha256";

function signedBytes(metadata: Record<string, string>, body: Uint8Array): Buffer {
  const fields = Object.keys(metadata)
    .filter((name) => name.startsWith("gw-") && name !== META.signature)
    .sort()
    .map((name) => `${name}=${metadata[name]}\n`);
  return Buffer.from(`${SIGNATURE_CONTEXT}${fields.join("")}body-sha256=${sha256(body)}\n`);
}

let derived: { secret: string; salt: string; key: Promise<Buffer> } | undefined;

/** Exporters reuse one salt per process so the slow derivation runs once, not per export. */
function deriveKey(secret: string, salt?: string): { salt: string; key: Promise<Buffer> } {
  if (derived && derived.secret === secret && (salt === undefined || salt === derived.salt)) return derived;
  const useSalt = salt ?? b64(randomBytes(16));
  const key = new Promise<Buffer>((resolve, reject) =>
    scrypt(secret, Buffer.from(useSalt, "base64"), 32, SCRYPT, (error, out) =>
      error ? reject(error) : resolve(out),
    ),
  );
  derived = { secret, salt: useSalt, key };
  return derived;
}

const additionalData = (version: string) => Buffer.from(`gw-fallback-config|${version}`);

async function encrypt(plain: Uint8Array, secret: string, version: string) {
  const { salt, key } = deriveKey(secret);
  const iv = randomBytes(12);
  const cipher = createCipheriv(CIPHER, await key, iv).setAAD(additionalData(version));
  const body = Buffer.concat([cipher.update(plain), cipher.final(), cipher.getAuthTag()]);
  return { body, fields: { [META.encryption]: CIPHER, [META.salt]: salt, [META.iv]: b64(iv) } };
}

function loadSigningKey(keyPem: string, cert: X509Certificate): KeyObject {
  let key: KeyObject;
  try {
    key = createPrivateKey(keyPem);
  } catch {
    throw new Error("cluster_cert_key: not a PEM private key");
  }
  // A mismatched pair would make every import fail later, on other nodes; catch it where it can be fixed.
  const probe = Buffer.from("gw-key-check");
  if (!verify(digestFor(key), probe, cert.publicKey, sign(digestFor(key), probe, key)))
    throw new Error(
      "cluster_cert_key does not match cluster_cert: configure the key that belongs to the certificate",
    );
  return key;
}

function parseCertificate(pem: string, setting: string): X509Certificate {
  try {
    return new X509Certificate(pem);
  } catch {
    throw new Error(`${setting}: not a PEM certificate`);
  }
}

/** Signs (and, with `encryptionKey`, encrypts) a declarative export for upload. */
export async function sealConfig(json: string, options: SealOptions): Promise<SealedConfig> {
  const [cert, ...intermediates] = pemCertificates(options.certPem, "cluster_cert");
  const key = loadSigningKey(options.keyPem, cert!);
  const plain = Buffer.from(json);
  const sealed = options.encryptionKey
    ? await encrypt(plain, options.encryptionKey, options.version)
    : undefined;
  const body = sealed?.body ?? plain;
  const metadata: Record<string, string> = {
    [META.nodeId]: encodeURIComponent(options.nodeId),
    [META.hostname]: encodeURIComponent(options.hostname),
    [META.version]: options.version,
    [META.hash]: options.hash,
    [META.signedAt]: String(Math.floor((options.now ?? new Date()).getTime() / 1000)),
    [META.size]: String(body.length),
    [META.cert]: b64(cert!.raw),
    // Commas are outside the base64 alphabet, so they separate certificates unambiguously.
    ...(intermediates.length ? { [META.chain]: intermediates.map((c) => b64(c.raw)).join(",") } : {}),
    ...sealed?.fields,
  };
  metadata[META.signature] = b64(sign(digestFor(key), signedBytes(metadata, body), key));
  return { body: new Uint8Array(body), metadata };
}

function pemCertificates(pem: string, setting: string): X509Certificate[] {
  const blocks = pem.match(/-----BEGIN CERTIFICATE-----[\s\S]+?-----END CERTIFICATE-----/g) ?? [];
  if (blocks.length === 0) throw new Error(`${setting}: no PEM certificate found`);
  return blocks.map((block) => parseCertificate(block, setting));
}

function metadataCertificate(der: string, field: string): X509Certificate {
  try {
    return new X509Certificate(Buffer.from(der, "base64"));
  } catch {
    throw new ImportError("untrusted_certificate", `its ${field} metadata is not a certificate`);
  }
}

function uploaderCertificate(metadata: Record<string, string>): X509Certificate {
  const der = metadata[META.cert];
  if (!der)
    throw new ImportError("untrusted_certificate", "it carries no uploader certificate (gw-cert metadata)");
  return metadataCertificate(der, META.cert);
}

const describeCert = (cert: X509Certificate) => cert.subject.replace(/\n/g, ", ");
const issuedBy = (cert: X509Certificate, issuer: X509Certificate) =>
  cert.checkIssued(issuer) && cert.verify(issuer.publicKey);

/** Walks from the uploader through the intermediates it carried to one of the `cluster_ca_cert` certificates. */
function chainToCa(
  uploader: X509Certificate,
  metadata: Record<string, string>,
  caPem: string,
  now: Date,
): void {
  const anchors = pemCertificates(caPem, "cluster_ca_cert");
  const intermediates = (metadata[META.chain] ?? "")
    .split(",")
    .filter(Boolean)
    .map((der) => metadataCertificate(der, META.chain));
  let current = uploader;
  for (let depth = 0; depth <= intermediates.length; depth++) {
    if (now < current.validFromDate || now > current.validToDate)
      throw new ImportError(
        "untrusted_certificate",
        `the certificate ${describeCert(current)} is not valid now (valid ${current.validFrom} to ${current.validTo})`,
      );
    if (anchors.some((ca) => issuedBy(current, ca))) return;
    const next = intermediates.find((ca) => ca.ca && issuedBy(current, ca));
    if (!next) break;
    current = next;
  }
  throw new ImportError(
    "untrusted_certificate",
    `its uploader certificate (${describeCert(uploader)}) was not issued by cluster_ca_cert`,
  );
}

/** The certificate whose key must have signed: ours in shared mode, the uploader's (checked against the CA) in pki. */
function signerCertificate(metadata: Record<string, string>, options: OpenOptions): X509Certificate {
  const uploader = uploaderCertificate(metadata);
  if (options.mode === "shared") {
    const own = parseCertificate(options.certPem, "cluster_cert");
    if (uploader.fingerprint256 !== own.fingerprint256)
      throw new ImportError(
        "untrusted_certificate",
        `it was signed with another certificate (SHA-256 ${uploader.fingerprint256}) than this node's cluster_cert (${own.fingerprint256}); in shared mode all nodes use the same cluster_cert`,
      );
    return own;
  }
  if (!options.caPem)
    throw new ImportError(
      "untrusted_certificate",
      "cluster_mtls = pki requires cluster_ca_cert to check the uploader",
    );
  chainToCa(uploader, metadata, options.caPem, options.now ?? new Date());
  return uploader;
}

async function decrypt(
  body: Uint8Array,
  metadata: Record<string, string>,
  options: OpenOptions,
): Promise<Buffer> {
  if (metadata[META.encryption] !== CIPHER)
    throw new ImportError(
      "cannot_decrypt",
      `it is encrypted with "${metadata[META.encryption]}", which gw does not know`,
    );
  if (!options.encryptionKey)
    throw new ImportError(
      "cannot_decrypt",
      "it is encrypted and this node has no key: set cluster_fallback_config_encryption_key to the exporter's value",
    );
  const salt = metadata[META.salt] ?? "";
  const iv = Buffer.from(metadata[META.iv] ?? "", "base64");
  if (body.length < TAG_BYTES || iv.length !== 12)
    throw new ImportError("cannot_decrypt", "its encryption fields are malformed");
  try {
    const key = await deriveKey(options.encryptionKey, salt).key;
    const decipher = createDecipheriv(CIPHER, key, iv).setAAD(additionalData(options.expectedVersion));
    decipher.setAuthTag(body.subarray(body.length - TAG_BYTES));
    return Buffer.concat([decipher.update(body.subarray(0, body.length - TAG_BYTES)), decipher.final()]);
  } catch {
    throw new ImportError(
      "cannot_decrypt",
      "it cannot be decrypted with this node's cluster_fallback_config_encryption_key; it must equal the exporter's",
    );
  }
}

function parseJson(text: string): Record<string, unknown> {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch (error) {
    throw new ImportError("not_json", `its body is not JSON (${(error as Error).message})`);
  }
  if (!value || typeof value !== "object" || Array.isArray(value))
    throw new ImportError("not_json", "its body is not a JSON object, so it is no declarative config");
  return value as Record<string, unknown>;
}

/** Checks origin, integrity and version, decrypts if needed, and parses; throws ImportError saying why it refuses. */
export async function openConfig(stored: SealedConfig, options: OpenOptions): Promise<OpenedConfig> {
  const { body, metadata } = stored;
  const signature = metadata[META.signature];
  if (!signature)
    throw new ImportError(
      "unsigned",
      "it is not signed (no gw-sig metadata); gw imports only configs a gw exporter signed",
    );
  const cert = signerCertificate(metadata, options);
  const size = Number(metadata[META.size]);
  if (Number.isInteger(size) && body.length < size)
    throw new ImportError(
      "truncated",
      `its body has ${body.length} of the ${size} bytes the exporter wrote (truncated, or replaced)`,
    );
  if (
    !verify(
      digestFor(cert.publicKey),
      signedBytes(metadata, body),
      cert.publicKey,
      Buffer.from(signature, "base64"),
    )
  )
    throw new ImportError(
      "bad_signature",
      "its signature does not match its content: the object or its metadata was altered",
    );
  const version = metadata[META.version];
  if (version !== options.expectedVersion)
    throw new ImportError(
      "wrong_version",
      `it was exported by version ${version} and this node runs ${options.expectedVersion}; exporter and importer must run the same version`,
    );
  const plain = metadata[META.encryption] ? await decrypt(body, metadata, options) : Buffer.from(body);
  const json = plain.toString("utf8");
  return {
    json,
    config: parseJson(json),
    nodeId: decodeURIComponent(metadata[META.nodeId] ?? ""),
    hostname: decodeURIComponent(metadata[META.hostname] ?? ""),
    hash: metadata[META.hash] ?? "",
    signedAt: new Date(Number(metadata[META.signedAt]) * 1000),
  };
}
