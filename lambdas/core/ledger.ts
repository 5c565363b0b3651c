/**
 * Completion is proven, not guessed: the finished portions must cover the
 * key space (for a manifest job: every seeded chunk) and every emitted batch
 * (and every retry child) must have an outcome. Counts are per batch id, so
 * duplicate deliveries count once.
 */
import { chunksCovered } from "./chunks.ts";
import type { BatchOutcome, BatchRef, KeyFailure, Ledger, PortionRecord } from "./ports.ts";
import { coversKeySpace } from "./ranges.ts";

export interface JobSummary {
  readonly complete: boolean;
  /** Every seeded unit is listed: the portions cover the key space, or (manifest jobs) every chunk is finished. */
  readonly rangesCovered: boolean;
  readonly portions: number;
  /** Finished portions that listed at least one key. */
  readonly rangesWithKeys: number;
  readonly listed: number;
  readonly listedBytes: number;
  readonly copied: number;
  /** Keys not copied on purpose: identical in the destination (sync), left out by patterns, manifest rows of another bucket or version. */
  readonly skipped: number;
  readonly vanished: number;
  readonly failed: number;
  /** Keys left uncopied because the job was halted. */
  readonly halted: number;
  readonly bytes: number;
  /** Keys deleted from the destination (sync --delete): only the destination had them. */
  readonly deleted: number;
  /** Batches emitted (children included) without an outcome yet. */
  readonly pendingBatches: number;
}

/** A key that failed to copy, with the batch whose outcome recorded it. */
export interface FailedKey extends KeyFailure {
  readonly batchId: string;
}

/** A job's summary with the keys behind its failed and vanished counts. */
export interface JobAccount {
  readonly summary: JobSummary;
  /** Failed keys, one per key, minus those a redrive copied or found vanished; the latest error of each. */
  readonly failures: readonly FailedKey[];
  readonly vanishedKeys: readonly string[];
  /** With `keys`: every copy of a key the job's batches record, one entry per copy (a key copied twice is there twice). */
  readonly copiedKeys?: readonly string[];
}

export function summarize(portions: readonly PortionRecord[], outcomes: ReadonlyMap<string, BatchOutcome>): JobSummary {
  return account(portions, outcomes).summary;
}

/**
 * Counts a job from its records. The listed batches and their retry
 * children are walked first. Redriven batches (outcomes with `redriveOf`)
 * are reachable from no portion: their trees are walked next, and a key
 * that failed and that a redrive later copied (or found vanished) counts
 * once, as copied (or vanished), not as failed.
 */
export function account(
  portions: readonly PortionRecord[],
  outcomes: ReadonlyMap<string, BatchOutcome>,
  options: { readonly keys?: boolean } = {},
): JobAccount {
  const copiedKeys: string[] = [];
  const emitted = new Map<string, BatchRef>();
  for (const p of portions) for (const b of p.batches) emitted.set(b.batchId, b);
  let listed = 0;
  let listedBytes = 0;
  for (const b of emitted.values()) {
    listed += b.keys;
    listedBytes += b.bytes;
  }
  // Keys a sync found identical were listed too, though no batch carried them.
  for (const p of portions) listed += p.identical?.length ?? 0;
  let copied = 0;
  let deleted = 0;
  let bytes = 0;
  let halted = 0;
  let pendingBatches = 0;
  const vanishedKeys: string[] = [];
  const failures = new Map<string, FailedKey>();
  const seen = new Set<string>();
  /** Walks a tree of batches (a batch and its retry children), each batch once. */
  const walk = (roots: Iterable<string>, visit: (outcome: BatchOutcome) => void) => {
    const stack = [...roots];
    while (stack.length > 0) {
      const id = stack.pop() as string;
      if (seen.has(id)) continue;
      seen.add(id);
      const outcome = outcomes.get(id);
      if (!outcome) {
        pendingBatches++;
        continue;
      }
      visit(outcome);
      for (const child of outcome.children) stack.push(child.batchId);
    }
  };

  // Walk from the listed batches down through retry children.
  walk(emitted.keys(), (outcome) => {
    if (options.keys) copiedKeys.push(...(outcome.copiedKeys ?? []));
    copied += outcome.copied;
    deleted += outcome.deletedKeys?.length ?? 0;
    bytes += outcome.copiedBytes;
    vanishedKeys.push(...outcome.vanished);
    halted += outcome.halted ?? 0;
    for (const f of outcome.failed) failures.set(f.key, { ...f, batchId: outcome.batchId });
  });

  // Then every redrive tree: what it settled, and the latest error of what failed again.
  const recovered = new Map<string, "copied" | "vanished">();
  const failedAgain = new Map<string, FailedKey>();
  const redriveRoots = [...outcomes.values()].filter((o) => o.redriveOf !== undefined && !seen.has(o.batchId)).map((o) => o.batchId);
  walk(redriveRoots, (outcome) => {
    for (const key of outcome.copiedKeys ?? []) recovered.set(key, "copied");
    for (const key of outcome.vanished) if (recovered.get(key) !== "copied") recovered.set(key, "vanished");
    for (const f of outcome.failed) failedAgain.set(f.key, { ...f, batchId: outcome.batchId });
  });
  // Only keys that failed move: a redrive of a key already counted copied changes nothing.
  for (const [key, failure] of failures) {
    const settled = recovered.get(key);
    if (settled === "copied") {
      if (options.keys) copiedKeys.push(key);
      copied++;
      bytes += failure.size;
      failures.delete(key);
    } else if (settled === "vanished") {
      vanishedKeys.push(key);
      failures.delete(key);
    } else {
      const again = failedAgain.get(key);
      if (again) failures.set(key, again);
    }
  }

  // A manifest job's portions name chunks; their ranges are empty labels.
  const manifest = portions.some((p) => p.chunk !== undefined);
  const rangesCovered = manifest ? chunksCovered(portions) : coversKeySpace(portions.map((p) => p.range));
  const skipped = portions.reduce((n, p) => n + (p.skipped ?? 0), 0);
  return {
    summary: {
      complete: rangesCovered && pendingBatches === 0,
      rangesCovered,
      portions: portions.length,
      rangesWithKeys: portions.filter((p) => p.listed > 0).length,
      listed,
      listedBytes,
      copied,
      skipped,
      vanished: vanishedKeys.length,
      failed: failures.size,
      halted,
      bytes,
      deleted,
      pendingBatches,
    },
    failures: [...failures.values()],
    vanishedKeys,
    ...(options.keys ? { copiedKeys } : {}),
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

  async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    for (const o of outcomes) await this.recordBatch(o);
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

  /** Every copy the job's batches record, one entry per copy. */
  copiedKeys(): readonly string[] {
    return account([...this.portions.values()], this.outcomes, { keys: true }).copiedKeys ?? [];
  }
}
