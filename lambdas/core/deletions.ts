/**
 * The deletion phase of a sync with --delete. Listings record, beside each
 * finished stretch, the destination keys the source lacks. When a listing
 * finishes its range it asks for a finish check; the check that finds every
 * stretch of the key space recorded decides, once, what to delete: nothing
 * when the count exceeds --max-delete, else deletion batches on the copy queue.
 * Ranges that failed are never recorded, so a job with a failed listing never
 * deletes.
 */
import { randomUUID } from "node:crypto";
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
  /** Names this check in the plan it records. @default a random UUID */
  readonly checkId?: string;
}

export type FinishResult =
  | { readonly status: "halted" }
  /** Some stretch of the key space is not listed yet (or its listing failed): nothing is decided. */
  | { readonly status: "listing"; readonly stretches: number }
  /**
   * The plan stands and its deletion batches are sent: by this check, or again by a check that found
   * the plan not yet marked sent (its decider died, or is still sending), or (sent 0) earlier.
   */
  | { readonly status: "planned"; readonly plan: DeletionPlan; readonly sent: number; readonly decidedHere: boolean }
  /** More keys than --max-delete: none is deleted. */
  | { readonly status: "refused"; readonly plan: DeletionPlan; readonly decidedHere: boolean };

/**
 * Decides the job's deletions once its whole listing is recorded. The plan is
 * written before any batch is sent and only if none exists, so two checks
 * racing act on one plan. A check that finds a plan (a duplicate check, or the
 * retry of one that died before it sent everything) sends its batches again:
 * the same ids, and a deletion done twice deletes nothing more.
 */
export async function finishListing(job: JobRef, deps: FinishDeps): Promise<FinishResult> {
  const { ledger } = deps;
  const { readExtras, readDeletionPlan, recordDeletionPlan, recordDeletionsSent } = ledger;
  if (readExtras === undefined || readDeletionPlan === undefined || recordDeletionPlan === undefined || recordDeletionsSent === undefined)
    throw new ConfigError("this ledger cannot record deletions");
  if (await deps.halt.isHalted(job.id)) return { status: "halted" };
  const earlier = await readDeletionPlan.call(ledger, job.id);
  if (earlier?.sentAt !== undefined) {
    return earlier.refused
      ? { status: "refused", plan: earlier, decidedHere: false }
      : { status: "planned", plan: earlier, sent: 0, decidedHere: false };
  }
  const records = await readExtras.call(ledger, job.id);
  if (earlier === undefined && !coversKeySpace(records.map((r) => r.range))) return { status: "listing", stretches: records.length };

  // Stretches of a range listed twice (a duplicate delivery) name the same keys: count each once.
  const keys = [...new Set(records.flatMap((r) => r.keys))].sort(compareKeys);
  const batches = packCopyBatches(
    job,
    keys.map((key) => ({ key, size: 0 })),
    deps.limits,
    0,
    "",
    "delete",
  );
  const ours = deps.checkId ?? randomUUID();
  let plan = earlier;
  if (plan === undefined) {
    const maxDelete = job.options?.maxDelete;
    const refused = maxDelete !== undefined && keys.length > maxDelete;
    plan = await recordDeletionPlan.call(ledger, {
      jobId: job.id,
      decidedBy: ours,
      decidedAt: (deps.now?.() ?? new Date()).toISOString(),
      count: keys.length,
      maxDelete,
      refused,
      protected: records.reduce((n, r) => n + r.protected, 0),
      batches: refused ? [] : batches.map((b) => ({ batchId: b.batchId, keys: b.keys, bytes: 0 })),
    });
  }
  const decidedHere = plan.decidedBy === ours;
  if (plan.refused) {
    if (decidedHere) await recordDeletionsSent.call(ledger, { ...plan, sentAt: plan.decidedAt });
    return { status: "refused", plan, decidedHere };
  }
  if (await deps.halt.isHalted(job.id)) return { status: "halted" };
  // Only what the standing plan names is sent: its count and outcomes stay the job's account.
  const planned = new Set(plan.batches.map((b) => b.batchId));
  const toSend = batches.filter((b) => planned.has(b.batchId));
  await deps.sink.send(
    "copy",
    toSend.map((b) => ({ body: b.body })),
  );
  await recordDeletionsSent.call(ledger, { ...plan, sentAt: (deps.now?.() ?? new Date()).toISOString() });
  return { status: "planned", plan, sent: toSend.length, decidedHere };
}
