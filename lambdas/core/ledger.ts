/**
 * Completion is proven, not guessed: the finished portions must cover the
 * key space (for a manifest job: every seeded chunk) and every emitted batch
 * (and every retry child) must have an outcome. Counts are per batch id, so
 * duplicate deliveries count once.
 *
 * A halted job is never complete while a key was left uncopied because of the
 * halt. Once its halt marker exists, a batch without an outcome will never get
 * one (halt purged its message, or a handler drops it on sight): its keys
 * count as halted, so every listed key is in exactly one of copied, skipped,
 * vanished, failed or halted.
 */
import { chunksCovered } from "./chunks.ts";
import type { BatchOutcome, BatchRef, DeletionPlan, ExtrasRecord, KeyFailure, Ledger, PortionRecord } from "./ports.ts";
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
  /**
   * Keys left uncopied because the job was halted: those a copier stopped at, and (once the halt
   * marker exists) those of every batch the halt left without an outcome.
   */
  readonly halted: number;
  readonly bytes: number;
  /** Keys deleted from the destination (sync --delete): only the destination had them. */
  readonly deleted: number;
  /** Keys only the destination had, once the listing was done (sync --delete). */
  readonly toDelete: number;
  /** True when a sync --delete found more than --max-delete such keys and deleted none. */
  readonly deletionsRefused: boolean;
  /** Batches emitted (children included) without an outcome yet; 0 once the job is halted. */
  readonly pendingBatches: number;
  /** Batches a halt left without an outcome (their messages purged): their keys are counted in `halted`. */
  readonly purgedBatches: number;
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
  /** With `keys`: every key deleted from the destination (source key space). */
  readonly deletedKeys?: readonly string[];
}

/** A job's deletion phase as its records show it. */
export interface DeletionState {
  /** The job deletes (sync --delete): it is complete only once its deletions are planned and done. */
  readonly expected: boolean;
  readonly plan?: DeletionPlan | undefined;
}

/** @param halted the job's halt marker exists (see `account`). */
export function summarize(
  portions: readonly PortionRecord[],
  outcomes: ReadonlyMap<string, BatchOutcome>,
  deletion?: DeletionState,
  halted = false,
): JobSummary {
  return account(portions, outcomes, { deletion, halted }).summary;
}

export interface AccountOptions {
  /** Name the copied and deleted keys (report --all). */
  readonly keys?: boolean;
  readonly deletion?: DeletionState | undefined;
  /**
   * The job's halt marker exists: batches without an outcome are purged, not pending, and their keys
   * count as halted; so do those of batches the listing emitted in a stretch it never recorded
   * because the halt stopped it (their outcomes are reachable from no portion).
   */
  readonly halted?: boolean;
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
  options: AccountOptions = {},
): JobAccount {
  const haltMarked = options.halted === true;
  const copiedKeys: string[] = [];
  const deletedKeys: string[] = [];
  const emitted = new Map<string, BatchRef>();
  for (const p of portions) for (const b of p.batches) emitted.set(b.batchId, b);
  const plan = options.deletion?.plan;
  // Deletion batches carry no listed keys: they are walked for their outcomes, not counted as listed.
  const deletionBatches = plan?.batches ?? [];
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
  let purgedBatches = 0;
  const vanishedKeys: string[] = [];
  const failures = new Map<string, FailedKey>();
  const seen = new Set<string>();
  /**
   * Walks a tree of batches (a batch and its retry children), each batch once. A batch without an
   * outcome is pending; in a halted job it is purged, and its keys are halted when `haltsKeys`.
   */
  const walk = (roots: Iterable<BatchRef>, visit: (outcome: BatchOutcome) => void, haltsKeys = true) => {
    const stack = [...roots];
    while (stack.length > 0) {
      const ref = stack.pop() as BatchRef;
      if (seen.has(ref.batchId)) continue;
      seen.add(ref.batchId);
      const outcome = outcomes.get(ref.batchId);
      if (!outcome) {
        if (!haltMarked) pendingBatches++;
        else {
          purgedBatches++;
          if (haltsKeys) halted += ref.keys;
        }
        continue;
      }
      visit(outcome);
      stack.push(...outcome.children);
    }
  };
  const settled = (outcome: BatchOutcome) => {
    if (options.keys) copiedKeys.push(...(outcome.copiedKeys ?? []));
    if (options.keys) deletedKeys.push(...(outcome.deletedKeys ?? []));
    copied += outcome.copied;
    deleted += outcome.deletedKeys?.length ?? 0;
    bytes += outcome.copiedBytes;
    vanishedKeys.push(...outcome.vanished);
    halted += outcome.halted ?? 0;
    for (const f of outcome.failed) failures.set(f.key, { ...f, batchId: outcome.batchId });
  };

  // Walk from the listed batches (and deletion batches) down through retry children.
  walk([...emitted.values(), ...deletionBatches], settled);
  if (haltMarked) {
    // A listing stopped by the halt sent batches from a stretch it never recorded: their outcomes are
    // reachable from no portion. Their keys were listed, and are counted as their outcomes say.
    const childIds = new Set([...outcomes.values()].flatMap((o) => o.children.map((c) => c.batchId)));
    const named = new Set([...outcomes.values()].filter((o) => seen.has(o.batchId)).flatMap(namedKeys));
    for (const o of outcomes.values()) {
      if (seen.has(o.batchId) || o.redriveOf !== undefined || childIds.has(o.batchId)) continue;
      // A batch whose keys the walk already met is a repeat (a listing redelivered and cut anew), not more keys.
      const names = namedKeys(o);
      if (names.some((k) => named.has(k))) continue;
      // And one unreachable outcome may repeat another: the first counted stands.
      for (const k of names) named.add(k);
      const keys = o.copied + o.vanished.length + o.failed.length + (o.halted ?? 0) + o.children.reduce((n, c) => n + c.keys, 0);
      listed += keys;
      // Bytes as far as the outcome tells them: a vanished or halted key's size is not recorded.
      listedBytes += o.copiedBytes + o.failed.reduce((n, f) => n + f.size, 0) + o.children.reduce((n, c) => n + c.bytes, 0);
      walk([{ batchId: o.batchId, keys, bytes: 0 }], settled);
    }
  }

  // Then every redrive tree: what it settled, and the latest error of what failed again.
  const recovered = new Map<string, "copied" | "vanished" | "deleted">();
  const failedAgain = new Map<string, FailedKey>();
  const redriveRoots = [...outcomes.values()]
    .filter((o) => o.redriveOf !== undefined && !seen.has(o.batchId))
    .map((o) => ({ batchId: o.batchId, keys: 0, bytes: 0 }));
  // A redrive's keys are counted failed until it settles them: one the halt purged leaves them failed, not halted.
  walk(
    redriveRoots,
    (outcome) => {
      deleted += outcome.deletedKeys?.length ?? 0;
      if (options.keys) deletedKeys.push(...(outcome.deletedKeys ?? []));
      for (const key of outcome.copiedKeys ?? []) recovered.set(key, "copied");
      for (const key of outcome.deletedKeys ?? []) recovered.set(key, "deleted");
      for (const key of outcome.vanished) if (recovered.get(key) !== "copied") recovered.set(key, "vanished");
      for (const f of outcome.failed) failedAgain.set(f.key, { ...f, batchId: outcome.batchId });
    },
    false,
  );
  // Only keys that failed move: a redrive of a key already counted copied changes nothing.
  for (const [key, failure] of failures) {
    const settled = recovered.get(key);
    if (settled === "copied") {
      if (options.keys) copiedKeys.push(key);
      copied++;
      bytes += failure.size;
      failures.delete(key);
    } else if (settled === "deleted") {
      failures.delete(key); // a redriven deletion that went through: counted in `deleted` above
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
  // A job that deletes is done only once its deletions are decided (after the whole listing) and settled.
  const deletionsDecided = options.deletion?.expected !== true || plan !== undefined;
  return {
    summary: {
      // A key left uncopied by a halt keeps the job from being complete, whatever else settled.
      complete: rangesCovered && pendingBatches === 0 && deletionsDecided && halted === 0,
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
      toDelete: plan?.count ?? 0,
      deletionsRefused: plan?.refused ?? false,
      pendingBatches,
      purgedBatches,
    },
    failures: [...failures.values()],
    vanishedKeys,
    ...(options.keys ? { copiedKeys, deletedKeys } : {}),
  };
}

/** The keys an outcome names (those copied, vanished or failed); halted keys go unnamed. */
function namedKeys(o: BatchOutcome): string[] {
  return [...(o.copiedKeys ?? []), ...o.vanished, ...o.failed.map((f) => f.key)];
}

/** The ledger of a job run in one process (local runtime, tests). */
export class InMemoryLedger implements Ledger {
  private readonly portions = new Map<string, PortionRecord>();
  private readonly outcomes = new Map<string, BatchOutcome>();
  private readonly extras = new Map<string, ExtrasRecord>();
  private plan: DeletionPlan | undefined;

  /** @param deletes the job deletes (sync --delete): its summary waits for the deletion plan. */
  constructor(private readonly deletes = false) {}

  async recordExtras(record: ExtrasRecord): Promise<void> {
    this.extras.set(JSON.stringify([record.range.startAfter ?? null, record.range.endAt ?? null]), record);
  }

  async readExtras(): Promise<ExtrasRecord[]> {
    return [...this.extras.values()];
  }

  async recordDeletionPlan(plan: DeletionPlan): Promise<DeletionPlan> {
    this.plan ??= plan;
    return this.plan;
  }

  async readDeletionPlan(): Promise<DeletionPlan | undefined> {
    return this.plan;
  }

  async recordDeletionsSent(plan: DeletionPlan): Promise<void> {
    this.plan = plan;
  }

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
    return summarize([...this.portions.values()], this.outcomes, { expected: this.deletes, plan: this.plan });
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
