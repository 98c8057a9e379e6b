/** S3 (and S3-compatible: MinIO, s3rver) fallback-config storage through @aws-sdk/client-s3. */
import {
  DeleteObjectCommand,
  GetObjectCommand,
  ListObjectsV2Command,
  PutObjectCommand,
  type PutObjectCommandInput,
  S3Client,
} from "@aws-sdk/client-s3";
import {
  type ConfigStorage,
  checkMetadata,
  describeFailure,
  type Env,
  type OpenOptions,
  StorageConfigError,
  StorageError,
} from "./types";
import type { StorageLocation } from "./url";

/** S3 refuses user metadata above 2 KB (names plus values); checking first gives a clearer error than MetadataTooLarge. */
export const S3_METADATA_LIMIT = 2048;

const S3_CONFIG_SETTING = "cluster_fallback_export_s3_config";

/** Without these the SDK waits forever on a server that accepts and never answers. */
const CONNECT_TIMEOUT_MS = 5_000;
const REQUEST_TIMEOUT_MS = 30_000;

function credentialsFrom(env: Env) {
  const accessKeyId = env.AWS_ACCESS_KEY_ID;
  const secretAccessKey = env.AWS_SECRET_ACCESS_KEY;
  if (!accessKeyId || !secretAccessKey) {
    const missing = [!accessKeyId && "AWS_ACCESS_KEY_ID", !secretAccessKey && "AWS_SECRET_ACCESS_KEY"].filter(
      Boolean,
    );
    throw new StorageConfigError(
      `S3 fallback config storage needs credentials in the environment: set ${missing.join(" and ")} (and AWS_SESSION_TOKEN for temporary credentials)`,
    );
  }
  return {
    accessKeyId,
    secretAccessKey,
    ...(env.AWS_SESSION_TOKEN ? { sessionToken: env.AWS_SESSION_TOKEN } : {}),
  };
}

function endpointFrom(env: Env): string | undefined {
  const endpoint = env.AWS_CONFIG_STORAGE_ENDPOINT;
  if (!endpoint) return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new StorageConfigError(
      `AWS_CONFIG_STORAGE_ENDPOINT must be a URL such as http://minio:9000/, got "${endpoint}"`,
    );
  }
  if (url.protocol !== "http:" && url.protocol !== "https:")
    throw new StorageConfigError(
      `AWS_CONFIG_STORAGE_ENDPOINT must start with http:// or https://, got "${endpoint}"`,
    );
  return endpoint;
}

function regionFrom(env: Env, endpoint: string | undefined): string {
  const region = env.AWS_REGION || env.AWS_DEFAULT_REGION;
  if (region) return region;
  // S3-compatible servers rarely care about the region, but the request signature still needs one.
  if (endpoint) return "us-east-1";
  throw new StorageConfigError(
    "S3 fallback config storage needs a region: set AWS_REGION or AWS_DEFAULT_REGION",
  );
}

/** Parses `cluster_fallback_export_s3_config` (e.g. server-side encryption settings) into extra PutObject params. */
export function parseS3Config(value: OpenOptions["s3Config"]): Record<string, unknown> {
  if (value === undefined || value === "") return {};
  let parsed: unknown = value;
  if (typeof value === "string") {
    try {
      parsed = JSON.parse(value);
    } catch {
      throw new StorageConfigError(
        `${S3_CONFIG_SETTING}: not valid JSON; write a JSON object such as {"ServerSideEncryption":"aws:kms"}`,
      );
    }
  }
  if (!parsed || typeof parsed !== "object" || Array.isArray(parsed))
    throw new StorageConfigError(
      `${S3_CONFIG_SETTING}: expected a JSON object of PutObject parameters, such as {"ServerSideEncryption":"aws:kms"}`,
    );
  return parsed as Record<string, unknown>;
}

const metadataSize = (metadata: Record<string, string>) =>
  Object.entries(metadata).reduce((sum, [k, v]) => sum + Buffer.byteLength(k) + Buffer.byteLength(v), 0);

const isMissing = (error: unknown) => {
  const e = error as { name?: string; $metadata?: { httpStatusCode?: number } };
  return e?.name === "NoSuchKey" || e?.name === "NotFound" || e?.$metadata?.httpStatusCode === 404;
};

export function openS3Storage(location: StorageLocation, env: Env, options: OpenOptions = {}): ConfigStorage {
  const endpoint = endpointFrom(env);
  const client = new S3Client({
    region: regionFrom(env, endpoint),
    credentials: credentialsFrom(env),
    requestHandler: { connectionTimeout: CONNECT_TIMEOUT_MS, requestTimeout: REQUEST_TIMEOUT_MS },
    ...(endpoint ? { endpoint, forcePathStyle: true } : {}),
  });
  const extraPutParams = parseS3Config(options.s3Config);
  const Bucket = location.bucket;

  const failure = (operation: string, key: string, error: unknown) =>
    new StorageError(`s3://${Bucket}/${key}: ${operation} failed: ${describeFailure(error)}`);

  return {
    location,

    async put(key, body, metadata) {
      checkMetadata(metadata);
      const size = metadataSize(metadata);
      if (size > S3_METADATA_LIMIT)
        throw new StorageError(
          `s3://${Bucket}/${key}: object metadata is ${size} bytes; S3 allows ${S3_METADATA_LIMIT}`,
        );
      // Our own fields win, so the setting can add encryption or tagging but never redirect the object.
      const input = {
        ...extraPutParams,
        Bucket,
        Key: key,
        Body: body,
        Metadata: metadata,
      } as PutObjectCommandInput;
      try {
        await client.send(new PutObjectCommand(input));
      } catch (error) {
        throw failure("put", key, error);
      }
    },

    async get(key) {
      try {
        const out = await client.send(new GetObjectCommand({ Bucket, Key: key }));
        const body = out.Body ? await out.Body.transformToByteArray() : new Uint8Array();
        return { body, metadata: out.Metadata ?? {} };
      } catch (error) {
        if (isMissing(error)) return null;
        throw failure("get", key, error);
      }
    },

    async list(prefix) {
      const found: { key: string; lastModified: Date }[] = [];
      let ContinuationToken: string | undefined;
      try {
        do {
          const page = await client.send(
            new ListObjectsV2Command({ Bucket, Prefix: prefix, ContinuationToken }),
          );
          for (const item of page.Contents ?? [])
            if (item.Key) found.push({ key: item.Key, lastModified: item.LastModified ?? new Date(0) });
          ContinuationToken = page.IsTruncated ? page.NextContinuationToken : undefined;
        } while (ContinuationToken);
      } catch (error) {
        throw failure("list", prefix, error);
      }
      return found;
    },

    async delete(key) {
      try {
        await client.send(new DeleteObjectCommand({ Bucket, Key: key }));
      } catch (error) {
        if (!isMissing(error)) throw failure("delete", key, error);
      }
    },
  };
}
