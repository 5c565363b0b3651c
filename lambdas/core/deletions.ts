/**
 * The deletion phase of a sync with --delete. Listings record, beside each
 * finished stretch, the destination keys the source lacks. When a listing
 * finishes its range it asks for a finish check; the check that finds every
 * stretch of the key space recorded decides, once, what to delete: nothing
 * when the count exceeds --max-delete, else deletion batches on the copy queue.
 * Ranges that failed are never recorded, so a job with a failed listing never
 * deletes. The batches go out before the plan is written: a check that dies
 * between the two is retried and sends the same batches (same ids) again.
 */
import { type BatchLimits, packCopyBatches } from "./batching.ts";
import { ConfigError } from "./errors.ts";
import type { HaltSignal } from "./halt.ts";
import { compareKeys } from "./keyOrder.ts";
import type { JobRef } from "./messages.ts";
import type { DeletionPlan, Ledger, MessageSink } from "./ports.ts";
import { coversKeySpace } from "./ranges.ts";

/**
 * Whether a destination key is a job ledger's record (ours: `<prefix>jobs/<job id>/…`, the local
 * runtime's `.s3-fanout/`, a schedule's run index): a sync never deletes bookkeeping, its own or another job's.
 */
export function isLedgerKey(key: string): boolean {
  return (
    /(^|\/)\.s3-fanout\//s.test(key) ||
    /(^|\/)jobs\/[A-Za-z0-9_-]{1,64}\/(spec\.json|halt\.json|deletion-plan\.json|(portions|batches|extras)\/[^/]+\.json)$/s.test(key) ||
    /(^|\/)schedules\/[^/]+\/runs\/[^/]+\.json$/s.test(key)
  );
}

/** Destination keys (source key space) kept per extras record before a listing hands on the rest of its range. */
export const EXTRAS_PER_RECORD = 10_000;

export interface FinishDeps {
  readonly ledger: Ledger;
  readonly sink: MessageSink;
  readonly halt: HaltSignal;
  readonly limits: BatchLimits;
  readonly now?: () => Date;
}

export type FinishResult =
  | { readonly status: "halted" }
  /** Some stretch of the key space is not listed yet (or its listing failed): nothing is decided. */
  | { readonly status: "listing"; readonly stretches: number }
  /** An earlier check decided already. */
  | { readonly status: "decided"; readonly plan: DeletionPlan }
  | { readonly status: "planned"; readonly plan: DeletionPlan }
  /** More keys than --max-delete: none is deleted. */
  | { readonly status: "refused"; readonly plan: DeletionPlan };

export async function finishListing(job: JobRef, deps: FinishDeps): Promise<FinishResult> {
  const { ledger } = deps;
  const { readExtras, readDeletionPlan, recordDeletionPlan } = ledger;
  if (readExtras === undefined || readDeletionPlan === undefined || recordDeletionPlan === undefined)
    throw new ConfigError("this ledger cannot record deletions");
  if (await deps.halt.isHalted(job.id)) return { status: "halted" };
  const earlier = await readDeletionPlan.call(ledger, job.id);
  if (earlier !== undefined) return { status: "decided", plan: earlier };
  const records = await readExtras.call(ledger, job.id);
  if (!coversKeySpace(records.map((r) => r.range))) return { status: "listing", stretches: records.length };

  // Stretches of a range listed twice (a duplicate delivery) name the same keys: count each once.
  const keys = [...new Set(records.flatMap((r) => r.keys))].sort(compareKeys);
  const base = {
    jobId: job.id,
    decidedAt: (deps.now?.() ?? new Date()).toISOString(),
    count: keys.length,
    maxDelete: job.options?.maxDelete,
    protected: records.reduce((n, r) => n + r.protected, 0),
  };
  const maxDelete = job.options?.maxDelete;
  if (maxDelete !== undefined && keys.length > maxDelete) {
    const plan: DeletionPlan = { ...base, refused: true, batches: [] };
    await recordDeletionPlan.call(ledger, plan);
    return { status: "refused", plan };
  }
  const batches = packCopyBatches(
    job,
    keys.map((key) => ({ key, size: 0 })),
    deps.limits,
    0,
    "",
    "delete",
  );
  if (await deps.halt.isHalted(job.id)) return { status: "halted" };
  await deps.sink.send(
    "copy",
    batches.map((b) => ({ body: b.body })),
  );
  const plan: DeletionPlan = { ...base, refused: false, batches: batches.map((b) => ({ batchId: b.batchId, keys: b.keys, bytes: 0 })) };
  await recordDeletionPlan.call(ledger, plan);
  return { status: "planned", plan };
}
