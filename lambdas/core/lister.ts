/**
 * Lists one key range page by page, emitting copy batches as it goes, and
 * hands the rest of the range to a fresh invocation before its deadline.
 * The caller acknowledges the message only after this resolves: by then the
 * continuation and every copy batch are safely enqueued.
 */
import { type BatchLimits, packCopyBatches } from "./batching.ts";
import type { HaltSignal } from "./halt.ts";
import { keyFilter } from "./jobOptions.ts";
import { type ListTask, listBody } from "./messages.ts";
import type { BatchRef, Ledger, ListedObject, ListPage, MessageSink, ObjectStore } from "./ports.ts";
import { isPastEnd, type KeyRange, rangeContains, splitPointsAfter, splitRange } from "./ranges.ts";

/** What every kind of listing (key ranges, manifests) needs to emit work and hand itself on. */
export interface ListingDeps {
  readonly sink: MessageSink;
  readonly ledger: Ledger;
  readonly halt: HaltSignal;
  readonly limits: BatchLimits;
  /** Keys (or manifest rows) per page: the unit of emitting and of continuing. @default 1000 */
  readonly pageSize: number;
  /** Milliseconds left before the invocation is cut off. */
  readonly remainingMs: () => number;
  /** Stop paging and continue elsewhere when fewer ms than this remain. */
  readonly safetyMs: number;
}

export interface ListerDeps extends ListingDeps {
  readonly store: ObjectStore;
  /** A range whose page comes back full is split into up to this many more ranges (0: never). @default 8 */
  readonly splitParts: number;
}

export interface ListResult {
  readonly listed: number;
  readonly pages: number;
  readonly batches: number;
  /** The continuation's range when the range was handed on, else undefined. */
  readonly continuedFrom?: string | undefined;
  /** True when the job's halt marker stopped the listing: nothing more was enqueued. */
  readonly halted?: boolean;
  /** Ranges split off and enqueued by this invocation. */
  readonly splits?: number;
}

export async function listRange(task: ListTask, deps: ListerDeps): Promise<ListResult> {
  const { job } = task;
  let range = task.range;
  let splits = 0;
  let token = task.token;
  let startAfter = range.startAfter;
  let listed = 0;
  let skipped = 0;
  let pages = 0;
  const selects = keyFilter(job.options, job.source.prefix);
  const emitted: BatchRef[] = [];

  for (;;) {
    if (await deps.halt.isHalted(job.id)) return { listed, pages, batches: emitted.length, halted: true };
    const page = await listPage(deps, job.source.bucket, job.source.prefix, startAfter, token);
    pages++;
    const inRange: ListedObject[] = [];
    let pastEnd = false;
    for (const o of page.objects) {
      if (isPastEnd(range, o.key)) {
        pastEnd = true;
        break;
      }
      if (!rangeContains(range, o.key) || !o.key.startsWith(job.source.prefix)) continue;
      if (selects(o.key)) inRange.push(o);
      else skipped++; // left out by the job's include/exclude patterns
    }
    if (inRange.length > 0) {
      if (await deps.halt.isHalted(job.id)) return { listed, pages, batches: emitted.length, halted: true };
      const batches = packCopyBatches(job, inRange, deps.limits);
      await deps.sink.send("copy", batches);
      for (const b of batches) emitted.push({ batchId: b.batchId, keys: b.keys, bytes: b.bytes });
      listed += inRange.length;
    }
    const last = page.objects.at(-1);
    if (pastEnd || page.nextToken === undefined) {
      await deps.ledger.recordPortion({ jobId: job.id, range, listed, skipped, batches: emitted, continued: false });
      return { listed, pages, batches: emitted.length, splits };
    }
    if (last !== undefined) startAfter = last.key;
    token = page.nextToken;
    const first = page.objects[0];
    // Only a fresh range splits, on its first page: the points then depend on the range alone, so a
    // duplicate delivery splits alike and cuts the same batches (continuations stay page-aligned).
    const fresh = task.hop === 0 && task.token === undefined && pages === 1;
    if (fresh && deps.splitParts > 0 && first !== undefined && last !== undefined && page.objects.length >= deps.pageSize) {
      const points = splitPointsAfter(first.key, last.key, range.endAt, job.source.prefix, deps.splitParts);
      if (points.length > 0) {
        if (await deps.halt.isHalted(job.id)) return { listed, pages, batches: emitted.length, halted: true };
        const [, ...others] = splitRange({ startAfter, endAt: range.endAt }, points);
        await deps.sink.send(
          "list",
          others.map((r) => ({ body: listBody({ job, range: r, hop: 0 }) })),
        );
        splits = others.length;
        range = { startAfter: range.startAfter, endAt: points[0] };
      }
    }
    if (deps.remainingMs() < deps.safetyMs) {
      if (await deps.halt.isHalted(job.id)) return { listed, pages, batches: emitted.length, halted: true };
      const rest: KeyRange = { startAfter, endAt: range.endAt };
      await deps.sink.send("list", [{ body: listBody({ job, range: rest, token, hop: task.hop + 1 }) }]);
      // Pages of no keys (e.g. over delete markers) move the token, not the key: no portion is finished yet.
      if (startAfter !== range.startAfter) {
        const done: KeyRange = { startAfter: range.startAfter, endAt: startAfter };
        await deps.ledger.recordPortion({ jobId: job.id, range: done, listed, skipped, batches: emitted, continued: true });
      }
      return { listed, pages, batches: emitted.length, continuedFrom: startAfter, splits };
    }
  }
}

/** Pages by token when there is one; a token S3 refuses falls back to StartAfter. */
async function listPage(
  deps: ListerDeps,
  bucket: string,
  prefix: string,
  startAfter: string | undefined,
  token: string | undefined,
): Promise<ListPage> {
  const maxKeys = deps.pageSize;
  if (token === undefined) return deps.store.listPage({ bucket, prefix, startAfter, maxKeys });
  try {
    return await deps.store.listPage({ bucket, prefix, token, maxKeys });
  } catch (err) {
    if (startAfter !== undefined && isInvalidArgument(err)) return deps.store.listPage({ bucket, prefix, startAfter, maxKeys });
    throw err;
  }
}

function isInvalidArgument(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as { name?: unknown }).name === "InvalidArgument";
}
