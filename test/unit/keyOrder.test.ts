import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareKeys, sortKeys } from "../../lambdas/core/keyOrder.ts";
import { anyKey, byteCompare, graphemeString, loadAwkwardKeys, sign } from "./arbitraries.ts";

describe("compareKeys", () => {
  it("orders arbitrary keys as S3 does, by their UTF-8 bytes", () => {
    // Prepare
    const keys = fc.oneof(anyKey, graphemeString);

    // Act / Assess
    fc.assert(
      fc.property(keys, keys, (a, b) => {
        assert.equal(sign(compareKeys(a, b)), sign(byteCompare(a, b)));
      }),
      { numRuns: 2000 },
    );
  });

  it("orders keys that share a long prefix by the first differing character", () => {
    // Prepare
    const triple = fc.tuple(anyKey, anyKey, anyKey);

    // Act / Assess
    fc.assert(
      fc.property(triple, ([prefix, a, b]) => {
        assert.equal(sign(compareKeys(prefix + a, prefix + b)), sign(byteCompare(prefix + a, prefix + b)));
      }),
      { numRuns: 1000 },
    );
  });

  it("puts U+FFFF before U+10000 although JavaScript's < says otherwise", () => {
    // Prepare
    const bmpTop = "\uffff";
    const firstAstral = "\u{10000}";

    // Act
    const order = compareKeys(bmpTop, firstAstral);
    const reverse = compareKeys(firstAstral, bmpTop);

    // Assess
    assert.ok(firstAstral < bmpTop, "the trap: UTF-16 code units put the astral character first");
    assert.ok(order < 0);
    assert.ok(reverse > 0);
  });

  it("puts the private use area (U+E000) before emoji, and emoji after every BMP character", () => {
    // Prepare
    const pairs: [string, string][] = [
      ["\ue000", "\u{1f600}"],
      ["\ufffd-replacement", "\u{1f600}/smile"],
      ["a\uffff", "a\u{10000}"],
      ["\ud7ff", "\ue000"],
      ["\u{1f600}", "\u{1f601}"],
      ["\u{10fffd}", "\u{10ffff}"],
    ];

    // Act
    const orders = pairs.map(([a, b]) => sign(compareKeys(a, b)));

    // Assess
    assert.deepEqual(
      orders,
      pairs.map(() => -1),
    );
  });

  it("puts a key before every longer key it is a prefix of", () => {
    // Prepare
    const cases: [string, string][] = [
      ["", "\u0000"],
      ["dir", "dir/"],
      ["dir/", "dir/\u0000"],
      ["\u{1f600}", "\u{1f600}\u0000"],
    ];

    // Act
    const orders = cases.map(([short, long]) => [sign(compareKeys(short, long)), sign(compareKeys(long, short))]);

    // Assess
    assert.deepEqual(
      orders,
      cases.map(() => [-1, 1]),
    );
  });

  it("is a total order: reflexive, antisymmetric and transitive", () => {
    // Prepare
    const keys = fc.array(anyKey, { minLength: 3, maxLength: 3 });

    // Act / Assess
    fc.assert(
      fc.property(keys, anyKey, ([a = "", b = "", c = ""], d) => {
        assert.equal(compareKeys(d, d), 0);
        assert.equal(compareKeys(a, b) === 0, a === b);
        assert.equal(sign(compareKeys(a, b)), sign(-compareKeys(b, a)));
        if (compareKeys(a, b) <= 0 && compareKeys(b, c) <= 0) assert.ok(compareKeys(a, c) <= 0);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("sortKeys", () => {
  it("sorts the awkward keys in UTF-8 byte order", () => {
    // Prepare
    const keys = loadAwkwardKeys();
    const expected = [...keys].sort(byteCompare);

    // Act
    const sorted = sortKeys([...keys].reverse());

    // Assess
    assert.deepEqual(sorted, expected);
  });

  it("returns the same order whatever the input order, and keeps every key", () => {
    // Prepare
    const input = fc
      .array(anyKey, { maxLength: 40 })
      .chain((keys) => fc.tuple(fc.constant(keys), fc.shuffledSubarray(keys, { minLength: keys.length })));

    // Act / Assess
    fc.assert(
      fc.property(input, ([keys, shuffled]) => {
        const sorted = sortKeys(keys);
        assert.deepEqual(sortKeys(shuffled), sorted);
        assert.deepEqual(sorted, [...keys].sort(byteCompare));
        assert.deepEqual([...sorted].sort(), [...keys].sort());
      }),
    );
  });

  it("leaves its input untouched and is idempotent", () => {
    // Prepare
    const keys = ["b", "\u{10000}", "\uffff", "a", "a"];
    const copy = [...keys];

    // Act
    const once = sortKeys(keys);
    const twice = sortKeys(once);

    // Assess
    assert.deepEqual(keys, copy);
    assert.deepEqual(once, ["a", "a", "b", "\uffff", "\u{10000}"]);
    assert.deepEqual(twice, once);
  });
});
