/** Parses `cluster_fallback_config_storage` (s3://, gcs://, gs://) and lays out the object keys under its prefix. */

export type StorageProvider = "s3" | "gcs";

export interface StorageLocation {
  provider: StorageProvider;
  bucket: string;
  /** Without leading or trailing slash; may be empty. */
  prefix: string;
  /** The setting as written, for messages. */
  url: string;
}

export const STORAGE_SETTING = "cluster_fallback_config_storage";

const FORMS = "s3://<bucket>/<prefix>, gcs://<bucket>/<prefix> or gs://<bucket>/<prefix>";

export class StorageUrlError extends Error {
  override name = "StorageUrlError";
}

const fail = (value: string, why: string): never => {
  throw new StorageUrlError(`${STORAGE_SETTING}: invalid value "${value}": ${why}`);
};

const IPV4 = /^\d{1,3}(\.\d{1,3}){3}$/;

/** AWS's general-purpose bucket naming rules, the ones users hit in practice. */
function s3BucketProblem(name: string): string | undefined {
  if (name.length < 3 || name.length > 63) return "an S3 bucket name has 3 to 63 characters";
  if (!/^[a-z0-9][a-z0-9.-]*[a-z0-9]$/.test(name))
    return "an S3 bucket name uses lowercase letters, digits, dots and hyphens, and starts and ends with a letter or digit";
  if (name.includes("..")) return "an S3 bucket name has no two adjacent dots";
  if (IPV4.test(name)) return "an S3 bucket name is not an IP address";
  if (name.startsWith("xn--") || name.endsWith("-s3alias") || name.endsWith("--ol-s3"))
    return "an S3 bucket name cannot start with xn-- or end with -s3alias or --ol-s3";
  return undefined;
}

/** Google's bucket naming rules (dotted names may reach 222 characters, 63 per component). */
function gcsBucketProblem(name: string): string | undefined {
  const max = name.includes(".") ? 222 : 63;
  if (name.length < 3 || name.length > max) return `a GCS bucket name has 3 to ${max} characters`;
  if (!/^[a-z0-9][a-z0-9._-]*[a-z0-9]$/.test(name))
    return "a GCS bucket name uses lowercase letters, digits, dots, hyphens and underscores, and starts and ends with a letter or digit";
  if (name.split(".").some((part) => part.length === 0 || part.length > 63))
    return "each dot-separated part of a GCS bucket name has 1 to 63 characters";
  if (IPV4.test(name)) return "a GCS bucket name is not an IP address";
  if (name.startsWith("goog") || name.includes("google"))
    return 'a GCS bucket name cannot start with "goog" or contain "google"';
  return undefined;
}

function normalizePrefix(value: string, raw: string): string {
  const parts = raw.split("/").filter((part) => part !== "");
  // Backslashes and control characters are legal in keys but always a typo here, and ".." reads as a path escape.
  if (/[\\\u0000-\u001f\u007f]/.test(raw))
    fail(value, "the prefix contains a backslash or a control character");
  if (parts.some((part) => part === "." || part === ".."))
    fail(
      value,
      'the prefix cannot contain "." or ".." segments; write the prefix as plain names separated by /',
    );
  return parts.join("/");
}

/** Parses the setting; throws StorageUrlError naming the setting and the accepted forms. */
export function parseStorageUrl(value: string): StorageLocation {
  const url = value.trim();
  if (url === "") fail(value, `it is empty; expected ${FORMS}`);
  const match = /^([a-zA-Z][a-zA-Z0-9+.-]*):\/\/([^/]*)(?:\/(.*))?$/.exec(url);
  if (!match) return fail(value, `expected ${FORMS}`);
  const scheme = match[1]!.toLowerCase();
  const bucket = match[2]!;
  if (scheme === "azure") return fail(value, `gw does not support Azure Blob storage; use ${FORMS}`);
  if (scheme !== "s3" && scheme !== "gcs" && scheme !== "gs")
    return fail(value, `unknown scheme "${match[1]}://"; expected ${FORMS}`);
  const provider: StorageProvider = scheme === "s3" ? "s3" : "gcs";
  if (bucket === "") fail(value, `the bucket name is missing; expected ${FORMS}`);
  const problem = provider === "s3" ? s3BucketProblem(bucket) : gcsBucketProblem(bucket);
  if (problem) fail(value, `bucket "${bucket}": ${problem}`);
  return { provider, bucket, prefix: normalizePrefix(value, match[3] ?? ""), url };
}

const join = (...parts: string[]) => parts.filter((part) => part !== "").join("/");

/** `<prefix>/<version>/config.json`: exporter and importer must run the exact same version to meet. */
export const configKey = (prefix: string, version: string) => join(prefix, version, "config.json");

/** The folder (with trailing slash, for listing) holding one registration object per backup node. */
export const electionPrefix = (prefix: string, version: string) => `${join(prefix, version, "election")}/`;

export const electionKey = (prefix: string, version: string, nodeId: string) =>
  electionPrefix(prefix, version) + nodeId;
