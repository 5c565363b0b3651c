/**
 * Copies the keys of many copy batches at once, server-side, through one
 * adaptive limiter. Transient failures retry here with backoff; keys still
 * failing go back to the queue as a child batch with a higher attempt;
 * past the attempt limit, and on permanent errors, each key goes to the DLQ
 * on its own with its error. A key gone from the source is "vanished".
 */
import { type BatchLimits, type CopyBatch, packCopyBatches } from "./batching.ts";
import type { HaltSignal } from "./halt.ts";
import type { AdaptiveLimiter } from "./limiter.ts";
import { type CopyItem, type CopyTask, copyBody, failureBody, redriveOfBytes } from "./messages.ts";
import type { BatchOutcome, BatchRef, KeyFailure, Ledger, MessageSink, ObjectStore } from "./ports.ts";
import {
  type BackoffPolicy,
  backoffDelay,
  classifyError,
  type ErrorClass,
  type ErrorInfo,
  errorInfo,
  redeliveryDelaySeconds,
} from "./retry.ts";

export interface CopyPolicy {
  /** Tries of one key within one invocation. @default 4 */
  readonly triesPerDelivery: number;
  /** Deliveries (re-enqueues) before a key goes to the DLQ. @default 5 */
  readonly maxDeliveries: number;
  readonly backoff: BackoffPolicy;
}

export const DEFAULT_COPY_POLICY: CopyPolicy = { triesPerDelivery: 4, maxDeliveries: 5, backoff: { baseMs: 100, capMs: 5_000 } };

export interface CopierDeps {
  readonly store: ObjectStore;
  readonly sink: MessageSink;
  readonly ledger: Ledger;
  readonly halt: HaltSignal;
  readonly limiter: AdaptiveLimiter;
  readonly policy: CopyPolicy;
  readonly limits: BatchLimits;
  readonly remainingMs: () => number;
  /** No new try starts when fewer ms than this remain. */
  readonly safetyMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onEvent?: (event: CopyEvent) => void;
}

export type CopyEvent =
  | { readonly kind: "retry"; readonly key: string; readonly error: ErrorInfo; readonly errorClass: ErrorClass; readonly attempt: number }
  | { readonly kind: "failed"; readonly key: string; readonly error: ErrorInfo; readonly errorClass: ErrorClass }
  | {
      readonly kind: "settled";
      readonly batchId: string;
      readonly copied: number;
      readonly bytes: number;
      readonly vanished: number;
      readonly failed: number;
      readonly requeued: number;
      readonly halted: number;
    };

type ItemResult =
  | { readonly status: "copied" }
  | { readonly status: "vanished" }
  | { readonly status: "failed"; readonly error: ErrorInfo; readonly errorClass: ErrorClass }
  | { readonly status: "deferred" }
  | { readonly status: "halted" };

/** Maps a source key to its destination key, as `aws s3 cp --recursive` does. */
export function destinationKey(task: CopyTask, sourceKey: string): string {
  const { source, destination } = task.job;
  if (!sourceKey.startsWith(source.prefix)) throw new RangeError("key is outside the job's source prefix");
  return destination.prefix + sourceKey.slice(source.prefix.length);
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Copies every task's keys, then settles each task. Resolves with one entry
 * per task: undefined when the task is settled (safe to acknowledge), or the
 * error that kept it from settling (leave it for redelivery).
 */
export async function copyTasks(tasks: readonly CopyTask[], deps: CopierDeps): Promise<(Error | undefined)[]> {
  const results = await Promise.all(tasks.map((task) => Promise.all(task.items.map((item) => copyItem(task, item, deps)))));
  return Promise.all(
    tasks.map(async (task, i) => {
      try {
        await settle(task, results[i] ?? [], deps);
        return undefined;
      } catch (err) {
        return err instanceof Error ? err : new Error(String(err));
      }
    }),
  );
}

async function copyItem(task: CopyTask, item: CopyItem, deps: CopierDeps): Promise<ItemResult> {
  const sleep = deps.sleep ?? defaultSleep;
  let destination: string;
  try {
    destination = destinationKey(task, item.key);
  } catch (err) {
    return { status: "failed", error: errorInfo(err), errorClass: "permanent" };
  }
  let last: ItemResult = { status: "deferred" };
  for (let tryNo = 0; tryNo < deps.policy.triesPerDelivery; tryNo++) {
    if (deps.remainingMs() < deps.safetyMs) return last;
    const outcome = await deps.limiter.run(async (): Promise<ItemResult> => {
      // Checked in the slot, right before the request: after halt returns, no copy starts.
      if (await deps.halt.isHalted(task.job.id)) return { status: "halted" };
      try {
        await deps.store.copy({
          sourceBucket: task.job.source.bucket,
          sourceKey: item.key,
          destinationBucket: task.job.destination.bucket,
          destinationKey: destination,
          size: item.size,
          etag: item.etag,
        });
        deps.limiter.onSuccess();
        return { status: "copied" };
      } catch (err) {
        const error = errorInfo(err);
        const errorClass = classifyError(error);
        if (errorClass === "throttle") deps.limiter.onThrottle();
        if (errorClass === "vanished") return { status: "vanished" };
        return { status: "failed", error, errorClass };
      }
    });
    if (outcome.status !== "failed" || outcome.errorClass === "permanent") return outcome;
    if (await deps.halt.isHalted(task.job.id)) return { status: "halted" };
    last = outcome;
    deps.onEvent?.({ kind: "retry", key: item.key, error: outcome.error, errorClass: outcome.errorClass, attempt: tryNo + 1 });
    const delay = backoffDelay(tryNo, deps.policy.backoff, deps.random);
    if (tryNo + 1 < deps.policy.triesPerDelivery && deps.remainingMs() - delay > deps.safetyMs) await sleep(delay);
  }
  return last;
}

/**
 * Child batches of a task's keys. Children of a redriven batch carry its
 * `redriveOf`, packed that much smaller so their bodies stay under the cap.
 */
function packChildren(task: CopyTask, items: readonly CopyItem[], limits: BatchLimits, attempt: number): CopyBatch[] {
  if (task.redriveOf === undefined) return packCopyBatches(task.job, items, limits, attempt, task.batchId);
  const redriveOf = task.redriveOf;
  const packed = packCopyBatches(
    task.job,
    items,
    { ...limits, maxBytes: limits.maxBytes - redriveOfBytes(redriveOf) },
    attempt,
    task.batchId,
  );
  let next = 0;
  return packed.map((b) => {
    const slice = items.slice(next, next + b.keys);
    next += b.keys;
    return { ...b, body: copyBody({ job: task.job, batchId: b.batchId, attempt, items: slice, redriveOf }) };
  });
}

/** Sends retries and DLQ records, then records the outcome: only then may the message go. */
async function settle(task: CopyTask, results: readonly ItemResult[], deps: CopierDeps): Promise<void> {
  let copied = 0;
  let copiedBytes = 0;
  const copiedKeys: string[] = [];
  const vanished: string[] = [];
  const failed: KeyFailure[] = [];
  const retry: CopyItem[] = [];
  const deferred: CopyItem[] = [];
  let halted = 0;
  const attempts = task.attempt + 1;
  task.items.forEach((item, i) => {
    const r = results[i] ?? { status: "deferred" };
    if (r.status === "copied") {
      copied++;
      copiedBytes += item.size;
      copiedKeys.push(item.key);
    } else if (r.status === "vanished") vanished.push(item.key);
    else if (r.status === "halted") halted++;
    else if (r.status === "deferred") deferred.push(item);
    else if (r.errorClass !== "permanent" && attempts < deps.policy.maxDeliveries) retry.push(item);
    else failed.push({ key: item.key, size: item.size, etag: item.etag, error: r.error, attempts });
  });

  const children: BatchRef[] = [];
  const jobHalted = halted > 0 || ((retry.length > 0 || deferred.length > 0) && (await deps.halt.isHalted(task.job.id)));
  if (jobHalted) {
    // A halted job enqueues nothing more: what would have been retried is counted as halted.
    halted += retry.length + deferred.length;
    retry.length = 0;
    deferred.length = 0;
  }
  const requeue = async (items: CopyItem[], attempt: number) => {
    if (items.length === 0) return;
    const batches = packChildren(task, items, deps.limits, attempt);
    const delaySeconds = attempt > task.attempt ? redeliveryDelaySeconds(task.attempt, deps.random) : 0;
    await deps.sink.send(
      "copy",
      batches.map((b) => ({ body: b.body, delaySeconds })),
    );
    for (const b of batches) children.push({ batchId: b.batchId, keys: b.keys, bytes: b.bytes });
  };
  await requeue(retry, attempts);
  await requeue(deferred, task.attempt);
  if (failed.length > 0) {
    const records = failed.map((f) => ({ body: failureBody(task.job, task.batchId, f, f.attempts, f.error) }));
    await deps.sink.send("copyDlq", records);
    for (const f of failed) deps.onEvent?.({ kind: "failed", key: f.key, error: f.error, errorClass: classifyError(f.error) });
  }
  const outcome: BatchOutcome = { jobId: task.job.id, batchId: task.batchId, copied, copiedBytes, vanished, failed, halted, children };
  // A redriven batch names its copied keys: the ledger moves them out of the failures it recovers.
  await deps.ledger.recordBatch(task.redriveOf === undefined ? outcome : { ...outcome, redriveOf: task.redriveOf, copiedKeys });
  deps.onEvent?.({
    kind: "settled",
    batchId: task.batchId,
    copied,
    bytes: copiedBytes,
    vanished: vanished.length,
    failed: failed.length,
    requeued: retry.length + deferred.length,
    halted,
  });
}
