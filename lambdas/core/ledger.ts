/**
 * Completion is proven, not guessed: the finished portions must cover the
 * key space and every emitted batch (and every retry child) must have an
 * outcome. Counts are per batch id, so duplicate deliveries count once.
 */
import type { BatchOutcome, BatchRef, KeyFailure, Ledger, PortionRecord } from "./ports.ts";
import { coversKeySpace } from "./ranges.ts";

export interface JobSummary {
  readonly complete: boolean;
  readonly rangesCovered: boolean;
  readonly portions: number;
  readonly listed: number;
  readonly listedBytes: number;
  readonly copied: number;
  readonly skipped: number;
  readonly vanished: number;
  readonly failed: number;
  /** Keys left uncopied because the job was halted. */
  readonly halted: number;
  readonly bytes: number;
  /** Batches emitted (children included) without an outcome yet. */
  readonly pendingBatches: number;
}

export function summarize(portions: readonly PortionRecord[], outcomes: ReadonlyMap<string, BatchOutcome>): JobSummary {
  const emitted = new Map<string, BatchRef>();
  for (const p of portions) for (const b of p.batches) emitted.set(b.batchId, b);
  let listed = 0;
  let listedBytes = 0;
  for (const b of emitted.values()) {
    listed += b.keys;
    listedBytes += b.bytes;
  }
  let copied = 0;
  let bytes = 0;
  let vanished = 0;
  let failed = 0;
  let halted = 0;
  let pendingBatches = 0;
  // Walk from the listed batches down through retry children.
  const stack = [...emitted.keys()];
  const seen = new Set<string>();
  while (stack.length > 0) {
    const id = stack.pop() as string;
    if (seen.has(id)) continue;
    seen.add(id);
    const outcome = outcomes.get(id);
    if (!outcome) {
      pendingBatches++;
      continue;
    }
    copied += outcome.copied;
    bytes += outcome.copiedBytes;
    vanished += outcome.vanished.length;
    failed += outcome.failed.length;
    halted += outcome.halted ?? 0;
    for (const child of outcome.children) stack.push(child.batchId);
  }
  const rangesCovered = coversKeySpace(portions.map((p) => p.range));
  return {
    complete: rangesCovered && pendingBatches === 0,
    rangesCovered,
    portions: portions.length,
    listed,
    listedBytes,
    copied,
    skipped: 0,
    vanished,
    failed,
    halted,
    bytes,
    pendingBatches,
  };
}

/** The ledger of a job run in one process (local runtime, tests). */
export class InMemoryLedger implements Ledger {
  private readonly portions = new Map<string, PortionRecord>();
  private readonly outcomes = new Map<string, BatchOutcome>();

  async recordPortion(record: PortionRecord): Promise<void> {
    const key = JSON.stringify([record.range.startAfter ?? null, record.range.endAt ?? null]);
    this.portions.set(key, record);
  }

  async recordBatch(outcome: BatchOutcome): Promise<void> {
    this.outcomes.set(outcome.batchId, outcome);
  }

  summary(): JobSummary {
    return summarize([...this.portions.values()], this.outcomes);
  }

  failures(): KeyFailure[] {
    return [...this.outcomes.values()].flatMap((o) => o.failed);
  }

  vanishedKeys(): string[] {
    return [...this.outcomes.values()].flatMap((o) => o.vanished);
  }
}
