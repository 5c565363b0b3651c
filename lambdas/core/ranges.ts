/**
 * A listing unit is a range of keys (startAfter, endAt] in UTF-8 byte order;
 * an undefined bound is open. Bounds are whole keys (prefix included).
 */
import { compareKeys } from "./keyOrder.ts";

export interface KeyRange {
  /** Exclusive lower bound; undefined lists from the very first key. */
  readonly startAfter?: string | undefined;
  /** Inclusive upper bound; undefined lists to the very last key. */
  readonly endAt?: string | undefined;
}

export function rangeContains(range: KeyRange, key: string): boolean {
  if (range.startAfter !== undefined && compareKeys(key, range.startAfter) <= 0) return false;
  if (range.endAt !== undefined && compareKeys(key, range.endAt) > 0) return false;
  return true;
}

/** True when `key` lies beyond the upper bound, so listing can stop. */
export function isPastEnd(range: KeyRange, key: string): boolean {
  return range.endAt !== undefined && compareKeys(key, range.endAt) > 0;
}

/**
 * Default split points: printable ASCII cut into groups, under the prefix.
 * Whatever the points, the first range is open below (control characters,
 * space, punctuation) and the last open above (everything non-ASCII).
 */
export const DEFAULT_SPLIT_POINTS: readonly string[] = ["/", "9", "F", "M", "S", "Z", "f", "m", "s", "z"];

/**
 * Ranges whose union is every key under `prefix` (and nothing else matters:
 * listing is also filtered by Prefix). Adjacent, non-overlapping, in order.
 */
export function seedRanges(prefix: string, splitPoints: readonly string[] = DEFAULT_SPLIT_POINTS): KeyRange[] {
  const bounds = [...new Set(splitPoints.map((p) => prefix + p))].sort(compareKeys);
  const ranges: KeyRange[] = [];
  let startAfter: string | undefined;
  for (const bound of bounds) {
    ranges.push({ startAfter, endAt: bound });
    startAfter = bound;
  }
  ranges.push({ startAfter, endAt: undefined });
  return ranges;
}

/**
 * Whether finished portions of ranges cover the whole key space. Portions
 * may overlap or repeat (at-least-once delivery); only gaps matter.
 */
export function coversKeySpace(portions: readonly KeyRange[]): boolean {
  const sorted = [...portions].sort((a, b) => compareLower(a.startAfter, b.startAfter));
  // (-inf, covered] is covered so far; null while nothing is.
  let covered: string | null = null;
  for (const p of sorted) {
    const reachable = p.startAfter === undefined || (covered !== null && compareKeys(p.startAfter, covered) <= 0);
    if (!reachable) return false;
    if (p.endAt === undefined) return true;
    if (covered === null || compareKeys(p.endAt, covered) > 0) covered = p.endAt;
  }
  return false;
}

/** Orders lower bounds: undefined (open) first. */
function compareLower(a: string | undefined, b: string | undefined): number {
  if (a === undefined) return b === undefined ? 0 : -1;
  if (b === undefined) return 1;
  return compareKeys(a, b);
}
