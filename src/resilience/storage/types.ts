/** The fallback-config storage interface and `openStorage`, which loads the one cloud SDK a location needs, on demand. */
import { parseStorageUrl, type StorageLocation } from "./url";

export interface StoredObject {
  body: Uint8Array;
  metadata: Record<string, string>;
}

export interface ListedObject {
  key: string;
  lastModified: Date;
}

/**
 * Keys are absolute within the bucket (build them with `configKey`/`electionKey` from the location's prefix).
 * Metadata keys are lowercase `[a-z0-9-]` and values printable ASCII, because S3 carries them as HTTP headers and
 * lowercases the names.
 */
export interface ConfigStorage {
  readonly location: StorageLocation;
  put(key: string, body: Uint8Array | string, metadata: Record<string, string>): Promise<void>;
  /** Null when the object does not exist; any other failure throws a StorageError. */
  get(key: string): Promise<StoredObject | null>;
  list(prefix: string): Promise<ListedObject[]>;
  /** Deleting a missing object is not an error. */
  delete(key: string): Promise<void>;
}

/** The process environment, or a stand-in for it (tests, `gw check`). */
export type Env = Record<string, string | undefined>;

export interface OpenOptions {
  /** `cluster_fallback_export_s3_config`: JSON text or an object, merged into every S3 PutObject call. */
  s3Config?: string | Record<string, unknown>;
}

/** A storage failure; the message names the location and operation, never a credential. */
export class StorageError extends Error {
  override name = "StorageError";
}

/** Raised at open time for missing or malformed credentials and settings, so `gw check` and start-up catch it. */
export class StorageConfigError extends Error {
  override name = "StorageConfigError";
}

const METADATA_KEY = /^[a-z0-9][a-z0-9-]*$/;
const PRINTABLE_ASCII = /^[\x20-\x7e]*$/;

/** Rejects metadata that one backend would silently mangle, so both behave the same. */
export function checkMetadata(metadata: Record<string, string>): void {
  for (const [name, value] of Object.entries(metadata)) {
    if (!METADATA_KEY.test(name))
      throw new StorageError(`metadata name "${name}" must be lowercase letters, digits and hyphens`);
    if (!PRINTABLE_ASCII.test(value)) throw new StorageError(`metadata "${name}" must be printable ASCII`);
  }
}

/** Describes an SDK failure without the request or credentials the SDK error object may carry. */
export function describeFailure(error: unknown): string {
  if (!(error instanceof Error)) return String(error);
  const code = (error as { code?: unknown }).code;
  const status = (error as { $metadata?: { httpStatusCode?: number } }).$metadata?.httpStatusCode;
  const detail = [
    error.name !== "Error" ? error.name : "",
    code !== undefined ? `code ${code}` : "",
    status ? `HTTP ${status}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  return detail ? `${error.message} (${detail})` : error.message;
}

/** Opens the storage a `cluster_fallback_config_storage` value names; credentials are checked now, not at first use. */
export async function openStorage(
  setting: string | StorageLocation,
  env: Env = process.env,
  options: OpenOptions = {},
): Promise<ConfigStorage> {
  const location = typeof setting === "string" ? parseStorageUrl(setting) : setting;
  if (location.provider === "s3") {
    const { openS3Storage } = await import("./s3");
    return openS3Storage(location, env, options);
  }
  const { openGcsStorage } = await import("./gcs");
  return openGcsStorage(location, env);
}
