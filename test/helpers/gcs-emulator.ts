/** A real GCS server for tests: firebase-tools' storage emulator (no rules runtime) in a child process on loopback. */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { waitFor } from "./gw";
import { readListeningPort } from "./s3rver";

const LAUNCHER = join(import.meta.dir, "gcs-emulator-launcher.cjs");
const READY = "gcs emulator listening on port ";

export interface RunningGcsEmulator {
  /** `http://127.0.0.1:N`, the value for STORAGE_EMULATOR_HOST. */
  host: string;
  port: number;
  env: Record<string, string>;
  stop(): Promise<void>;
}

/** Buckets need no creating: the emulator makes them on first write (and has no createBucket). */
export async function startGcsEmulator(options: { port?: number } = {}): Promise<RunningGcsEmulator> {
  // The emulator keeps blobs under $TMPDIR/firebase/storage: a private TMPDIR keeps parallel emulators apart.
  const scratch = mkdtempSync(join(tmpdir(), "gcs-emulator-"));
  const proc = Bun.spawn([process.execPath, LAUNCHER], {
    env: { ...process.env, TMPDIR: scratch, PORT: String(options.port ?? 0) },
    stdout: "pipe",
    stderr: "inherit",
    // The launcher exits when stdin closes, so a crashed test leaves no emulator behind.
    stdin: "pipe",
  });
  const stop = async () => {
    proc.kill();
    await proc.exited;
    rmSync(scratch, { recursive: true, force: true });
  };
  try {
    const port = await readListeningPort(proc.stdout, READY);
    const host = `http://127.0.0.1:${port}`;
    // Any HTTP answer (a 404 for a missing object) proves the app is routing requests.
    await waitFor(
      "the GCS emulator to answer",
      async () => (await fetch(`${host}/storage/v1/b/probe/o/probe`)).status > 0,
    );
    return { host, port, env: { STORAGE_EMULATOR_HOST: host }, stop };
  } catch (error) {
    await stop();
    throw error;
  }
}
