/** Google Cloud Storage fallback-config storage through @google-cloud/storage (or its emulator via STORAGE_EMULATOR_HOST). */
import { createHash } from "node:crypto";
import { Storage, type StorageOptions } from "@google-cloud/storage";
import {
  type ConfigStorage,
  checkMetadata,
  describeFailure,
  type Env,
  StorageConfigError,
  StorageError,
  type StoredObject,
} from "./types";
import type { StorageLocation } from "./url";

/** The SDK's default retries for up to 600 s; a node deciding whether it may lead cannot wait that long. */
const RETRY_OPTIONS = { autoRetry: true, maxRetries: 2, totalTimeout: 30 };
const REQUEST_TIMEOUT_MS = 30_000;

/** An object replaced while it is being read is read again, a few times. */
const READ_ATTEMPTS = 5;

function emulatorEndpoint(host: string): string {
  const withScheme = /^[a-z]+:\/\//i.test(host) ? host : `http://${host}`;
  try {
    new URL(withScheme);
  } catch {
    throw new StorageConfigError(
      `STORAGE_EMULATOR_HOST must be a URL such as http://127.0.0.1:9199, got "${host}"`,
    );
  }
  return withScheme.replace(/\/+$/, "");
}

function serviceAccountFrom(text: string | undefined): StorageOptions {
  if (!text)
    throw new StorageConfigError(
      "GCS fallback config storage needs credentials: set GCP_SERVICE_ACCOUNT to the service account's JSON key (or STORAGE_EMULATOR_HOST for an emulator)",
    );
  let key: { client_email?: unknown; private_key?: unknown; project_id?: unknown };
  try {
    key = JSON.parse(text);
  } catch {
    // Never echo the text: it is a private key.
    throw new StorageConfigError(
      "GCP_SERVICE_ACCOUNT is not valid JSON; set it to the service account's JSON key file contents",
    );
  }
  if (typeof key?.client_email !== "string" || typeof key.private_key !== "string")
    throw new StorageConfigError(
      'GCP_SERVICE_ACCOUNT lacks "client_email" or "private_key"; set it to the service account\'s JSON key file contents',
    );
  return {
    credentials: { client_email: key.client_email, private_key: key.private_key },
    ...(typeof key.project_id === "string" ? { projectId: key.project_id } : {}),
  };
}

/** JSON-looking bodies are served as JSON so people browsing the bucket see the config; anything else is opaque. */
const contentType = (body: Uint8Array | string) => {
  const first = typeof body === "string" ? body.trimStart()[0] : String.fromCharCode(body[0] ?? 0);
  return first === "{" || first === "[" ? "application/json" : "application/octet-stream";
};

const isMissing = (error: unknown) => (error as { code?: unknown })?.code === 404;

export function openGcsStorage(location: StorageLocation, env: Env): ConfigStorage {
  const emulator = env.STORAGE_EMULATOR_HOST;
  const auth: StorageOptions = emulator
    ? { apiEndpoint: emulatorEndpoint(emulator), projectId: "gw" }
    : serviceAccountFrom(env.GCP_SERVICE_ACCOUNT);
  const bucket = new Storage({ ...auth, retryOptions: RETRY_OPTIONS, timeout: REQUEST_TIMEOUT_MS }).bucket(
    location.bucket,
  );

  const failure = (operation: string, key: string, error: unknown) =>
    new StorageError(`gcs://${location.bucket}/${key}: ${operation} failed: ${describeFailure(error)}`);

  /**
   * Reads metadata, then the body of that generation, and checks the body against the metadata's MD5 so the pair
   * always belongs together: the emulator ignores the generation pin, and a rewrite may land between the two calls.
   * Returns null for a missing object and undefined when it changed mid-read.
   */
  async function readOnce(key: string): Promise<StoredObject | null | undefined> {
    const [meta] = await bucket
      .file(key)
      .getMetadata()
      .catch((error) => {
        if (isMissing(error)) return [null] as const;
        throw error;
      });
    if (!meta) return null;
    const pinned = bucket.file(key, meta.generation !== undefined ? { generation: meta.generation } : {});
    const [body] = await pinned.download().catch((error) => {
      if (isMissing(error)) return [undefined] as const;
      throw error;
    });
    if (!body || (meta.md5Hash && createHash("md5").update(body).digest("base64") !== meta.md5Hash))
      return undefined;
    const metadata: Record<string, string> = {};
    for (const [name, value] of Object.entries(meta.metadata ?? {}))
      if (value !== null && value !== undefined) metadata[name] = String(value);
    return { body: new Uint8Array(body), metadata };
  }

  return {
    location,

    async put(key, body, metadata) {
      checkMetadata(metadata);
      try {
        await bucket.file(key).save(typeof body === "string" ? body : Buffer.from(body), {
          resumable: false,
          contentType: contentType(body),
          metadata: { metadata },
        });
      } catch (error) {
        throw failure("put", key, error);
      }
    },

    async get(key) {
      for (let attempt = 1; attempt <= READ_ATTEMPTS; attempt++) {
        let read: StoredObject | null | undefined;
        try {
          read = await readOnce(key);
        } catch (error) {
          throw failure("get", key, error);
        }
        if (read !== undefined) return read;
      }
      throw new StorageError(
        `gcs://${location.bucket}/${key}: get failed: the object kept changing while being read`,
      );
    },

    async list(prefix) {
      try {
        const [files] = await bucket.getFiles({ prefix, autoPaginate: true });
        return files.map((file) => ({
          key: file.name,
          lastModified: new Date(file.metadata.updated ?? file.metadata.timeCreated ?? 0),
        }));
      } catch (error) {
        throw failure("list", prefix, error);
      }
    },

    async delete(key) {
      try {
        await bucket.file(key).delete({ ignoreNotFound: true });
      } catch (error) {
        if (!isMissing(error)) throw failure("delete", key, error);
      }
    },
  };
}
