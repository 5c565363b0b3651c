/**
 * The job's ledger in the simulation: the records the handlers write, each
 * write a PUT's latency. An outcome recorded again for the same batch id (a
 * duplicate delivery's) replaces the first, as an S3 PUT of the same key
 * does. Each outcome's copied keys are kept as object indexes, not strings,
 * so a million-key job holds no million strings.
 *
 * "Exactly once" is counted as the ledger counts (`account` in
 * lambdas/core/ledger.ts): from the batches the listing recorded, down their
 * retry children, each batch id once, by the outcome that stands. A twin
 * delivery whose outcome was replaced may have handed keys to children the
 * tree no longer reaches: S3 copied those keys again (harmless, idempotent),
 * and the ledger does not count them twice.
 */
import { type JobSummary, summarize } from "../../lambdas/core/ledger.ts";
import type { BatchOutcome, Ledger, PortionRecord } from "../../lambdas/core/ports.ts";
import type { VirtualClock } from "./clock.ts";
import type { SimS3, SourceKeys } from "./s3.ts";

/** The ledger's count of each object: copied by no reachable batch, by exactly one, or by more. */
export interface LedgerCount {
  /** Objects a reachable batch records copied. */
  readonly copiedOnce: number;
  /** Objects two reachable batches record copied: the pipeline emitted a key twice. */
  readonly countedTwice: number;
}

export class SimLedger implements Ledger {
  private readonly portions = new Map<string, PortionRecord>();
  private readonly outcomes = new Map<string, BatchOutcome>();
  /** The copied objects of the outcome that stands for each batch id. */
  private readonly copiedOf = new Map<string, Int32Array>();
  /** Whether some recorded outcome, standing or replaced, counted each object copied: for the time the job took. */
  private readonly seen: Uint8Array;
  /** Objects some recorded outcome counted copied, so far (the timeline's progress). */
  copiedOnce = 0;
  /** Keys the copier handed on to a later delivery (child batches: retried or deferred). */
  requeuedKeys = 0;
  /** Outcomes recorded for a batch id that already had one (duplicate deliveries). */
  rerecorded = 0;
  /** When every object was first recorded copied, in virtual ms. */
  allCopiedAt: number | undefined;

  constructor(
    private readonly clock: VirtualClock,
    private readonly s3: SimS3,
    private readonly keys: SourceKeys,
  ) {
    this.seen = new Uint8Array(keys.objects);
  }

  async recordPortion(record: PortionRecord): Promise<void> {
    await this.s3.ledgerPut();
    this.portions.set(JSON.stringify([record.range.startAfter ?? null, record.range.endAt ?? null]), record);
  }

  async recordBatch(outcome: BatchOutcome): Promise<void> {
    await this.recordBatches([outcome]);
  }

  async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    await this.s3.ledgerPut();
    for (const outcome of outcomes) {
      const { copiedKeys, ...kept } = outcome;
      const copied = new Int32Array((copiedKeys ?? []).map((key) => this.keys.indexOf(key)).filter((g) => g >= 0));
      for (const g of copied) {
        if (this.seen[g] === 0) {
          this.seen[g] = 1;
          this.copiedOnce++;
        }
      }
      if (this.copiedOnce === this.keys.objects && this.allCopiedAt === undefined) this.allCopiedAt = this.clock.now();
      if (this.outcomes.has(outcome.batchId)) this.rerecorded++;
      else for (const child of outcome.children) this.requeuedKeys += child.keys;
      this.outcomes.set(outcome.batchId, kept);
      this.copiedOf.set(outcome.batchId, copied);
    }
  }

  /** The job's summary as `report` and `status` compute it from the records. */
  summary(): JobSummary {
    return summarize([...this.portions.values()], this.outcomes);
  }

  /** Each object's copies as the ledger's tree counts them (see the file's comment). */
  count(): LedgerCount {
    const counts = new Uint8Array(this.keys.objects);
    const walked = new Set<string>();
    const stack = [...this.portions.values()].flatMap((p) => p.batches.map((b) => b.batchId));
    let copiedOnce = 0;
    let countedTwice = 0;
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (walked.has(id)) continue;
      walked.add(id);
      const outcome = this.outcomes.get(id);
      if (outcome === undefined) continue;
      for (const g of this.copiedOf.get(id) ?? []) {
        const n = counts[g] ?? 0;
        counts[g] = Math.min(255, n + 1);
        if (n === 0) copiedOnce++;
        else if (n === 1) countedTwice++;
      }
      for (const child of outcome.children) stack.push(child.batchId);
    }
    return { copiedOnce, countedTwice };
  }

  /** The failed keys the ledger holds, by error code and by deliveries. */
  failureDigest(): { byCode: Record<string, number>; byAttempts: Record<string, number>; requeuedKeys: number; rerecorded: number } {
    const byCode: Record<string, number> = {};
    const byAttempts: Record<string, number> = {};
    for (const outcome of this.outcomes.values()) {
      for (const f of outcome.failed) {
        byCode[f.error.code] = (byCode[f.error.code] ?? 0) + 1;
        byAttempts[String(f.attempts)] = (byAttempts[String(f.attempts)] ?? 0) + 1;
      }
    }
    return { byCode, byAttempts, requeuedKeys: this.requeuedKeys, rerecorded: this.rerecorded };
  }

  get portionCount(): number {
    return this.portions.size;
  }
}
