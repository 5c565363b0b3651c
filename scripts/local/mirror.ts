/**
 * The local runtime's ledger: the durable one (S3) and an in-memory mirror
 * that the progress display and the end of the job read counts from.
 */
import type { BatchOutcome, DeletionPlan, ExtrasRecord, Ledger, PortionRecord } from "../../lambdas/core/ports.ts";

/** What the mirror keeps of an outcome: counts, not the copied keys (a redrive's outcome whole, as accounting needs it). */
export function forMirror(o: BatchOutcome): BatchOutcome {
  return o.redriveOf === undefined ? { ...o, copiedKeys: undefined, deletedKeys: o.deletedKeys?.map(() => "") } : o;
}

/**
 * Writes to the durable ledger first, then keeps counts in a mirror for
 * progress. The mirror drops the copied keys, so a copy job's stays small
 * however big the job.
 */
export class MirroredLedger implements Ledger {
  constructor(
    private readonly durable: Ledger,
    private readonly mirror: Ledger,
  ) {}

  async recordPortion(record: PortionRecord): Promise<void> {
    await this.durable.recordPortion(record);
    await this.mirror.recordPortion(record);
  }

  async recordBatch(outcome: BatchOutcome): Promise<void> {
    await this.recordBatches([outcome]);
  }

  async recordExtras(record: ExtrasRecord): Promise<void> {
    await this.durable.recordExtras?.(record);
    await this.mirror.recordExtras?.({ ...record, keys: [] });
  }

  /** Reads come from the durable ledger: what every list invocation wrote. */
  async readExtras(jobId: string): Promise<ExtrasRecord[]> {
    return (await this.durable.readExtras?.(jobId)) ?? [];
  }

  async recordDeletionPlan(plan: DeletionPlan): Promise<DeletionPlan> {
    const standing = (await this.durable.recordDeletionPlan?.(plan)) ?? plan;
    await this.mirror.recordDeletionPlan?.(standing);
    return standing;
  }

  async recordDeletionsSent(plan: DeletionPlan): Promise<void> {
    await this.durable.recordDeletionsSent?.(plan);
    await this.mirror.recordDeletionsSent?.(plan);
  }

  async readDeletionPlan(jobId: string): Promise<DeletionPlan | undefined> {
    return this.durable.readDeletionPlan?.(jobId);
  }

  async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    await this.durable.recordBatches(outcomes);
    await this.mirror.recordBatches(outcomes.map(forMirror));
  }
}
