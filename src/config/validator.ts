/** Validates declarative configs in a Worker, so a large push does not stall the proxy's event loop for its whole parse. */
import { type ConfigTable, DeclarativeError, type DeclarativeIssue } from "../entities/declarative";
import { logger } from "../log/logger";

const log = logger("config");

/**
 * The worker's module. scripts/build.ts bundles it as a second entrypoint; inside the compiled binary Bun resolves it
 * by its path under the entrypoints' common folder (`src/`), from source by its own file.
 */
const WORKER_ENTRY = import.meta.path.startsWith("/$bunfs/")
  ? "./config/validate-worker.ts"
  : new URL("./validate-worker.ts", import.meta.url).href;

export interface ValidateRequest {
  id: number;
  input: unknown;
  /** Names of the node's enabled plugins: the worker builds the same schemas. */
  plugins: string[];
}

export type ValidateResult =
  | { id: number; ok: true; table: ConfigTable }
  | { id: number; ok: false; issues: DeclarativeIssue[] }
  | { id: number; ok: false; message: string };

interface Waiting {
  resolve(table: ConfigTable): void;
  reject(error: Error): void;
}

export class ConfigValidator {
  private worker: Worker | null = null;
  private readonly waiting = new Map<number, Waiting>();
  private nextId = 1;

  constructor(private readonly plugins: readonly string[]) {}

  /** The validated table, or a DeclarativeError with every problem, as `parseDeclarative` gives them; in order of calls. */
  validate(input: unknown): Promise<ConfigTable> {
    const worker = this.worker ?? this.spawn();
    const id = this.nextId++;
    return new Promise<ConfigTable>((resolve, reject) => {
      this.waiting.set(id, { resolve, reject });
      worker.postMessage({ id, input, plugins: [...this.plugins] } satisfies ValidateRequest);
    });
  }

  close(): void {
    this.worker?.terminate();
    this.worker = null;
  }

  private spawn(): Worker {
    const worker = new Worker(WORKER_ENTRY);
    worker.onmessage = (event: MessageEvent<ValidateResult>) => this.settle(event.data);
    worker.onerror = (event) => this.crashed(worker, event.message);
    worker.unref();
    this.worker = worker;
    return worker;
  }

  private settle(result: ValidateResult): void {
    const waiting = this.waiting.get(result.id);
    if (waiting === undefined) return;
    this.waiting.delete(result.id);
    if (result.ok) waiting.resolve(result.table);
    else waiting.reject("issues" in result ? new DeclarativeError(result.issues) : new Error(result.message));
  }

  /** A worker that died fails what it held; the next call starts a fresh one. */
  private crashed(worker: Worker, message: string): void {
    log.error(`the config validation worker failed (${message}); starting a new one for the next config`);
    worker.terminate();
    if (this.worker === worker) this.worker = null;
    for (const waiting of this.waiting.values())
      waiting.reject(new Error(`config validation failed: ${message}`));
    this.waiting.clear();
  }
}
