/**
 * Comparing a source selection with its destination by merge-joining two
 * listings in byte order: no HEAD per key. The rule is shared by `verify` and
 * by sync mode.
 */
import { isMultipartEtag } from "./copyPlan.ts";
import { compareKeys } from "./keyOrder.ts";
import type { ListedObject, ListPage, ListPageRequest } from "./ports.ts";
import { isPastEnd, type KeyRange } from "./ranges.ts";

/**
 * User metadata the copier puts on objects it copies by parts: their ETag
 * (an MD5 of part MD5s) cannot equal the source's, so this records which
 * source version they are a copy of.
 */
export const SOURCE_ETAG_METADATA = "s3fanout-source-etag";

export type Verdict = "same" | "size" | "etag" | "confirm";

/**
 * Same size and ETag: identical. ETags that differ where either is of the
 * multipart form ("…-N") may still be our copy by parts: "confirm" asks for
 * its SOURCE_ETAG_METADATA (one HEAD, for such objects only).
 */
export function compareObjects(source: ListedObject, destination: ListedObject): Verdict {
  if (source.size !== destination.size) return "size";
  if (source.etag !== undefined && source.etag === destination.etag) return "same";
  if (isMultipartEtag(destination.etag) || isMultipartEtag(source.etag)) return "confirm";
  return "etag";
}

export interface Pair {
  /** The key in the source's key space. */
  readonly key: string;
  readonly source?: ListedObject;
  readonly destination?: ListedObject;
}

/** Joins two listings sorted in byte order on their keys. */
export async function* mergeJoin(source: AsyncIterable<ListedObject>, destination: AsyncIterable<ListedObject>): AsyncGenerator<Pair> {
  const s = source[Symbol.asyncIterator]();
  const d = destination[Symbol.asyncIterator]();
  let a = await s.next();
  let b = await d.next();
  while (!a.done || !b.done) {
    const order = a.done ? 1 : b.done ? -1 : compareKeys(a.value.key, b.value.key);
    if (order === 0 && !a.done && !b.done) {
      yield { key: a.value.key, source: a.value, destination: b.value };
      [a, b] = await Promise.all([s.next(), d.next()]);
    } else if (order < 0 && !a.done) {
      yield { key: a.value.key, source: a.value };
      a = await s.next();
    } else if (!b.done) {
      yield { key: b.value.key, destination: b.value };
      b = await d.next();
    }
  }
}

export interface Lister {
  listPage(request: ListPageRequest): Promise<ListPage>;
}

/**
 * Every object of `bucket` under `prefix` within `range` (bounds in the same
 * key space), keys rewritten from `prefix` to `asPrefix`, in byte order.
 */
export async function* listObjects(
  store: Lister,
  bucket: string,
  prefix: string,
  range: KeyRange,
  asPrefix = prefix,
  pageSize = 1000,
): AsyncGenerator<ListedObject> {
  let token: string | undefined;
  let startAfter = range.startAfter;
  do {
    const page = await store.listPage({ bucket, prefix, startAfter: token ? undefined : startAfter, token, maxKeys: pageSize });
    for (const o of page.objects) {
      if (isPastEnd(range, o.key)) return;
      if (startAfter !== undefined && compareKeys(o.key, startAfter) <= 0) continue;
      yield asPrefix === prefix ? o : { ...o, key: asPrefix + o.key.slice(prefix.length) };
    }
    token = page.nextToken;
    startAfter = page.objects.at(-1)?.key ?? startAfter;
  } while (token);
}

/** A key range of the source key space, expressed in the destination's. */
export function mapRange(range: KeyRange, fromPrefix: string, toPrefix: string): KeyRange {
  const map = (k: string | undefined) => (k === undefined ? undefined : toPrefix + k.slice(fromPrefix.length));
  return { startAfter: map(range.startAfter), endAt: map(range.endAt) };
}
