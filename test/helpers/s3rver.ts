/** A real S3 server for tests: s3rver in a child process on loopback, so other processes (the gw binary) reach it too. */
import { createHash } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { mkdir, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import { Readable } from "node:stream";

export const S3RVER_CREDENTIALS = { AWS_ACCESS_KEY_ID: "S3RVER", AWS_SECRET_ACCESS_KEY: "S3RVER" };

export interface S3rverOptions {
  buckets: string[];
  /** Reuse a port and directory to restart a stopped server with its objects (storage-outage tests). */
  port?: number;
  directory?: string;
}

export interface RunningS3rver {
  endpoint: string;
  port: number;
  directory: string;
  /** Env for gw or `openStorage`: endpoint, region and s3rver's fixed credentials. */
  env: Record<string, string>;
  /** Stops the server; the directory is kept only if the caller supplied it. */
  stop(): Promise<void>;
}

const READY = "s3rver listening on port ";

/** Reads a child's first stdout line, `<ready><port>`, and returns the port; the child prints it once it listens. */
export async function readListeningPort(stream: ReadableStream<Uint8Array>, ready: string): Promise<number> {
  const reader = stream.getReader();
  const decoder = new TextDecoder();
  let text = "";
  while (!text.includes("\n")) {
    const { value, done } = await reader.read();
    if (done) throw new Error(`the server exited before it listened: ${text}`);
    text += decoder.decode(value);
  }
  reader.releaseLock();
  const line = text.split("\n")[0]!;
  if (!line.startsWith(ready)) throw new Error(`the server did not start: ${text}`);
  return Number(line.slice(ready.length));
}

export async function startS3rver(options: S3rverOptions): Promise<RunningS3rver> {
  const ownDirectory = options.directory === undefined;
  const directory = options.directory ?? mkdtempSync(join(tmpdir(), "s3rver-"));
  const proc = Bun.spawn(
    [process.execPath, import.meta.path, directory, String(options.port ?? 0), ...options.buckets],
    // stdin stays open as a lifeline: the child exits when it closes, so a crashed test leaves no server behind.
    { stdout: "pipe", stderr: "inherit", stdin: "pipe" },
  );
  let port: number;
  try {
    port = await readListeningPort(proc.stdout, READY);
  } catch (error) {
    proc.kill();
    throw error;
  }
  const endpoint = `http://127.0.0.1:${port}`;
  return {
    endpoint,
    port,
    directory,
    env: { ...S3RVER_CREDENTIALS, AWS_REGION: "us-east-1", AWS_CONFIG_STORAGE_ENDPOINT: endpoint },
    async stop() {
      proc.kill();
      await proc.exited;
      if (ownDirectory) rmSync(directory, { recursive: true, force: true });
    },
  };
}

type Store = Record<string, (...args: never[]) => Promise<unknown>>;
type S3rverClass = new (
  options: Record<string, unknown>,
) => { store: Store; run(): Promise<{ port: number }> };

interface StoredObject {
  bucket: string;
  key: string;
  content: Buffer | AsyncIterable<Buffer>;
  metadata: Record<string, string>;
}

/**
 * s3rver rewrites an object's file in place, resolves a PUT before the file is flushed, and keeps the metadata in a
 * second file, so a GET racing a PUT of the same key reads a short body under the old length and the client stalls
 * for seconds. Real S3 replaces objects atomically; running object operations one at a time, each one complete
 * (a PUT written out, a GET read in full) before the next starts, restores that.
 */
function makeObjectOperationsAtomic(store: Store): void {
  let tail: Promise<unknown> = Promise.resolve();
  const locked =
    <A extends never[], R>(operation: (...args: A) => Promise<R>) =>
    (...args: A): Promise<R> => {
      const result = tail.then(() => operation(...args));
      tail = result.catch(() => undefined);
      return result;
    };
  const original = Object.fromEntries(
    ["getObject", "deleteObject", "listObjects", "existsObject", "copyObject"].map((name) => [
      name,
      store[name]!.bind(store) as (...args: unknown[]) => Promise<unknown>,
    ]),
  );
  for (const name of ["deleteObject", "listObjects", "existsObject", "copyObject"])
    store[name] = locked(original[name]!);
  store.getObject = locked(async (...args: unknown[]) => {
    const object = (await original.getObject!(...args)) as {
      content?: AsyncIterable<Buffer> | Buffer;
    } | null;
    // Read in full under the lock, then hand s3rver a stream again (its HEAD handler destroys it).
    if (object?.content && !Buffer.isBuffer(object.content))
      object.content = Readable.from([await readAll(object.content)]);
    return object;
  });
  store.putObject = locked(async (object: StoredObject) => {
    const content = Buffer.isBuffer(object.content) ? object.content : await readAll(object.content);
    const path = (store.getResourcePath as unknown as (b: string, k: string, r: string) => string)(
      object.bucket,
      object.key,
      "object",
    );
    await mkdir(dirname(path), { recursive: true });
    await writeFile(path, content);
    const md5 = createHash("md5").update(content).digest("hex");
    await (store.putMetadata as unknown as (b: string, k: string, m: unknown, md5: string) => Promise<void>)(
      object.bucket,
      object.key,
      object.metadata,
      md5,
    );
    return { size: content.length, md5 };
  });
}

async function readAll(stream: AsyncIterable<Buffer>): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(Buffer.from(chunk));
  return Buffer.concat(chunks);
}

/** Child side: `bun test/helpers/s3rver.ts <dir> <port> <bucket>...` prints the port once it listens. */
async function serve(): Promise<void> {
  const [directory, port, ...buckets] = process.argv.slice(2);
  // s3rver ships no types; a non-literal specifier keeps tsc from demanding them.
  const moduleName = "s3rver";
  const { default: S3rver } = (await import(moduleName)) as { default: S3rverClass };
  const server = new S3rver({
    address: "127.0.0.1",
    port: Number(port),
    silent: true,
    directory,
    configureBuckets: buckets.map((name) => ({ name })),
  });
  makeObjectOperationsAtomic(server.store);
  const address = await server.run();
  process.stdout.write(`${READY}${address.port}\n`);
  process.stdin.on("close", () => process.exit(0)).resume();
}

if (import.meta.main) await serve();
