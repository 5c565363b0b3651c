/**
 * Shared test data for the pure domain tests: the awkward-key fixture and
 * fast-check arbitraries that favour the characters keys trip over.
 */
import { readFileSync } from "node:fs";
import fc from "fast-check";

// Failing properties show the assertion that broke, not only the counterexample
// (node:test does not print an error's cause).
fc.configureGlobal({ includeErrorInReport: true });

/** The shared awkward-key fixture: `{ about, keys }`. */
export function loadAwkwardKeys(): string[] {
  const raw: unknown = JSON.parse(readFileSync(new URL("../fixtures/awkward-keys.json", import.meta.url), "utf8"));
  if (typeof raw !== "object" || raw === null || !("keys" in raw) || !Array.isArray(raw.keys)) {
    throw new Error("awkward-keys.json: expected { about, keys: string[] }");
  }
  const keys: unknown[] = raw.keys;
  if (!keys.every((k): k is string => typeof k === "string")) {
    throw new Error("awkward-keys.json: every key must be a string");
  }
  return keys;
}

/**
 * Characters where byte order, URL encoding or SQS's character rules bite:
 * controls, URL-special ASCII, the edges of the surrogate gap, U+FFFE/U+FFFF
 * (rejected by SQS), and astral characters (4 UTF-8 bytes).
 */
const TRAP_CHARS = [
  "\u0000",
  "\u0001",
  "\t",
  "\n",
  "\r",
  "\u001f",
  " ",
  "+",
  "%",
  "/",
  "\\",
  '"',
  "&",
  "?",
  "#",
  "~",
  "*",
  "\u007f",
  "\u0080",
  "\u0085",
  "\u00e9",
  "\u2028",
  "\ud7ff",
  "\ue000",
  "\ufffd",
  "\ufffe",
  "\uffff",
  "\u{10000}",
  "\u{1f600}",
  "\u{10fffd}",
  "\u{10ffff}",
] as const;

const fromCodePoint = (cp: number): string => String.fromCodePoint(cp);

/** One code point (never half a surrogate pair), biased towards the traps. */
export const keyChar: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.constantFrom(...TRAP_CHARS) },
  { weight: 3, arbitrary: fc.integer({ min: 0x20, max: 0x7e }).map(fromCodePoint) },
  { weight: 1, arbitrary: fc.integer({ min: 0x00, max: 0x1f }).map(fromCodePoint) },
  { weight: 1, arbitrary: fc.integer({ min: 0x80, max: 0xd7ff }).map(fromCodePoint) },
  { weight: 2, arbitrary: fc.integer({ min: 0xe000, max: 0xffff }).map(fromCodePoint) },
  { weight: 2, arbitrary: fc.integer({ min: 0x10000, max: 0x10ffff }).map(fromCodePoint) },
  { weight: 1, arbitrary: fc.string({ unit: "binary", minLength: 1, maxLength: 1 }) },
);

/** Any well-formed string (no lone surrogates), short enough to read when shrunk. */
export const anyKey: fc.Arbitrary<string> = fc.string({ unit: keyChar, maxLength: 16 });

/** Well-formed, printable-grapheme strings as fast-check builds them. */
export const graphemeString: fc.Arbitrary<string> = fc.string({ unit: "grapheme", maxLength: 16 });

/** Cuts `s` to at most `maxBytes` UTF-8 bytes without splitting a code point. */
export function truncateUtf8(s: string, maxBytes: number): string {
  let out = "";
  let bytes = 0;
  for (const ch of s) {
    const n = Buffer.byteLength(ch);
    if (bytes + n > maxBytes) break;
    out += ch;
    bytes += n;
  }
  return out;
}

/** A legal S3 key: 1 to 1024 UTF-8 bytes, often long, sometimes exactly 1024 bytes. */
export const s3Key: fc.Arbitrary<string> = fc.oneof(
  { weight: 3, arbitrary: fc.string({ unit: keyChar, minLength: 1, maxLength: 40 }) },
  {
    weight: 1,
    arbitrary: fc
      .tuple(fc.string({ unit: keyChar, maxLength: 8 }), keyChar, fc.integer({ min: 1, max: 1024 }))
      .map(([head, fill, maxBytes]) => truncateUtf8(head + fill.repeat(1024), maxBytes))
      .filter((k) => k.length > 0),
  },
);

/** A string holding at least one lone surrogate: not representable in UTF-8. */
export const withLoneSurrogate: fc.Arbitrary<string> = fc
  .tuple(anyKey, fc.integer({ min: 0xd800, max: 0xdfff }), anyKey)
  .map(([a, unit, b]) => `${a}${String.fromCharCode(unit)}${b}`)
  .filter((s) => hasLoneSurrogate(s));

/** True when `s` is not well-formed UTF-16 (in `u` mode a pair is one code point). */
export function hasLoneSurrogate(s: string): boolean {
  return /[\ud800-\udfff]/u.test(s);
}

/** Sign of a comparison result, so comparators are compared by direction only. */
export function sign(n: number): -1 | 0 | 1 {
  return n < 0 ? -1 : n > 0 ? 1 : 0;
}

/** S3's order: UTF-8 bytes. */
export function byteCompare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}
