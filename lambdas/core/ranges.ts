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

const isDigit = (c: number) => c >= 0x30 && c <= 0x39;
const isUpper = (c: number) => c >= 0x41 && c <= 0x5a;
const isLower = (c: number) => c >= 0x61 && c <= 0x7a;

/** The next character of the same kind (digit, letter), or of any kind past ASCII letters; undefined at a kind's end. */
function nextChar(c: number): number | undefined {
  if (isDigit(c)) return c < 0x39 ? c + 1 : undefined;
  if (isUpper(c)) return c < 0x5a ? c + 1 : undefined;
  if (isLower(c)) return c < 0x7a ? c + 1 : undefined;
  const n = c + 1 === 0xd800 ? 0xe000 : c + 1; // code points, never surrogate halves
  return n <= 0x10ffff ? n : undefined;
}

/**
 * Where to split the unlisted rest (last, endAt] of a range whose page
 * (first..last) came back full. Keys next after `last` most likely share its
 * prefix up to where the page's keys varied, so the points step that
 * character, rolling over leftwards (a0999 -> a1, a2, ...), never into the
 * job's prefix. Strictly increasing, all after `last`, all before `endAt`.
 */
export function splitPointsAfter(first: string, last: string, endAt: string | undefined, prefix: string, parts: number): string[] {
  const f = Array.from(first);
  const l = Array.from(last);
  let common = 0;
  while (common < f.length && common < l.length && f[common] === l[common]) common++;
  const floor = Array.from(prefix).length;
  const points: string[] = [];
  for (let pos = Math.min(common, l.length - 1); pos >= floor && points.length < parts; pos--) {
    const head = l.slice(0, pos).join("");
    let c = l[pos]?.codePointAt(0);
    while (c !== undefined && points.length < parts) {
      c = nextChar(c);
      if (c === undefined) break;
      const point = head + String.fromCodePoint(c);
      if (endAt !== undefined && compareKeys(point, endAt) >= 0) return points;
      points.push(point);
    }
  }
  return points;
}

/** (startAfter, p1], (p1, p2], ..., (pn, endAt]: the range cut at increasing points inside it. */
export function splitRange(range: KeyRange, points: readonly string[]): KeyRange[] {
  const parts: KeyRange[] = [];
  let startAfter = range.startAfter;
  for (const point of points) {
    parts.push({ startAfter, endAt: point });
    startAfter = point;
  }
  parts.push({ startAfter, endAt: range.endAt });
  return parts;
}
