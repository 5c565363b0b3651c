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
 * Top-level prefixes seeded as points of their own, at most: the stack's default list concurrency. More
 * ranges than run at once add no parallelism at the start (ranges split as they prove large) and each
 * costs a message, a record and a part-full page; pass the list concurrency in use where it is known.
 * Beyond it, the points are spread evenly over the prefixes found.
 */
export const MAX_PREFIX_SEEDS = 32;

/**
 * The split points of a job's seed ranges (relative to its prefix): the default points, and each
 * top-level prefix found under the job's prefix (`commonPrefixes`, whole keys ending in the delimiter).
 * S3 partitions a bucket by key prefix; a range per top-level prefix lists them all at once from the
 * start, so copies spread over their partitions, instead of one prefix after another as the default
 * points and later splits would. A prefix `seg/` is itself the point: its folder marker (the key `seg/`)
 * falls in the range below, every key under it in the range above.
 */
export function seedSplitPoints(jobPrefix: string, commonPrefixes: readonly string[], max = MAX_PREFIX_SEEDS): string[] {
  const found = [...new Set(commonPrefixes.filter((p) => p.startsWith(jobPrefix) && p.length > jobPrefix.length))].sort(compareKeys);
  const chosen = found.length <= max ? found : Array.from({ length: max }, (_, i) => found[Math.floor((i * found.length) / max)] as string);
  return [...DEFAULT_SPLIT_POINTS, ...chosen.map((p) => p.slice(jobPrefix.length))];
}

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

/** The characters one position of a key is read in, as digits in order: an alphabet, or every code point. */
interface Radix {
  readonly size: number;
  /** The digit of code point `c`: its index, or the nearest below it for a character outside the alphabet. */
  digit(c: number): number;
  char(d: number): number;
}

/** Every code point but the surrogates, which no key holds. */
const ANY: Radix = {
  size: 0x110000 - 0x800,
  digit: (c) => (c < 0xd800 ? c : c - 0x800),
  char: (d) => (d < 0xd800 ? d : d + 0x800),
};

const DIGIT = 1;
const UPPER = 2;
const LOWER = 4;
const OTHER = 8;

function classOf(c: number): number {
  if (c >= 0x30 && c <= 0x39) return DIGIT;
  if (c >= 0x41 && c <= 0x5a) return UPPER;
  if (c >= 0x61 && c <= 0x7a) return LOWER;
  return OTHER;
}

const codes = (from: string, to: string) =>
  Array.from({ length: to.charCodeAt(0) - from.charCodeAt(0) + 1 }, (_, i) => from.charCodeAt(0) + i);

function alphabet(chars: readonly number[]): Radix {
  return {
    size: chars.length,
    digit: (c) => {
      let lo = 0;
      let hi = chars.length - 1;
      // The last index whose character is <= c (0 when c is below them all).
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if ((chars[mid] ?? 0) <= c) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    },
    char: (d) => chars[d] ?? 0,
  };
}

/**
 * The alphabet of one position, from the characters the listed keys show
 * there: digits count 0-9, letters A-Z or a-z, digits with letters no
 * further than f (or F) count as hex, other mixes of digits and letters as
 * their union; anything else (punctuation, non-ASCII) every code point.
 */
function radixOf(seen: ReadonlySet<number>): Radix {
  let mask = 0;
  let maxLetter = 0;
  for (const c of seen) {
    const k = classOf(c);
    mask |= k;
    if (k === UPPER) maxLetter = Math.max(maxLetter, c - 0x41);
    if (k === LOWER) maxLetter = Math.max(maxLetter, c - 0x61);
  }
  if (mask === 0 || (mask & OTHER) !== 0) return ANY;
  const hex = mask & DIGIT && (mask === (DIGIT | LOWER) || mask === (DIGIT | UPPER)) && maxLetter <= 5;
  const chars: number[] = [];
  if (mask & DIGIT) chars.push(...codes("0", "9"));
  if (mask & UPPER) chars.push(...codes("A", hex ? "F" : "Z"));
  if (mask & LOWER) chars.push(...codes("a", hex ? "f" : "z"));
  return alphabet(chars);
}

/**
 * Positions [from, from + radices.length) of keys read as one mixed-radix
 * number, so that key order is number order and keys can be interpolated.
 */
class KeySpace {
  readonly top: bigint;
  constructor(
    private readonly head: string,
    private readonly from: number,
    private readonly radices: readonly Radix[],
  ) {
    this.top = radices.reduce((n, r) => n * BigInt(r.size), 1n);
  }

  /** A key's number (its code points); characters outside a position's alphabet are clamped into it. */
  value(key: readonly number[]): bigint {
    let v = 0n;
    this.radices.forEach((r, i) => {
      const c = key[this.from + i];
      v = v * BigInt(r.size) + BigInt(c === undefined ? 0 : r.digit(c));
    });
    return v;
  }

  /** The key of a number below top; trailing U+0000 dropped (a shorter bound, and no NUL in a listing's StartAfter). */
  key(v: bigint): string {
    const chars: number[] = [];
    for (let i = this.radices.length - 1; i >= 0; i--) {
      const r = this.radices[i] ?? ANY;
      chars.push(r.char(Number(v % BigInt(r.size))));
      v /= BigInt(r.size);
    }
    chars.reverse();
    while (chars.at(-1) === 0) chars.pop();
    return this.head + String.fromCodePoint(...chars);
  }
}

function commonLength(a: readonly number[], b: readonly number[]): number {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return n;
}

export interface SplitInput {
  /** The first and the last key of the pages listed so far (first < last). */
  readonly first: string;
  readonly last: string;
  /** The range's upper bound: the split covers (last, endAt]. */
  readonly endAt: string | undefined;
  /** The job's prefix, which every point keeps. */
  readonly prefix: string;
  /** Keys listed from first to last. */
  readonly listed: number;
  /** Keys listed, or some of them: which characters each position shows. @default [first, last] */
  readonly sample?: readonly string[] | undefined;
  /** Keys a split-off range should be expected to hold, at least. */
  readonly perPart: number;
  /** Points at most. */
  readonly parts: number;
}

/**
 * Where to split the unlisted rest (last, endAt] of a range that proved
 * large. Keys are read as numbers (digits and letters in their runs), and
 * the density of the keys listed so far is extrapolated:
 * - a bounded rest expected to hold fewer than 2 x perPart keys is not split
 *   (each range costs messages, listings and records of its own);
 * - else the points cut pieces expected to hold perPart, 2 x perPart,
 *   4 x perPart, ... keys. Doubling reaches far with few points when the
 *   keys go on as they began, and wastes few empty ranges when they stop;
 *   a piece that proves large splits again when it is listed.
 * Strictly increasing, all after `last`, all before `endAt`, all under `prefix`.
 */
export function splitPoints({ first, last, endAt, prefix, listed, perPart, parts, sample }: SplitInput): string[] {
  if (parts <= 0 || listed <= 0 || perPart <= 0) return [];
  const f = Array.from(first, (c) => c.codePointAt(0) ?? 0);
  const l = Array.from(last, (c) => c.codePointAt(0) ?? 0);
  const e = endAt === undefined ? undefined : Array.from(endAt, (c) => c.codePointAt(0) ?? 0);
  const floor = Array.from(prefix).length;
  const varies = commonLength(f, l);
  let from = e === undefined ? varies : Math.min(varies, commonLength(l, e));
  // Roll over leftwards through digits and letters: after key-0999 come key-1000 and on.
  while (from > floor && classOf(l[from - 1] ?? 0) !== OTHER) from--;
  from = Math.max(from, floor);
  // Three positions past where the listed keys vary resolve them finely enough.
  const to = Math.max(varies + 1, Math.min(Math.max(f.length, l.length), varies + 4));
  // Every key listed shares the head before `floor`; the alphabets of the positions after it come from them.
  const seen = Array.from({ length: to - floor }, () => new Set<number>());
  for (const key of [first, last, ...(sample ?? [])]) {
    const cps = Array.from(key, (c) => c.codePointAt(0) ?? 0);
    for (let i = floor; i < to && i < cps.length; i++) seen[i - floor]?.add(cps[i] ?? 0);
  }
  // The alphabet the keys vary in (hex, say) is read into positions the listed keys all share, where one
  // character tells nothing: after key-fe99 come key-fe9a and key-ff00, not key-fea0 or key-fg00.
  const varying = new Set<number>();
  for (const set of seen) if (set.size > 1) for (const c of set) if (classOf(c) !== OTHER) varying.add(c);
  const keyAlphabet = varying.size > 0 ? radixOf(varying) : undefined;
  const radices = seen.map((set) => {
    if (keyAlphabet === undefined || set.size > 1) return radixOf(set);
    const fits = [...set].every((c) => classOf(c) !== OTHER && keyAlphabet.char(keyAlphabet.digit(c)) === c);
    return fits ? keyAlphabet : radixOf(set);
  });
  const input = { f, l, e, endAt, last, prefix, listed, perPart, parts, floor, radices };
  // Where the keys listed so far end a run (a-z, 0-9), no point fits in it: reach one position
  // further left, and at the prefix read the leftmost position in every code point.
  for (let at = from; at >= floor; at--) {
    const cut = pointsIn(input, at, false);
    if (cut !== undefined && cut.length > 0) return cut;
    if (cut === undefined) return [];
  }
  return pointsIn(input, floor, true) ?? [];
}

interface PointsInput {
  readonly f: readonly number[];
  readonly l: readonly number[];
  readonly e: readonly number[] | undefined;
  readonly endAt: string | undefined;
  readonly last: string;
  readonly prefix: string;
  readonly listed: number;
  readonly perPart: number;
  readonly parts: number;
  /** The alphabets of the positions from `floor` (the prefix's end) on. */
  readonly floor: number;
  readonly radices: readonly Radix[];
}

/** The points read in positions [from, to); undefined when the rest is too small to split at all. */
function pointsIn(p: PointsInput, from: number, anyFirst: boolean): string[] | undefined {
  const { f, l, e, endAt, prefix } = p;
  const radices = p.radices.slice(from - p.floor).map((r, i) => (i === 0 && anyFirst ? ANY : r));
  const head = String.fromCodePoint(...l.slice(0, from));
  const space = new KeySpace(head, from, radices);
  const lo = space.value(f);
  const hi = space.value(l);
  if (hi <= lo) return [];
  const end = e === undefined ? space.top : space.value(e);
  if (end <= hi) return [];
  const seen = BigInt(p.listed);
  if (e !== undefined && (seen * (end - hi)) / (hi - lo) < 2n * BigInt(p.perPart)) return undefined;
  let step = ((hi - lo) * BigInt(p.perPart)) / seen;
  if (step < 1n) step = 1n;
  const points: string[] = [];
  let previous = p.last;
  for (let i = 1; i <= p.parts; i++) {
    const v = hi + step * ((1n << BigInt(i)) - 1n);
    if (v >= end) break;
    const point = space.key(v);
    if (compareKeys(point, previous) <= 0 || point.includes("\0", head.length)) continue;
    if (utf8Length(point) > MAX_KEY_BYTES) break;
    if (endAt !== undefined && compareKeys(point, endAt) >= 0) break;
    if (!point.startsWith(prefix)) break;
    points.push(point);
    previous = point;
  }
  return points;
}

/** S3's longest key: a longer bound could not be a StartAfter. */
const MAX_KEY_BYTES = 1024;

function utf8Length(s: string): number {
  let n = 0;
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    n += c < 0x80 ? 1 : c < 0x800 ? 2 : c < 0x10000 ? 3 : 4;
  }
  return n;
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
