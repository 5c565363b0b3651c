/**
 * The local runtime's copy function spread over worker threads: each thread
 * (copyWorker.ts) runs some of the copy invocations with clients and sockets
 * of its own, so that signing, HTTP and parsing use every core, as Lambda's
 * instances would. The parent keeps the progress mirror, forwards a halt, and
 * starts a thread again if one dies (its messages come back to the others
 * after the visibility timeout, as a crashed instance's would).
 */
import { fileURLToPath } from "node:url";
import { Worker } from "node:worker_threads";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import type { PipelineConfig } from "../../lambdas/config.ts";
import type { Ledger } from "../../lambdas/core/ports.ts";
import { ensureBundle } from "../bundled.mjs";

export interface CopyThreadSpec {
  readonly endpoint: string | undefined;
  readonly region: string | undefined;
  readonly maxSockets: number;
  readonly queue: { readonly url: string; readonly arn: string };
  readonly config: PipelineConfig;
  readonly ledger: { readonly bucket: string; readonly prefix: string };
  readonly functionName: string;
  /** Copy invocations this thread runs at once. */
  readonly invocations: number;
  readonly batchSize: number;
  readonly timeoutMs: number;
  readonly waitTimeSeconds: number;
  readonly visibilityTimeoutSeconds: number;
  readonly logLevel: LogLevel;
}

type MirrorOp = "recordPortion" | "recordBatches" | "recordExtras" | "recordDeletionPlan" | "recordDeletionsSent";

export type ToCopyThread = { readonly type: "halt"; readonly jobId: string } | { readonly type: "stop" };
export type FromCopyThread =
  | { readonly type: "started" }
  | { readonly type: "stopped" }
  | { readonly type: "error"; readonly where: string; readonly error: string }
  | { readonly type: "ledger"; readonly op: MirrorOp; readonly arg: unknown };

/** How long a thread may take to finish its invocations once asked to stop: beyond any invocation's own timeout. */
const STOP_GRACE_MS = 120_000;

/** A thread that dies is started again this many times in a job; past that the job stops with its error. */
const MAX_RESTARTS = 8;

export interface CopyThreadsOptions {
  /** Threads; the invocations are dealt out among them. */
  readonly threads: number;
  /** Copy invocations in all. */
  readonly invocations: number;
  /** The thread's spec but for its share of invocations. */
  readonly spec: Omit<CopyThreadSpec, "invocations">;
  /** The parent's progress mirror: what each thread's ledger writes go to after S3. */
  readonly mirror: Ledger;
  readonly onError: (where: string, err: unknown) => void;
}

/**
 * The worker's entry: its bundle when the bundle can be built (a thread then starts in about 0.1 s of
 * CPU, not the 0.5 s tsx takes), else the TypeScript source with this process's loader.
 */
async function workerEntry(): Promise<string> {
  try {
    return await ensureBundle("scripts/local/copyWorker.ts", "copyWorker");
  } catch {
    return fileURLToPath(new URL("./copyWorker.ts", import.meta.url));
  }
}

export class CopyThreads {
  private readonly workers = new Set<Worker>();
  private restarts = 0;
  private stopping = false;
  private failure: Error | undefined;

  private constructor(
    private readonly entry: string,
    private readonly options: CopyThreadsOptions,
  ) {}

  static async start(options: CopyThreadsOptions): Promise<CopyThreads> {
    const threads = new CopyThreads(await workerEntry(), options);
    const n = Math.max(1, Math.min(options.threads, options.invocations));
    const started: Promise<void>[] = [];
    for (let i = 0; i < n; i++) {
      // Invocations dealt out as evenly as they go: 4 over 3 threads is 2, 1, 1.
      const share = Math.floor(options.invocations / n) + (i < options.invocations % n ? 1 : 0);
      started.push(threads.spawn(share));
    }
    await Promise.all(started);
    return threads;
  }

  /** The error that stopped the threads for good (restarts used up), if any. */
  get error(): Error | undefined {
    return this.failure;
  }

  halt(jobId: string): void {
    for (const w of this.workers) w.postMessage({ type: "halt", jobId } satisfies ToCopyThread);
  }

  async stop(): Promise<void> {
    this.stopping = true;
    await Promise.all(
      [...this.workers].map(
        (w) =>
          new Promise<void>((resolve) => {
            const done = () => void w.terminate().then(() => resolve());
            // A thread that does not answer (its invocations stuck past their deadline) is ended anyway.
            const timer = setTimeout(done, STOP_GRACE_MS).unref();
            w.once("exit", () => {
              clearTimeout(timer);
              resolve();
            });
            w.on("message", (m: FromCopyThread) => {
              if (m.type === "stopped") done();
            });
            w.postMessage({ type: "stop" } satisfies ToCopyThread);
          }),
      ),
    );
    this.workers.clear();
  }

  private spawn(invocations: number): Promise<void> {
    const { spec, mirror, onError } = this.options;
    const worker = new Worker(this.entry, { workerData: { ...spec, invocations } satisfies CopyThreadSpec });
    this.workers.add(worker);
    return new Promise<void>((resolve, reject) => {
      worker.on("message", (m: FromCopyThread) => {
        if (m.type === "started") resolve();
        else if (m.type === "error") onError(m.where, m.error);
        else if (m.type === "ledger") {
          // The mirror's methods take what the thread's ledger was given (structured-cloned).
          const apply = mirror[m.op] as ((arg: unknown) => Promise<unknown>) | undefined;
          apply?.call(mirror, m.arg).catch((err: unknown) => onError("mirror", err));
        }
      });
      worker.on("error", (err) => {
        onError("copy thread", err);
        reject(err);
      });
      worker.on("exit", (code) => {
        this.workers.delete(worker);
        if (this.stopping) return;
        if (this.restarts >= MAX_RESTARTS) {
          this.failure = new Error(`copy threads died ${this.restarts + 1} times (last exit code ${code}); see the errors above`);
          return;
        }
        this.restarts++;
        this.spawn(invocations).catch((err: unknown) => onError("copy thread restart", err));
      });
    });
  }
}
