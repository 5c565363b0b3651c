import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import { type KeyRange, rangeContains, splitPoints, splitRange } from "../../lambdas/core/ranges.ts";
import { anyKey } from "./arbitraries.ts";

/** A page's first and last key (first <= last), an end beyond last or none, and the job prefix they share. */
const pageAndEnd = fc
  .record({ prefix: fc.constantFrom("", "p/", "日本/", "😀"), a: anyKey, b: anyKey, end: fc.option(anyKey, { nil: undefined }) })
  .map(({ prefix, a, b, end }) => {
    const [first, last] = compareKeys(a, b) <= 0 ? [prefix + a, prefix + b] : [prefix + b, prefix + a];
    const endAt = end === undefined ? undefined : compareKeys(prefix + end, last) > 0 ? prefix + end : undefined;
    return { prefix, first, last, endAt };
  });

function commonPrefix(a: string, b: string): string {
  let n = 0;
  while (n < a.length && n < b.length && a[n] === b[n]) n++;
  return a.slice(0, n);
}

/** Splits (last, endAt] at pieces of `perPart` keys, after `listed` keys from first to last. */
function points(first: string, last: string, endAt: string | undefined, listed: number, perPart: number, parts = 8, prefix = "") {
  return splitPoints({ first, last, endAt, prefix, listed, perPart, parts });
}

describe("splitPoints", () => {
  it("gives strictly increasing points after the last key, before the end, under the prefix", () => {
    fc.assert(
      fc.property(
        pageAndEnd,
        fc.integer({ min: 1, max: 16 }),
        fc.integer({ min: 1, max: 5000 }),
        fc.integer({ min: 1, max: 50_000 }),
        ({ prefix, first, last, endAt }, parts, listed, perPart) => {
          const cut = splitPoints({ first, last, endAt, prefix, listed, perPart, parts });
          assert.ok(cut.length <= parts);
          let previous = last;
          for (const p of cut) {
            assert.ok(compareKeys(p, previous) > 0, `${JSON.stringify(p)} is not after ${JSON.stringify(previous)}`);
            if (endAt !== undefined) assert.ok(compareKeys(p, endAt) < 0);
            assert.ok(p.startsWith(prefix));
            assert.ok(!p.slice(commonPrefix(p, last).length).includes("\u0000"), "no NUL of its own in a bound");
            assert.doesNotThrow(() => encodeURIComponent(p), "a point must be valid Unicode");
            previous = p;
          }
        },
      ),
      { numRuns: 3000 },
    );
  });

  it("cuts numbered keys into pieces that double, from the density listed so far", () => {
    // 1,000 keys from key-00000 to key-00999: 1,000 a piece, then 2,000, 4,000.
    assert.deepEqual(points("key-00000", "key-00999", undefined, 1000, 1000, 3), ["key-01998", "key-03996", "key-07992"]);
  });

  it("rolls over leftwards through the digits", () => {
    assert.deepEqual(points("key-08000", "key-08999", undefined, 1000, 1000, 2), ["key-09998", "key-11996"]);
  });

  it("reads letters as letters", () => {
    // 13 keys a-a to a-m: the next 13 end at a-y.
    assert.deepEqual(points("a-a", "a-m", undefined, 13, 13, 2), ["a-y"]);
  });

  it("never cuts inside the job's prefix", () => {
    const cut = points("data/a", "data/y", undefined, 25, 10, 8, "data/");
    assert.ok(cut.length > 0);
    assert.ok(cut.every((p) => p.startsWith("data/")));
  });

  it("stops at the range's end", () => {
    assert.deepEqual(points("k0000", "k0099", "k0500", 100, 100), ["k0198", "k0396"]);
  });

  it("keeps a bounded rest whole when it is expected to hold fewer than two pieces", () => {
    // 3,000 keys over k/0000000-k/0002999, and the range ends at k/0004000: about 1,000 keys to go.
    assert.deepEqual(points("k/0000000", "k/0002999", "k/0004000", 3000, 1000), []);
    // Two pieces of 500 keys fit: the first is cut off, the second (twice as large) runs to the end.
    assert.deepEqual(points("k/0000000", "k/0002999", "k/0004000", 3000, 500), ["k/0003498"]);
  });

  it("reads hex keys as hex from the keys listed, whatever the first and last show", () => {
    // 256 keys h/0000, h/0010, ..., h/0ff0: first and last show only 0 and f where the keys between show 0-f.
    const sample = Array.from({ length: 256 }, (_, i) => `h/${(i * 16).toString(16).padStart(4, "0")}`);
    const cut = splitPoints({
      first: "h/0000",
      last: "h/0ff0",
      endAt: undefined,
      prefix: "h/",
      listed: 256,
      perPart: 256,
      parts: 3,
      sample,
    });
    // The next 256 keys end where the listed ones would reach counting in hex: h/1fe0 (then 512, 1,024 more).
    assert.equal(cut[0], "h/1fe0");
    assert.equal(cut.length, 3);
    assert.ok(
      cut.every((p) => /^h\/[0-9a-f]{4}$/.test(p)),
      JSON.stringify(cut),
    );
  });

  it("never gives a point longer than S3's 1,024-byte key limit", () => {
    const head = "a".repeat(1016);
    const cut = points(`${head}\u0001zzzzzzz`, `${head}\u{10000}\u{10000}`, undefined, 1000, 1000);
    assert.ok(cut.every((p) => Buffer.byteLength(p) <= 1024));
  });

  it("splits an open rest even when the keys listed so far end a run", () => {
    assert.ok(points("z0", "z9", undefined, 10, 10).length > 0);
  });
});

describe("splitRange", () => {
  it("partitions the range: every key in it lies in exactly one part, and no key outside in any", () => {
    fc.assert(
      fc.property(pageAndEnd, anyKey, fc.integer({ min: 1, max: 8 }), ({ prefix, first, last, endAt }, suffix, parts) => {
        const range: KeyRange = { startAfter: last, endAt };
        const pieces = splitRange(range, splitPoints({ first, last, endAt, prefix, listed: 1000, perPart: 100, parts }));
        for (const key of [prefix + suffix, last, ...(endAt ? [endAt] : []), first]) {
          const holders = pieces.filter((p) => rangeContains(p, key)).length;
          assert.equal(holders, rangeContains(range, key) ? 1 : 0, JSON.stringify(key));
        }
        assert.equal(pieces[0]?.startAfter, range.startAfter);
        assert.equal(pieces.at(-1)?.endAt, range.endAt);
      }),
      { numRuns: 3000 },
    );
  });

  it("keeps a key equal to a split point in the part that point closes", () => {
    const pieces = splitRange({ startAfter: "a", endAt: "z" }, ["k", "m"]);
    assert.deepEqual(
      pieces.filter((p) => rangeContains(p, "k")),
      [{ startAfter: "a", endAt: "k" }],
    );
  });
});
