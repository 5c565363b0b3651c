/**
 * The job's ledger in the simulation: the records the handlers write, each
 * write a PUT's latency, counted as the ledger counts (per batch id, so a
 * duplicate delivery counts once). The keys of each batch's copies are
 * counted per object into an array and then dropped, so a million-key job
 * holds no million strings.
 */
import { type JobSummary, summarize } from "../../lambdas/core/ledger.ts";
import type { BatchOutcome, Ledger, PortionRecord } from "../../lambdas/core/ports.ts";
import type { VirtualClock } from "./clock.ts";
import type { SimS3, SourceKeys } from "./s3.ts";

export class SimLedger implements Ledger {
  private readonly portions = new Map<string, PortionRecord>();
  private readonly outcomes = new Map<string, BatchOutcome>();
  /** How many recorded batches (each batch id once) copied each object. */
  readonly counted: Uint8Array;
  /** Objects the ledger counts as copied at least once. */
  copiedOnce = 0;
  /** Objects that two different batches recorded as copied: the pipeline emitted a key twice. */
  countedTwice = 0;
  /** When the ledger first counted every object copied, in virtual ms. */
  allCopiedAt: number | undefined;

  constructor(
    private readonly clock: VirtualClock,
    private readonly s3: SimS3,
    private readonly keys: SourceKeys,
  ) {
    this.counted = new Uint8Array(keys.objects);
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
      if (!this.outcomes.has(outcome.batchId)) {
        for (const key of copiedKeys ?? []) {
          const g = this.keys.indexOf(key);
          if (g < 0) continue;
          const n = this.counted[g] ?? 0;
          this.counted[g] = Math.min(255, n + 1);
          if (n === 0) this.copiedOnce++;
          else if (n === 1) this.countedTwice++;
        }
        if (this.copiedOnce === this.keys.objects && this.allCopiedAt === undefined) this.allCopiedAt = this.clock.now();
      }
      this.outcomes.set(outcome.batchId, kept);
    }
  }

  /** The job's summary as `report` and `status` compute it from the records. */
  summary(): JobSummary {
    return summarize([...this.portions.values()], this.outcomes);
  }

  get portionCount(): number {
    return this.portions.size;
  }
}
