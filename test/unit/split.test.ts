import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import { type KeyRange, rangeContains, splitPointsAfter, splitRange } from "../../lambdas/core/ranges.ts";
import { anyKey } from "./arbitraries.ts";

/** A page's first and last key (first <= last), an end beyond last or none, and the job prefix they share. */
const pageAndEnd = fc
  .record({ prefix: fc.constantFrom("", "p/", "日本/", "😀"), a: anyKey, b: anyKey, end: fc.option(anyKey, { nil: undefined }) })
  .map(({ prefix, a, b, end }) => {
    const [first, last] = compareKeys(a, b) <= 0 ? [prefix + a, prefix + b] : [prefix + b, prefix + a];
    const endAt = end === undefined ? undefined : compareKeys(prefix + end, last) > 0 ? prefix + end : undefined;
    return { prefix, first, last, endAt };
  });

describe("splitPointsAfter", () => {
  it("gives strictly increasing points after the last key, before the end, under the prefix", () => {
    fc.assert(
      fc.property(pageAndEnd, fc.integer({ min: 1, max: 16 }), ({ prefix, first, last, endAt }, parts) => {
        const points = splitPointsAfter(first, last, endAt, prefix, parts);
        assert.ok(points.length <= parts);
        let previous = last;
        for (const p of points) {
          assert.ok(compareKeys(p, previous) > 0, `${JSON.stringify(p)} is not after ${JSON.stringify(previous)}`);
          if (endAt !== undefined) assert.ok(compareKeys(p, endAt) < 0);
          assert.ok(p.startsWith(prefix));
          assert.doesNotThrow(() => encodeURIComponent(p), "a point must be valid Unicode");
          previous = p;
        }
      }),
      { numRuns: 3000 },
    );
  });

  it("steps the digit where numbered keys roll over", () => {
    assert.deepEqual(splitPointsAfter("key-00000", "key-00999", undefined, "", 4), ["key-01", "key-02", "key-03", "key-04"]);
  });

  it("rolls over leftwards when the varying character is at the end of its kind", () => {
    assert.deepEqual(splitPointsAfter("key-08000", "key-08999", undefined, "", 3), ["key-09", "key-1", "key-2"]);
  });

  it("never cuts inside the job's prefix", () => {
    const points = splitPointsAfter("data/a", "data/y", undefined, "data/", 8);
    assert.ok(points.length > 0);
    assert.ok(points.every((p) => p.startsWith("data/")));
  });

  it("stops at the range's end", () => {
    assert.deepEqual(splitPointsAfter("k00", "k09", "k3", "", 8), ["k1", "k2"]);
  });
});

describe("splitRange", () => {
  it("partitions the range: every key in it lies in exactly one part, and no key outside in any", () => {
    fc.assert(
      fc.property(pageAndEnd, anyKey, fc.integer({ min: 1, max: 8 }), ({ prefix, first, last, endAt }, suffix, parts) => {
        const range: KeyRange = { startAfter: last, endAt };
        const pieces = splitRange(range, splitPointsAfter(first, last, endAt, prefix, parts));
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
