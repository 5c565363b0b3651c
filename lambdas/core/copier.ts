/**
 * Copies the keys of many copy batches at once, server-side, through one
 * adaptive limiter. Transient failures retry here with backoff; keys still
 * failing go back to the queue as a child batch with a higher attempt;
 * past the attempt limit, and on permanent errors, each key goes to the DLQ
 * on its own with its error. A key gone from the source is "vanished".
 * Whatever one key throws, wherever in its path, is that key's outcome:
 * the other keys, and the invocation, go on.
 */

import { type AttemptDeps, attempt } from "./attempt.ts";
import { type BatchLimits, type CopyBatch, packCopyBatches } from "./batching.ts";
import { needsMultipart } from "./copyPlan.ts";
import type { HaltSignal } from "./halt.ts";
import { resolveJobOptions } from "./jobOptions.ts";
import type { AdaptiveLimiter } from "./limiter.ts";
import { type CopyItem, type CopyTask, copyBody, failureBody, redriveOfBytes } from "./messages.ts";
import { type CopyWhole, copyByParts, type PartsOutcome, type Resume } from "./multipart.ts";
import type { BatchOutcome, BatchRef, KeyFailure, Ledger, MessageSink, MultipartStore, ObjectDeleter, ObjectStore } from "./ports.ts";
import { type BackoffPolicy, classifyError, type ErrorClass, type ErrorInfo, errorInfo, redeliveryDelaySeconds } from "./retry.ts";

export interface CopyPolicy {
  /** Tries of one key within one invocation. @default 4 */
  readonly triesPerDelivery: number;
  /** Deliveries (re-enqueues) before a key goes to the DLQ. @default 5 */
  readonly maxDeliveries: number;
  /**
   * Deliveries before a key whose last try was throttled goes to the DLQ. SlowDown says "later", not
   * "never": a prefix over its rate for minutes (1,000 invocations on one prefix) must not cost keys.
   * @default 20
   */
  readonly maxThrottledDeliveries?: number;
  readonly backoff: BackoffPolicy;
}

export const DEFAULT_COPY_POLICY: CopyPolicy = {
  triesPerDelivery: 4,
  maxDeliveries: 5,
  maxThrottledDeliveries: 20,
  backoff: { baseMs: 100, capMs: 5_000 },
};

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
  /** Copies by parts objects above the job's multipart threshold. */
  readonly multipart?: MultipartStore;
  /** Parts in flight per object. @default 8 */
  readonly partConcurrency?: number;
  /** Deletes what a sync with --delete found only in the destination. */
  readonly deleter?: ObjectDeleter | undefined;
}

export type CopyEvent =
  | {
      /** One try of a key failed and will be tried again, in this invocation or a later delivery. */
      readonly kind: "retry";
      readonly jobId: string;
      readonly batchId: string;
      readonly key: string;
      readonly versionId?: string | undefined;
      readonly error: ErrorInfo;
      readonly errorClass: ErrorClass;
      /** The key's delivery, 1 for its first. */
      readonly attempt: number;
      /** The try within this delivery, 1 for the first. */
      readonly tryNo: number;
    }
  | {
      /** A key failed for good: its record is in the copy DLQ. */
      readonly kind: "failed";
      readonly jobId: string;
      readonly batchId: string;
      readonly key: string;
      readonly versionId?: string | undefined;
      readonly error: ErrorInfo;
      readonly errorClass: ErrorClass;
      /** Deliveries the key had, this one included. */
      readonly attempt: number;
    }
  | {
      /**
       * A key threw outside any request (a defect, or a port that broke its contract): contained to
       * that key, whose outcome it becomes (retried by a later delivery, or a DLQ record).
       */
      readonly kind: "fault";
      readonly jobId: string;
      readonly batchId: string;
      readonly key: string;
      readonly versionId?: string | undefined;
      readonly error: ErrorInfo;
      readonly errorClass: ErrorClass;
      readonly attempt: number;
      /** Where it was thrown, for the person who fixes it. */
      readonly stack?: string | undefined;
    }
  | {
      readonly kind: "settled";
      readonly batchId: string;
      readonly copied: number;
      readonly deleted: number;
      readonly bytes: number;
      readonly vanished: number;
      readonly failed: number;
      readonly requeued: number;
      readonly halted: number;
    };

/** A deletion's results besides failure: deleted, or kept because the source has the key again. */
type ItemResult = PartsOutcome | { readonly status: "deleted" } | { readonly status: "kept" };

/** Maps a source key to its destination key, as `aws s3 cp --recursive` does. */
export function destinationKey(task: CopyTask, sourceKey: string): string {
  const { source, destination } = task.job;
  if (!sourceKey.startsWith(source.prefix)) throw new RangeError("key is outside the job's source prefix");
  return destination.prefix + sourceKey.slice(source.prefix.length);
}

const _defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/**
 * Copies every task's keys, then settles each task. Resolves with one entry
 * per task: undefined when the task is settled (safe to acknowledge), or the
 * error that kept it from settling (leave it for redelivery).
 */
export async function copyTasks(tasks: readonly CopyTask[], given: CopierDeps): Promise<(Error | undefined)[]> {
  // A log or metrics line that throws must not take a key, or the invocation, with it.
  const deps: CopierDeps = { ...given, onEvent: given.onEvent && quietly(given.onEvent) };
  const results = await Promise.all(tasks.map((task) => Promise.all(task.items.map((item) => containedItem(task, item, deps)))));
  const settled = await Promise.all(
    tasks.map(async (task, i) => {
      try {
        return { outcome: await settle(task, results[i] ?? [], deps) };
      } catch (err) {
        return { error: asError(err) };
      }
    }),
  );
  // One ledger write for every batch this invocation settled: a PUT per invocation, not per batch.
  const outcomes = settled.flatMap((s) => (s.outcome === undefined ? [] : [s.outcome]));
  let unrecorded: Error | undefined;
  if (outcomes.length > 0) {
    try {
      await deps.ledger.recordBatches(outcomes);
    } catch (err) {
      unrecorded = asError(err);
    }
  }
  if (unrecorded === undefined) for (const o of outcomes) deps.onEvent?.(settledEvent(o));
  return settled.map((s) => s.error ?? unrecorded);
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

function quietly(onEvent: (event: CopyEvent) => void): (event: CopyEvent) => void {
  return (event) => {
    try {
      onEvent(event);
    } catch {}
  };
}

/**
 * One key's copy, whatever it throws: an error that escapes the key's path (a RangeError from
 * planning, a halt check or port that throws) fails that key alone. It is retried like a transient
 * error, since a later delivery HEADs the source afresh (a change since listing is the likeliest
 * cause), unless its code says retrying cannot help; past the last delivery it is a DLQ record.
 */
async function containedItem(task: CopyTask, item: CopyItem, deps: CopierDeps): Promise<ItemResult> {
  try {
    return await copyItem(task, item, deps);
  } catch (err) {
    const error = errorInfo(err);
    // Not a vanished key: nothing showed the source gone.
    const errorClass = classifyError(error) === "permanent" ? "permanent" : "transient";
    deps.onEvent?.({
      kind: "fault",
      jobId: task.job.id,
      batchId: task.batchId,
      key: item.key,
      versionId: item.versionId,
      error,
      errorClass,
      attempt: task.attempt + 1,
      stack: err instanceof Error ? err.stack : undefined,
    });
    // An upload it had stays with the key: resumed by a retry, or aborted with a DLQ record.
    const resume = item.uploadId === undefined ? undefined : { uploadId: item.uploadId, etag: item.etag };
    return { status: "failed", error, errorClass, ...(resume ? { resume } : {}) };
  }
}

function settledEvent(o: BatchOutcome): CopyEvent {
  return {
    kind: "settled",
    batchId: o.batchId,
    copied: o.copied,
    deleted: o.deletedKeys?.length ?? 0,
    bytes: o.copiedBytes,
    vanished: o.vanished.length,
    failed: o.failed.length,
    requeued: o.children.reduce((n, c) => n + c.keys, 0),
    halted: o.halted ?? 0,
  };
}

async function copyItem(task: CopyTask, item: CopyItem, deps: CopierDeps): Promise<ItemResult> {
  let destination: string;
  try {
    destination = destinationKey(task, item.key);
  } catch (err) {
    return { status: "failed", error: errorInfo(err), errorClass: "permanent" };
  }
  const attemptDeps: AttemptDeps = {
    halt: deps.halt,
    limiter: deps.limiter,
    tries: deps.policy.triesPerDelivery,
    backoff: deps.policy.backoff,
    remainingMs: deps.remainingMs,
    safetyMs: deps.safetyMs,
    sleep: deps.sleep,
    random: deps.random,
    onRetry: (error, errorClass, n) =>
      deps.onEvent?.({
        kind: "retry",
        jobId: task.job.id,
        batchId: task.batchId,
        key: item.key,
        versionId: item.versionId,
        error,
        errorClass,
        attempt: task.attempt + 1,
        tryNo: n,
      }),
  };
  if (task.op === "delete") return deleteItem(task, item, destination, attemptDeps, deps);
  const options = resolveJobOptions(task.job.options);
  const multipart = deps.multipart;
  const byParts = () =>
    multipart
      ? copyByParts(task, item, destination, options, { ...attemptDeps, store: multipart, partConcurrency: deps.partConcurrency ?? 8 })
      : undefined;
  const whole = async (head?: CopyWhole["head"]): Promise<ItemResult> => {
    const copied = await attempt(task.job.id, attemptDeps, () =>
      deps.store.copy({
        sourceBucket: task.job.source.bucket,
        sourceKey: item.key,
        sourceVersionId: item.versionId,
        destinationBucket: task.job.destination.bucket,
        destinationKey: destination,
        size: head?.size ?? item.size,
        etag: head ? head.etag : item.etag,
        options: task.job.options,
      }),
    );
    return copied.status === "ok" ? { status: "copied", ...(head ? { bytes: head.size } : {}) } : copied;
  };
  if (needsMultipart(item.size, { threshold: options.multipartThreshold }, item.etag)) {
    const parts = await byParts();
    if (parts === undefined) {
      return {
        status: "failed",
        error: { code: "MultipartUnavailable", message: "no multipart store configured" },
        errorClass: "permanent",
      };
    }
    // Emptied or shrunk since listing: as it now is, it is one CopyObject.
    return parts.status === "whole" ? whole(parts.head) : parts;
  }
  const copied = await whole();
  // Grown past CopyObject's 5 GiB since listing (S3 refuses it as InvalidRequest): by parts, as it now is.
  if (copied.status === "failed" && copied.error.code === "InvalidRequest") {
    const parts = await byParts();
    if (parts !== undefined && parts.status !== "whole") return parts;
  }
  return copied;
}

/**
 * Deletes a key's destination object, unless the source has the key again
 * since it was listed: HEAD, then DeleteObject, in one try, so a retried
 * deletion HEADs again and never acts on a stale answer.
 */
async function deleteItem(
  task: CopyTask,
  item: CopyItem,
  destination: string,
  attemptDeps: AttemptDeps,
  deps: CopierDeps,
): Promise<ItemResult> {
  const heads = deps.multipart;
  const deleter = deps.deleter;
  if (heads === undefined || deleter === undefined) {
    return { status: "failed", error: { code: "DeleteUnavailable", message: "no delete port configured" }, errorClass: "permanent" };
  }
  const { job } = task;
  const tried = await attempt(job.id, attemptDeps, async (): Promise<"kept" | "deleted"> => {
    try {
      await heads.head(job.source.bucket, item.key, job.options);
      return "kept";
    } catch (err) {
      if (classifyError(errorInfo(err)) !== "vanished") throw err;
    }
    await deleter.deleteObject(job.destination.bucket, destination, job.options);
    return "deleted";
  });
  if (tried.status === "ok") return { status: tried.value };
  // The destination object already gone (404) is as good as deleted.
  return tried.status === "vanished" ? { status: "deleted" } : tried;
}

/**
 * Child batches of a task's keys. Children of a redriven batch carry its
 * `redriveOf`, packed that much smaller so their bodies stay under the cap.
 */
function packChildren(task: CopyTask, items: readonly CopyItem[], limits: BatchLimits, attempt: number): CopyBatch[] {
  if (task.redriveOf === undefined) return packCopyBatches(task.job, items, limits, attempt, task.batchId, task.op);
  const { redriveOf, op } = task;
  const packed = packCopyBatches(
    task.job,
    items,
    { ...limits, maxBytes: limits.maxBytes - redriveOfBytes(redriveOf) },
    attempt,
    task.batchId,
    op,
  );
  let next = 0;
  return packed.map((b) => {
    const slice = items.slice(next, next + b.keys);
    next += b.keys;
    return { ...b, body: copyBody({ job: task.job, batchId: b.batchId, attempt, items: slice, redriveOf, op }) };
  });
}

/**
 * Child batches of keys, as packChildren packs them; a key that cannot travel even alone (its
 * upload id added, say) is left out with the error, to fail on its own instead of failing its batch.
 */
function packEach(
  task: CopyTask,
  items: readonly CopyItem[],
  limits: BatchLimits,
  attempt: number,
): { batches: CopyBatch[]; unfit: { item: CopyItem; error: ErrorInfo }[] } {
  try {
    return { batches: packChildren(task, items, limits, attempt), unfit: [] };
  } catch {
    const fit: CopyItem[] = [];
    const unfit: { item: CopyItem; error: ErrorInfo }[] = [];
    for (const item of items) {
      try {
        packChildren(task, [item], limits, attempt);
        fit.push(item);
      } catch (err) {
        unfit.push({ item, error: errorInfo(err) });
      }
    }
    return { batches: fit.length > 0 ? packChildren(task, fit, limits, attempt) : [], unfit };
  }
}

/** The key as its next delivery should see it: with the multipart upload to resume, if any. */
function resumed(item: CopyItem, resume?: Resume): CopyItem {
  const { uploadId: _, ...rest } = item;
  if (resume === undefined) return item.uploadId === undefined ? item : rest;
  return { ...rest, etag: resume.etag ?? item.etag, uploadId: resume.uploadId };
}

/** Sends retries and DLQ records and returns the outcome; once it is recorded the message may go. */
async function settle(task: CopyTask, results: readonly ItemResult[], deps: CopierDeps): Promise<BatchOutcome> {
  let copied = 0;
  let copiedBytes = 0;
  const copiedKeys: string[] = [];
  const deletedKeys: string[] = [];
  let unchanged = 0;
  const vanished: string[] = [];
  const failed: KeyFailure[] = [];
  const retry: CopyItem[] = [];
  const deferred: CopyItem[] = [];
  let halted = 0;
  const abandoned: { item: CopyItem; uploadId: string }[] = [];
  const attempts = task.attempt + 1;
  task.items.forEach((item, i) => {
    const r = results[i] ?? { status: "deferred" };
    if (r.status === "copied") {
      copied++;
      copiedBytes += ("bytes" in r ? r.bytes : undefined) ?? item.size;
      copiedKeys.push(item.key);
    } else if (r.status === "deleted") deletedKeys.push(item.key);
    else if (r.status === "kept") unchanged++;
    else if (r.status === "vanished") vanished.push(item.key);
    else if (r.status === "halted") {
      halted++;
      if (item.uploadId) abandoned.push({ item, uploadId: item.uploadId });
    } else if (r.status === "deferred") deferred.push(resumed(item, "resume" in r ? r.resume : undefined));
    else if (r.status === "failed") {
      const resume = "resume" in r ? r.resume : undefined;
      const { maxDeliveries, maxThrottledDeliveries = 0 } = deps.policy;
      const limit = r.errorClass === "throttle" ? Math.max(maxDeliveries, maxThrottledDeliveries) : maxDeliveries;
      if (r.errorClass !== "permanent" && attempts < limit) retry.push(resumed(item, resume));
      else {
        failed.push({ key: item.key, versionId: item.versionId, size: item.size, etag: item.etag, error: r.error, attempts });
        if (resume) abandoned.push({ item, uploadId: resume.uploadId });
      }
    }
  });

  const children: BatchRef[] = [];
  const jobHalted = halted > 0 || ((retry.length > 0 || deferred.length > 0) && (await deps.halt.isHalted(task.job.id)));
  if (jobHalted) {
    // A halted job enqueues nothing more: what would have been retried is counted as halted.
    for (const i of [...retry, ...deferred]) if (i.uploadId) abandoned.push({ item: i, uploadId: i.uploadId });
    halted += retry.length + deferred.length;
    retry.length = 0;
    deferred.length = 0;
  }
  const requeue = async (items: CopyItem[], attempt: number) => {
    if (items.length === 0) return;
    const { batches, unfit } = packEach(task, items, deps.limits, attempt);
    for (const { item, error } of unfit) {
      failed.push({ key: item.key, versionId: item.versionId, size: item.size, etag: item.etag, error, attempts });
      if (item.uploadId) abandoned.push({ item, uploadId: item.uploadId });
    }
    if (batches.length === 0) return;
    const delaySeconds = attempt > task.attempt ? redeliveryDelaySeconds(task.attempt, deps.random) : 0;
    await deps.sink.send(
      "copy",
      batches.map((b) => ({ body: b.body, delaySeconds })),
    );
    for (const b of batches) children.push({ batchId: b.batchId, keys: b.keys, bytes: b.bytes });
  };
  await requeue(retry, attempts);
  await requeue(deferred, task.attempt);
  // Uploads that will not resume are aborted, so no parts are left to bill (best effort, one key at a time).
  await Promise.all(
    abandoned.map(async ({ item, uploadId }) => {
      try {
        await deps.multipart?.abort(task.job.destination.bucket, destinationKey(task, item.key), uploadId, task.job.options);
      } catch {}
    }),
  );
  if (failed.length > 0) {
    const records = failed.flatMap((f) => {
      try {
        return [{ body: failureBody(task.job, task.batchId, f, f.attempts, f.error, task.op) }];
      } catch (err) {
        // No DLQ record can carry this key; its failure is still in the ledger, and this line says why.
        deps.onEvent?.({
          kind: "fault",
          jobId: task.job.id,
          batchId: task.batchId,
          key: f.key,
          versionId: f.versionId,
          error: errorInfo(err),
          errorClass: "permanent",
          attempt: f.attempts,
          stack: err instanceof Error ? err.stack : undefined,
        });
        return [];
      }
    });
    if (records.length > 0) await deps.sink.send("copyDlq", records);
    for (const f of failed)
      deps.onEvent?.({
        kind: "failed",
        jobId: task.job.id,
        batchId: task.batchId,
        key: f.key,
        versionId: f.versionId,
        error: f.error,
        errorClass: classifyError(f.error),
        attempt: f.attempts,
      });
  }
  const outcome: BatchOutcome = {
    jobId: task.job.id,
    batchId: task.batchId,
    copied,
    copiedBytes,
    vanished,
    failed,
    halted,
    children,
    copiedKeys,
    ...(task.op === "delete" ? { deletedKeys, unchanged } : {}),
  };
  // A redriven batch's copied keys are matched to the failures it recovers.
  return task.redriveOf === undefined ? outcome : { ...outcome, redriveOf: task.redriveOf };
}
