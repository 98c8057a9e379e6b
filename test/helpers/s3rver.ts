/** A real S3 server for tests: s3rver in a child process on loopback, so other processes (the gw binary) reach it too. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";

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
    { stdout: "pipe", stderr: "inherit", stdin: "ignore" },
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

type S3rverClass = new (options: Record<string, unknown>) => { run(): Promise<{ port: number }> };

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
  const address = await server.run();
  process.stdout.write(`${READY}${address.port}\n`);
}

if (import.meta.main) await serve();
