/**
 * Sync mode: which listed source keys the destination already holds, found by
 * merge-joining the source page with the destination's listing of the same
 * stretch (its keys under the destination prefix, read in step). No HEAD per
 * key: only an object whose ETag is of the multipart form is HEADed, to read
 * the source ETag a copy by parts records (compare.ts SOURCE_ETAG_METADATA).
 */
import { compareObjects, type Lister, listObjects, mapRange, SOURCE_ETAG_METADATA } from "./compare.ts";
import { compareKeys } from "./keyOrder.ts";
import type { ListedObject, ObjectHeads } from "./ports.ts";
import type { KeyRange } from "./ranges.ts";

export interface SyncDeps {
  readonly store: Lister;
  /** HEADs destination objects whose ETag cannot be compared by listing. */
  readonly heads?: ObjectHeads | undefined;
  readonly pageSize: number;
}

/**
 * The destination's objects in step with a source listing, keys in the source's key space.
 * Destination keys passed over with no source key asked for are kept in `extra`: only the
 * destination has them (what a sync with --delete deletes).
 */
export class DestinationCursor {
  private readonly objects: AsyncIterator<ListedObject>;
  private current: IteratorResult<ListedObject> | undefined;
  /** Destination keys the source lacks, in byte order, since the last `takeExtra`. */
  private extra: string[] = [];

  /** @param range the source range being listed; the destination is read over the same keys, lazily. */
  constructor(deps: SyncDeps, bucket: string, destinationPrefix: string, sourcePrefix: string, range: KeyRange) {
    const over = mapRange(range, sourcePrefix, destinationPrefix);
    this.objects = listObjects(deps.store, bucket, destinationPrefix, over, sourcePrefix, deps.pageSize)[Symbol.asyncIterator]();
  }

  /**
   * The destination object of a source key; keys must be asked for in increasing byte order.
   * EXTRAS_FULL when `limit` keys only the destination has are kept before the key is reached:
   * a long run of them (a folder the source dropped) is handed on, not walked in one go.
   */
  async find(sourceKey: string, limit = Number.POSITIVE_INFINITY): Promise<ListedObject | undefined | typeof EXTRAS_FULL> {
    for (;;) {
      this.current ??= await this.objects.next();
      if (this.current.done) return undefined;
      const found = this.current.value;
      const order = compareKeys(found.key, sourceKey);
      if (order > 0) return undefined;
      if (order === 0) {
        this.current = undefined;
        return found;
      }
      if (this.extra.length >= limit) return EXTRAS_FULL;
      this.current = undefined;
      this.extra.push(found.key);
    }
  }

  /** How many keys are kept since the last `takeExtra`. */
  extraCount(): number {
    return this.extra.length;
  }

  /**
   * Passes over the destination's keys up to `through` (to the end when undefined), keeping those the
   * source lacks. `sourceHas` says the source has `through` itself (the last key of a page it listed).
   * Stops early, returning false, once `limit` keys are kept.
   */
  async passTo(through: string | undefined, sourceHas: boolean, limit = Number.POSITIVE_INFINITY): Promise<boolean> {
    for (;;) {
      this.current ??= await this.objects.next();
      if (this.current.done) return true;
      const key = this.current.value.key;
      if (through !== undefined) {
        const order = compareKeys(key, through);
        if (order > 0) return true;
        if (order === 0 && sourceHas) {
          this.current = undefined;
          return true;
        }
      }
      if (this.extra.length >= limit) return false;
      this.extra.push(key);
      this.current = undefined;
    }
  }

  /** The last key kept, if any since the last `takeExtra`. */
  lastExtra(): string | undefined {
    return this.extra.at(-1);
  }

  /** The kept keys so far, handed over once. */
  takeExtra(): string[] {
    const taken = this.extra;
    this.extra = [];
    return taken;
  }
}

/** What find says when its kept keys reached their limit first. */
export const EXTRAS_FULL: unique symbol = Symbol("extras full");

/** HEADs in flight when confirming copies by parts. */
const CONFIRM_CONCURRENCY = 8;

/**
 * Splits listed source objects into those to copy and those the destination
 * already holds identically (same size and ETag, or our copy by parts of this
 * very source version).
 */
export async function partitionIdentical(
  all: readonly ListedObject[],
  cursor: DestinationCursor,
  deps: SyncDeps,
  destination: { readonly bucket: string; readonly key: (sourceKey: string) => string },
  extrasLimit = Number.POSITIVE_INFINITY,
): Promise<{ toCopy: ListedObject[]; identical: string[]; handled: number }> {
  const verdicts: ("copy" | "same" | "confirm")[] = [];
  let handled = all.length;
  for (const [i, o] of all.entries()) {
    const d = await cursor.find(o.key, extrasLimit);
    if (d === EXTRAS_FULL) {
      handled = i;
      break;
    }
    const v = d === undefined ? "etag" : compareObjects(o, d);
    verdicts.push(v === "same" ? "same" : v === "confirm" ? "confirm" : "copy");
  }
  const objects = all.slice(0, handled);
  const confirming = verdicts.flatMap((v, i) => (v === "confirm" ? [i] : []));
  let next = 0;
  const worker = async () => {
    for (let j = next++; j < confirming.length; j = next++) {
      const i = confirming[j] as number;
      const o = objects[i] as ListedObject;
      verdicts[i] = (await confirmedCopy(o, deps, destination.bucket, destination.key(o.key))) ? "same" : "copy";
    }
  };
  await Promise.all(Array.from({ length: Math.min(CONFIRM_CONCURRENCY, confirming.length) }, worker));
  const toCopy: ListedObject[] = [];
  const identical: string[] = [];
  objects.forEach((o, i) => {
    if (verdicts[i] === "same") identical.push(o.key);
    else toCopy.push(o);
  });
  return { toCopy, identical, handled };
}

/** Whether the destination object is our copy by parts of this source version; a failed HEAD says copy again. */
async function confirmedCopy(source: ListedObject, deps: SyncDeps, bucket: string, key: string): Promise<boolean> {
  if (deps.heads === undefined || source.etag === undefined) return false;
  try {
    const head = await deps.heads.head(bucket, key);
    return head.metadata[SOURCE_ETAG_METADATA] === source.etag;
  } catch {
    return false;
  }
}
