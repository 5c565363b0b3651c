/**
 * Lists one key range page by page, emitting copy batches as it goes, and
 * hands the rest of the range to a fresh invocation before its deadline.
 * The caller acknowledges the message only after this resolves: by then the
 * continuation and every copy batch are safely enqueued.
 */
import { type BatchLimits, packCopyBatches } from "./batching.ts";
import { EXTRAS_PER_RECORD, isLedgerKey } from "./deletions.ts";
import { ConfigError } from "./errors.ts";
import type { HaltSignal } from "./halt.ts";
import { keyFilter } from "./jobOptions.ts";
import { compareKeys } from "./keyOrder.ts";
import { finishBody, type ListTask, listBody } from "./messages.ts";
import type { BatchRef, Ledger, ListedObject, ListPage, MessageSink, ObjectHeads, ObjectStore } from "./ports.ts";
import { isPastEnd, type KeyRange, rangeContains, splitPoints, splitRange } from "./ranges.ts";
import { SQS_MAX_DELAY_SECONDS } from "./retry.ts";
import { DestinationCursor, partitionIdentical, type SyncDeps } from "./sync.ts";

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
  /** A range that proves large is split into up to this many more ranges (0: never). @default 8 */
  readonly splitParts: number;
  /**
   * A fresh range proves large when this many pages in a row come back full; it then splits. Waiting
   * for a few pages keeps small ranges whole: each range costs its own messages, listings and records.
   * @default DEFAULT_SPLIT_AFTER_PAGES
   */
  readonly splitAfterPages?: number | undefined;
  /**
   * Pages a split-off range is expected to hold, at least: a range whose rest is expected to hold
   * fewer than two such parts stays whole. @default DEFAULT_SPLIT_PART_PAGES
   */
  readonly splitPartPages?: number | undefined;
  /**
   * The i-th range split off waits i times this many seconds before it can be received: the first
   * parts of every range come before the second parts of any, so the list function's concurrency is
   * shared over a bucket's prefixes instead of going to those that split first. @default 0
   */
  readonly splitStaggerSeconds?: number | undefined;
  /** Sync jobs HEAD a destination object whose multipart ETag cannot be compared by listing. */
  readonly heads?: ObjectHeads | undefined;
  /** A finished stretch is recorded at least every this many pages, so no record grows without bound. @default 10 */
  readonly portionPages?: number | undefined;
  /** sync --delete: keys only the destination has, kept per record before the range is handed on. @default EXTRAS_PER_RECORD */
  readonly extrasPerRecord?: number | undefined;
}

/** Full pages (3,000 keys) after which a fresh range splits, by default. */
export const DEFAULT_SPLIT_AFTER_PAGES = 3;

/**
 * Pages (20,000 keys) a split-off range is expected to hold, by default. A range costs a message,
 * a portion record and a part-full page or two of listing; over 20,000 keys that is under 0.0003 requests
 * a key, and a sync, which lists twice, stays near its floor of two listings per 1,000 keys.
 */
export const DEFAULT_SPLIT_PART_PAGES = 20;

/** Pages per portion record by default: 10,000 keys, a record of a few hundred KiB at most. */
export const DEFAULT_PORTION_PAGES = 10;

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
  /** Destination keys the source lacks that this invocation recorded for deletion (sync --delete). */
  readonly extra?: number;
}

export async function listRange(task: ListTask, deps: ListerDeps): Promise<ListResult> {
  const { job } = task;
  let range = task.range;
  let splits = 0;
  let token = task.token;
  let startAfter = range.startAfter;
  let total = 0;
  let pages = 0;
  let batches = 0;
  const selects = keyFilter(job.options, job.source.prefix);
  const portionPages = deps.portionPages ?? DEFAULT_PORTION_PAGES;
  const splitAfter = deps.splitAfterPages ?? DEFAULT_SPLIT_AFTER_PAGES;
  let fullPages = 0;
  /** The keys of a fresh range's first pages: which characters each position of its keys shows. */
  const sample: string[] = [];
  let firstKey: string | undefined;
  const sync = job.options?.sync === true ? syncCursor(task, deps) : undefined;
  /** What the current portion (range.startAfter, startAfter] holds so far. */
  let portion = emptyPortion();
  let portionStartPage = 0;
  const stopped = () => ({ listed: total, pages, batches, halted: true });
  const deletes = sync !== undefined && job.options?.delete === true ? sync : undefined;
  const extrasPerRecord = deps.extrasPerRecord ?? EXTRAS_PER_RECORD;
  let extra = 0;
  /**
   * A job with deletions records, before each stretch's portion, the destination keys the source
   * lacks up to the stretch's end (`sourceHasEnd`: the source has that key, the last one of a page).
   */
  const recordExtras = async (stretch: KeyRange, sourceHasEnd: boolean) => {
    if (deletes === undefined) return;
    if (deps.ledger.recordExtras === undefined) throw new ConfigError("this ledger cannot record deletions");
    await deletes.cursor.passTo(stretch.endAt, sourceHasEnd);
    const keys: string[] = [];
    let kept = 0;
    for (const key of deletes.cursor.takeExtra()) {
      if (!selects(key)) continue; // outside the job's patterns: not in the selection, never deleted
      if (isLedgerKey(deletes.destination.key(key))) kept++;
      else keys.push(key);
    }
    extra += keys.length;
    await deps.ledger.recordExtras({ jobId: job.id, range: stretch, keys, protected: kept });
  };
  const record = async (stretch: KeyRange, continued: boolean, sourceHasEnd = continued) => {
    await recordExtras(stretch, sourceHasEnd);
    await deps.ledger.recordPortion({
      jobId: job.id,
      range: stretch,
      listed: portion.listed,
      skipped: portion.skipped,
      batches: portion.emitted,
      continued,
      ...(sync === undefined ? {} : { identical: portion.identical }),
    });
  };

  for (;;) {
    if (await deps.halt.isHalted(job.id)) return stopped();
    const page = await listPage(deps, job.source.bucket, job.source.prefix, startAfter, token);
    pages++;
    let inRange: ListedObject[] = [];
    /** Keys left out by the job's include/exclude patterns. */
    let filtered: string[] = [];
    let pastEnd = false;
    for (const o of page.objects) {
      if (isPastEnd(range, o.key)) {
        pastEnd = true;
        break;
      }
      if (!rangeContains(range, o.key) || !o.key.startsWith(job.source.prefix)) continue;
      if (selects(o.key)) inRange.push(o);
      else filtered.push(o.key);
    }
    /** Set when a long run of keys only the destination has filled a record: the range goes on from here. */
    let handOnFrom: { readonly through: string; readonly sourceHas: boolean } | undefined;
    if (sync !== undefined && inRange.length > 0) {
      const selected = inRange;
      const limit = deletes === undefined ? Number.POSITIVE_INFINITY : extrasPerRecord;
      const { toCopy, identical, handled } = await partitionIdentical(selected, sync.cursor, sync.deps, sync.destination, limit);
      if (handled < selected.length) {
        // The stretch ends at the last kept key, or at the last source key handled if that is later
        // (then nothing listed is listed again).
        const lastExtra = sync.cursor.lastExtra() as string;
        const lastHandled = handled > 0 ? (selected[handled - 1] as ListedObject).key : startAfter;
        handOnFrom =
          lastHandled !== undefined && compareKeys(lastHandled, lastExtra) > 0
            ? { through: lastHandled, sourceHas: true }
            : { through: lastExtra, sourceHas: false };
        const through = handOnFrom.through;
        filtered = filtered.filter((k) => compareKeys(k, through) <= 0);
      }
      portion.listed += identical.length;
      portion.skipped += identical.length;
      portion.identical.push(...identical);
      total += identical.length;
      inRange = toCopy;
    }
    portion.skipped += filtered.length;
    if (inRange.length > 0) {
      if (await deps.halt.isHalted(job.id)) return stopped();
      const packed = packCopyBatches(job, inRange, deps.limits);
      await deps.sink.send("copy", packed);
      for (const b of packed) portion.emitted.push({ batchId: b.batchId, keys: b.keys, bytes: b.bytes });
      batches += packed.length;
      portion.listed += inRange.length;
      total += inRange.length;
    }
    if (handOnFrom !== undefined) {
      if (await deps.halt.isHalted(job.id)) return stopped();
      const { through, sourceHas } = handOnFrom;
      await deps.sink.send("list", [{ body: listBody({ job, range: { startAfter: through, endAt: range.endAt }, hop: task.hop + 1 }) }]);
      await record({ startAfter: range.startAfter, endAt: through }, true, sourceHas);
      return { listed: total, pages, batches, continuedFrom: through, splits, extra };
    }
    const last = page.objects.at(-1);
    if (pastEnd || page.nextToken === undefined) {
      // At least a record's worth of keys is drained before handing on: the hand-off point then lies past
      // every source key this invocation handled.
      const drain = deletes === undefined ? 0 : deletes.cursor.extraCount() + extrasPerRecord;
      if (deletes !== undefined && !(await deletes.cursor.passTo(range.endAt, false, drain))) {
        // More keys only in the destination than one record should hold: record up to the last one and
        // hand on the rest of the range (the source has nothing more before it is past the range).
        if (await deps.halt.isHalted(job.id)) return stopped();
        const through = deletes.cursor.lastExtra() as string;
        await deps.sink.send("list", [{ body: listBody({ job, range: { startAfter: through, endAt: range.endAt }, hop: task.hop + 1 }) }]);
        await record({ startAfter: range.startAfter, endAt: through }, true, false);
        return { listed: total, pages, batches, continuedFrom: through, splits, extra };
      }
      await record(range, false);
      if (deletes !== undefined) {
        // Whoever finishes the last range sees every stretch recorded and plans the deletions.
        if (await deps.halt.isHalted(job.id)) return stopped();
        await deps.sink.send("list", [{ body: finishBody(job) }]);
      }
      return { listed: total, pages, batches, splits, ...(deletes === undefined ? {} : { extra }) };
    }
    if (last !== undefined) startAfter = last.key;
    token = page.nextToken;
    if (page.objects.length >= deps.pageSize) fullPages++;
    if (pages <= splitAfter && task.hop === 0 && task.token === undefined) for (const o of page.objects) sample.push(o.key);
    if (firstKey === undefined) firstKey = page.objects[0]?.key;
    // Only a fresh range splits, within its first invocation: the points then depend on the range's
    // keys alone, so a duplicate delivery splits alike and cuts the same batches.
    const fresh = task.hop === 0 && task.token === undefined && pages === splitAfter && fullPages === pages;
    if (fresh && deps.splitParts > 0 && firstKey !== undefined && last !== undefined) {
      const points = splitPoints({
        first: firstKey,
        last: last.key,
        endAt: range.endAt,
        prefix: job.source.prefix,
        // At the split, pages === splitAfter: the sample holds every key listed so far.
        listed: sample.length,
        sample,
        perPart: (deps.splitPartPages ?? DEFAULT_SPLIT_PART_PAGES) * deps.pageSize,
        parts: deps.splitParts,
      });
      if (points.length > 0) {
        if (await deps.halt.isHalted(job.id)) return stopped();
        const [, ...others] = splitRange({ startAfter, endAt: range.endAt }, points);
        await deps.sink.send(
          "list",
          others.map((r, i) => {
            const body = listBody({ job, range: r, hop: 0 });
            const stagger = deps.splitStaggerSeconds ?? 0;
            return stagger > 0 ? { body, delaySeconds: Math.min(SQS_MAX_DELAY_SECONDS, (i + 1) * stagger) } : { body };
          }),
        );
        splits = others.length;
        range = { startAfter: range.startAfter, endAt: points[0] };
      }
    }
    if (deps.remainingMs() < deps.safetyMs) {
      if (await deps.halt.isHalted(job.id)) return stopped();
      const rest: KeyRange = { startAfter, endAt: range.endAt };
      await deps.sink.send("list", [{ body: listBody({ job, range: rest, token, hop: task.hop + 1 }) }]);
      // Pages of no keys (e.g. over delete markers) move the token, not the key: no portion is finished yet.
      if (startAfter !== range.startAfter) await record({ startAfter: range.startAfter, endAt: startAfter }, true);
      return { listed: total, pages, batches, continuedFrom: startAfter, splits, ...(deletes === undefined ? {} : { extra }) };
    }
    if (pages - portionStartPage >= portionPages && startAfter !== range.startAfter) {
      // A long listing records what it finished as it goes: records stay small, and a crash loses less.
      await record({ startAfter: range.startAfter, endAt: startAfter }, true);
      range = { startAfter, endAt: range.endAt };
      portion = emptyPortion();
      portionStartPage = pages;
    }
  }
}

function emptyPortion() {
  return { listed: 0, skipped: 0, emitted: [] as BatchRef[], identical: [] as string[] };
}

/** The destination listing a sync job reads in step with its source. */
function syncCursor(task: ListTask, deps: ListerDeps) {
  const { source, destination } = task.job;
  const syncDeps: SyncDeps = { store: deps.store, heads: deps.heads, pageSize: deps.pageSize };
  return {
    deps: syncDeps,
    cursor: new DestinationCursor(syncDeps, destination.bucket, destination.prefix, source.prefix, task.range),
    destination: { bucket: destination.bucket, key: (k: string) => destination.prefix + k.slice(source.prefix.length) },
  };
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
