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

/** The destination's objects in step with a source listing, keys in the source's key space. */
export class DestinationCursor {
  private readonly objects: AsyncIterator<ListedObject>;
  private current: IteratorResult<ListedObject> | undefined;

  /** @param range the source range being listed; the destination is read over the same keys, lazily. */
  constructor(deps: SyncDeps, bucket: string, destinationPrefix: string, sourcePrefix: string, range: KeyRange) {
    const over = mapRange(range, sourcePrefix, destinationPrefix);
    this.objects = listObjects(deps.store, bucket, destinationPrefix, over, sourcePrefix, deps.pageSize)[Symbol.asyncIterator]();
  }

  /** The destination object of a source key; keys must be asked for in increasing byte order. */
  async find(sourceKey: string): Promise<ListedObject | undefined> {
    for (;;) {
      this.current ??= await this.objects.next();
      if (this.current.done) return undefined;
      const order = compareKeys(this.current.value.key, sourceKey);
      if (order === 0) return this.current.value;
      if (order > 0) return undefined;
      this.current = undefined;
    }
  }
}

/** HEADs in flight when confirming copies by parts. */
const CONFIRM_CONCURRENCY = 8;

/**
 * Splits listed source objects into those to copy and those the destination
 * already holds identically (same size and ETag, or our copy by parts of this
 * very source version).
 */
export async function partitionIdentical(
  objects: readonly ListedObject[],
  cursor: DestinationCursor,
  deps: SyncDeps,
  destination: { readonly bucket: string; readonly key: (sourceKey: string) => string },
): Promise<{ toCopy: ListedObject[]; identical: string[] }> {
  const verdicts: ("copy" | "same" | "confirm")[] = [];
  for (const o of objects) {
    const d = await cursor.find(o.key);
    const v = d === undefined ? "etag" : compareObjects(o, d);
    verdicts.push(v === "same" ? "same" : v === "confirm" ? "confirm" : "copy");
  }
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
  return { toCopy, identical };
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
