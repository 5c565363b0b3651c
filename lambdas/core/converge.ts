/**
 * Live changes: an S3 event names a key that may have changed; this brings
 * that key of the destination up to date. Events are hints, not commands:
 * they arrive duplicated and out of order, so every decision is taken from
 * HEADs of both buckets made now, never from the event. Converging a key
 * twice, or in any order, ends in the same state.
 *
 * - the source has it and the destination differs (or lacks it): copy, through
 *   the copier (retries, copies by parts, options, DLQ records, ledger);
 * - the source lacks it and the destination has it: delete, only when the job
 *   allows deletions, after one more HEAD of the source (a key the source has
 *   again is never deleted);
 * - otherwise: unchanged.
 * A key that is, or maps to, a ledger's record is ignored, as a sync --delete leaves it.
 * Each UTC day is a job of its own in the ledger (`live-YYYYMMDD`).
 */
import { type AttemptDeps, attempt } from "./attempt.ts";
import { compareObjects, SOURCE_ETAG_METADATA } from "./compare.ts";
import { type CopierDeps, copyTasks } from "./copier.ts";
import { isLedgerKey } from "./deletions.ts";
import { batchIdOf } from "./ids.ts";
import { type JobOptions, keyFilter } from "./jobOptions.ts";
import type { JobSpec } from "./jobSpec.ts";
import type { CopyItem, CopyTask, JobRef, S3Location } from "./messages.ts";
import type { BatchOutcome, Ledger, ObjectDeleter, ObjectHead, ObjectHeads } from "./ports.ts";
import { classifyError, errorInfo, retrying } from "./retry.ts";

/** Which source the live function follows and where it writes: the job definition (-c liveJob). */
export interface LiveJob {
  readonly source: S3Location;
  readonly destination: S3Location;
  readonly options?: JobOptions | undefined;
}

export type IgnoredReason =
  /** The event is of another bucket than the job's source. */
  | "bucket"
  /** The key is outside the job's source prefix. */
  | "prefix"
  /** The key, or its destination key, is a ledger's record (a job's spec, halt marker, records, run index): never touched. */
  | "ledger"
  /** The job's --include/--exclude leave the key out. */
  | "filter"
  /** The source lacks the key but the job does not allow deletions. */
  | "deleteDisabled"
  /** The day's job was halted. */
  | "halted";

export type Decision =
  | { readonly kind: "copy"; readonly key: string; readonly source: ObjectHead }
  | { readonly kind: "delete"; readonly key: string }
  | { readonly kind: "unchanged"; readonly key: string }
  | { readonly kind: "ignored"; readonly key: string; readonly reason: IgnoredReason };

export interface DecideDeps {
  readonly job: LiveJob;
  readonly allowDelete: boolean;
  readonly sourceHeads: ObjectHeads;
  /** HEADs the destination (a client of its region). */
  readonly destinationHeads: ObjectHeads;
  /** Tries of one HEAD on transient errors and throttles. @default 6 */
  readonly headTries?: number;
  readonly sleep?: (ms: number) => Promise<void>;
}

/** The day's job id: `live-YYYYMMDD`, in UTC. */
export function liveJobId(now: Date): string {
  return `live-${now.toISOString().slice(0, 10).replace(/-/g, "")}`;
}

/** The destination key of a source key, as a copy job maps it. */
export function liveDestinationKey(job: LiveJob, key: string): string {
  return job.destination.prefix + key.slice(job.source.prefix.length);
}

/** The object's HEAD, or undefined when it does not exist (404). Transient errors are retried; others throw. */
async function headOrAbsent(heads: ObjectHeads, bucket: string, key: string, deps: DecideDeps): Promise<ObjectHead | undefined> {
  try {
    return await retrying(() => heads.head(bucket, key, deps.job.options), deps.headTries, deps.sleep);
  } catch (err) {
    if (classifyError(errorInfo(err)) === "vanished") return undefined;
    throw err;
  }
}

/**
 * Same size and ETag, or a copy by parts that records the source's ETag: the destination is
 * current. compare.ts's rule, with the HEAD already in hand for the "confirm" case.
 */
export function isCurrent(source: ObjectHead, destination: ObjectHead): boolean {
  const verdict = compareObjects(
    { key: "", size: source.size, etag: source.etag },
    { key: "", size: destination.size, etag: destination.etag },
  );
  if (verdict === "same") return true;
  return verdict === "confirm" && source.etag !== undefined && destination.metadata[SOURCE_ETAG_METADATA] === source.etag;
}

/** What a key needs, from the current state of both buckets. */
export async function decide(bucket: string, key: string, deps: DecideDeps): Promise<Decision> {
  const { job } = deps;
  if (bucket !== job.source.bucket) return { kind: "ignored", key, reason: "bucket" };
  if (!key.startsWith(job.source.prefix)) return { kind: "ignored", key, reason: "prefix" };
  // As a sync --delete: bookkeeping is left alone, the source's (not data) and the destination's (a ledger there).
  if (isLedgerKey(key) || isLedgerKey(liveDestinationKey(job, key))) return { kind: "ignored", key, reason: "ledger" };
  if (!keyFilter(job.options, job.source.prefix)(key)) return { kind: "ignored", key, reason: "filter" };
  const [source, destination] = await Promise.all([
    headOrAbsent(deps.sourceHeads, job.source.bucket, key, deps),
    headOrAbsent(deps.destinationHeads, job.destination.bucket, liveDestinationKey(job, key), deps),
  ]);
  if (source !== undefined) {
    return destination !== undefined && isCurrent(source, destination) ? { kind: "unchanged", key } : { kind: "copy", key, source };
  }
  if (destination === undefined) return { kind: "unchanged", key };
  return deps.allowDelete ? { kind: "delete", key } : { kind: "ignored", key, reason: "deleteDisabled" };
}

/** Where each day's job spec is kept (S3Ledger). */
export interface SpecStore {
  readSpec(jobId: string): Promise<JobSpec | undefined>;
  writeSpec(spec: JobSpec): Promise<void>;
}

export interface ConvergeDeps extends DecideDeps {
  readonly deleter: ObjectDeleter;
  readonly specs: SpecStore;
  /** The copier's dependencies; its ledger records the invocation's outcome. */
  readonly copier: CopierDeps;
  readonly now: () => Date;
  /** Days whose spec this instance has seen written, so that it reads it once a day. */
  readonly specsSeen?: Set<string>;
}

export interface ConvergeResult {
  readonly jobId: string;
  readonly batchId: string;
  readonly decisions: ReadonlyMap<string, Decision>;
  readonly copied: readonly string[];
  readonly deleted: readonly string[];
  /** Keys already current, deletions skipped because the source had the key again included. */
  readonly unchanged: readonly string[];
  readonly ignored: ReadonlyMap<string, IgnoredReason>;
  /** Keys whose work did not settle: the messages naming them must come back. */
  readonly unsettled: ReadonlyMap<string, Error>;
}

function asError(err: unknown): Error {
  return err instanceof Error ? err : new Error(String(err));
}

/** Writes the day's spec unless it is there already. */
async function ensureSpec(jobId: string, deps: ConvergeDeps): Promise<void> {
  if (deps.specsSeen?.has(jobId)) return;
  if ((await deps.specs.readSpec(jobId)) === undefined) {
    const { job } = deps;
    await deps.specs.writeSpec({
      v: 1,
      id: jobId,
      source: { bucket: job.source.bucket, prefix: job.source.prefix },
      destination: { bucket: job.destination.bucket, prefix: job.destination.prefix },
      mode: "live",
      createdAt: deps.now().toISOString(),
      ranges: 1,
      ...(job.options === undefined ? {} : { options: job.options }),
    });
  }
  deps.specsSeen?.add(jobId);
}

/**
 * Converges every key named in one invocation (duplicates once each) and records the outcome in
 * one ledger write. `parent` tells invocations apart (the SQS message ids), so that a redelivery
 * of the same messages overwrites its record and other invocations keep theirs.
 */
export async function convergeKeys(
  hints: readonly { readonly bucket: string; readonly key: string }[],
  parent: string,
  deps: ConvergeDeps,
): Promise<ConvergeResult> {
  const jobId = liveJobId(deps.now());
  const unique = new Map<string, { bucket: string; key: string }>();
  for (const h of hints) unique.set(`${h.bucket}\0${h.key}`, h);
  const batchId = batchIdOf(
    jobId,
    [...unique.values()].map((h) => ({ key: `${h.bucket}/${h.key}` })),
    0,
    parent,
  );
  const decisions = new Map<string, Decision>();
  const unsettled = new Map<string, Error>();
  const ignored = new Map<string, IgnoredReason>();
  const unchanged: string[] = [];
  const deleted: string[] = [];
  const copied: string[] = [];
  const result = (): ConvergeResult => ({ jobId, batchId, decisions, copied, deleted, unchanged, ignored, unsettled });

  await Promise.all(
    [...unique.values()].map(async (h) => {
      try {
        const d = await decide(h.bucket, h.key, deps);
        decisions.set(h.key, d);
        if (d.kind === "ignored") ignored.set(h.key, d.reason);
        if (d.kind === "unchanged") unchanged.push(h.key);
      } catch (err) {
        unsettled.set(h.key, asError(err));
      }
    }),
  );
  const work = [...decisions.values()].filter((d) => d.kind === "copy" || d.kind === "delete");
  if (work.length === 0 && unchanged.length === 0) return result();

  await ensureSpec(jobId, deps);
  const { job } = deps;
  const jobRef: JobRef = { id: jobId, source: job.source, destination: job.destination, ...(job.options ? { options: job.options } : {}) };
  const attemptDeps: AttemptDeps = {
    halt: deps.copier.halt,
    limiter: deps.copier.limiter,
    tries: deps.copier.policy.triesPerDelivery,
    backoff: deps.copier.policy.backoff,
    remainingMs: deps.copier.remainingMs,
    safetyMs: deps.copier.safetyMs,
    sleep: deps.copier.sleep,
    random: deps.copier.random,
  };
  await Promise.all(
    work.flatMap((d) =>
      d.kind !== "delete"
        ? []
        : [
            (async () => {
              // HEAD the source once more right before the delete: a key written since the first HEAD stays.
              const done = await attempt(jobId, attemptDeps, async () => {
                const again = await headOrAbsent(deps.sourceHeads, job.source.bucket, d.key, deps);
                if (again !== undefined) return "kept" as const;
                await deps.deleter.deleteObject(job.destination.bucket, liveDestinationKey(job, d.key), job.options);
                return "deleted" as const;
              });
              if (done.status === "ok") (done.value === "deleted" ? deleted : unchanged).push(d.key);
              else if (done.status === "halted") ignored.set(d.key, "halted");
              else if (done.status === "vanished") deleted.push(d.key);
              else {
                const reason = done.status === "failed" ? `${done.error.code}: ${done.error.message}` : "no time left to delete";
                unsettled.set(d.key, Object.assign(new Error(reason), { name: done.status === "failed" ? done.error.code : "Deferred" }));
              }
            })(),
          ],
    ),
  );

  const extra = { deletedKeys: deleted, unchanged: unchanged.length };
  const items: CopyItem[] = work.flatMap((d) => (d.kind === "copy" ? [{ key: d.key, size: d.source.size, etag: d.source.etag }] : []));
  if (items.length === 0) {
    if (deleted.length + unchanged.length > 0) {
      const outcome: BatchOutcome = {
        jobId,
        batchId,
        copied: 0,
        copiedBytes: 0,
        vanished: [],
        failed: [],
        children: [],
        copiedKeys: [],
        ...extra,
      };
      await deps.copier.ledger.recordBatches([outcome]);
    }
    return result();
  }
  const task: CopyTask = { job: jobRef, batchId, attempt: 0, items };
  // The copier records the batch's outcome; the deletions and unchanged keys ride in the same record.
  let recorded: BatchOutcome | undefined;
  const withExtra = (o: BatchOutcome): BatchOutcome => {
    if (o.batchId !== batchId) return o;
    recorded = { ...o, ...extra };
    return recorded;
  };
  const ledger: Ledger = {
    recordPortion: (r) => deps.copier.ledger.recordPortion(r),
    recordBatch: (o) => deps.copier.ledger.recordBatch(withExtra(o)),
    recordBatches: (os) => deps.copier.ledger.recordBatches(os.map(withExtra)),
  };
  const [error] = await copyTasks([task], { ...deps.copier, ledger });
  if (error) for (const i of items) unsettled.set(i.key, error);
  else copied.push(...(recorded?.copiedKeys ?? []));
  return result();
}
