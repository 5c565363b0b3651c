/**
 * Sync mode: which listed source keys the destination already holds, found by
 * merge-joining the source page with the destination's listing of the same
 * stretch (its keys under the destination prefix, read in step). No HEAD per
 * key: only an object whose ETag is of the multipart form is HEADed, to read
 * the source ETag a copy by parts records (compare.ts SOURCE_ETAG_METADATA).
 */
import { compareObjects, SOURCE_ETAG_METADATA } from "./compare.ts";
import { compareKeys } from "./keyOrder.ts";
import type { ListedObject, ListPage, ListPageRequest, ObjectHeads } from "./ports.ts";

export interface SyncDeps {
  readonly store: { listPage(request: ListPageRequest): Promise<ListPage> };
  /** HEADs destination objects whose ETag cannot be compared by listing. */
  readonly heads?: ObjectHeads | undefined;
  readonly pageSize: number;
}

/** The destination's objects in step with a source listing, keys in the source's key space. */
export class DestinationCursor {
  private page: readonly ListedObject[] = [];
  private next = 0;
  private token: string | undefined;
  private exhausted = false;
  /** Destination pages listed so far. */
  pages = 0;

  /**
   * @param startAfter the source key the listing goes on after (undefined: from the prefix's start)
   */
  constructor(
    private readonly deps: SyncDeps,
    private readonly bucket: string,
    private readonly destinationPrefix: string,
    private readonly sourcePrefix: string,
    private startAfter: string | undefined,
  ) {}

  /** The destination object of a source key; keys must be asked for in increasing byte order. */
  async find(sourceKey: string): Promise<ListedObject | undefined> {
    for (;;) {
      while (this.next < this.page.length) {
        const o = this.page[this.next] as ListedObject;
        const order = compareKeys(o.key, sourceKey);
        if (order === 0) return o;
        if (order > 0) return undefined;
        this.next++;
      }
      if (this.exhausted) return undefined;
      await this.fetch();
    }
  }

  private async fetch(): Promise<void> {
    const prefix = this.destinationPrefix;
    const startAfter = this.startAfter === undefined ? undefined : prefix + this.startAfter.slice(this.sourcePrefix.length);
    const page = await this.deps.store.listPage({
      bucket: this.bucket,
      prefix,
      startAfter: this.token === undefined ? startAfter : undefined,
      token: this.token,
      maxKeys: this.deps.pageSize,
    });
    this.pages++;
    this.page = page.objects
      .filter((o) => o.key.startsWith(prefix))
      .map((o) => ({ ...o, key: this.sourcePrefix + o.key.slice(prefix.length) }));
    this.next = 0;
    this.token = page.nextToken;
    this.exhausted = page.nextToken === undefined;
    const last = this.page.at(-1);
    if (last !== undefined) this.startAfter = last.key;
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
