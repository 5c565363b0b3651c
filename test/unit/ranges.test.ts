import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  coversKeySpace,
  DEFAULT_SPLIT_POINTS,
  isPastEnd,
  type KeyRange,
  MAX_PREFIX_SEEDS,
  rangeContains,
  seedRanges,
  seedSplitPoints,
} from "../../lambdas/core/ranges.ts";
import { anyKey, byteCompare, loadAwkwardKeys } from "./arbitraries.ts";

const splitPoints = fc.array(anyKey, { maxLength: 12 });
const optionalBound = fc.option(anyKey, { nil: undefined });
const anyRange: fc.Arbitrary<KeyRange> = fc.record({ startAfter: optionalBound, endAt: optionalBound });

function containing(ranges: readonly KeyRange[], key: string): KeyRange[] {
  return ranges.filter((r) => rangeContains(r, key));
}

describe("seedSplitPoints", () => {
  it("gives every top-level prefix found a seed range of its own, holding all of its keys", () => {
    // Prepare: a job prefix, top-level segments under it (any characters), and keys under each.
    const segment = anyKey.filter((s) => s.length > 0 && !s.includes("/"));
    const input = fc.record({
      prefix: anyKey,
      segments: fc.uniqueArray(segment, { minLength: 1, maxLength: 20 }),
      // Keys under a prefix, not its folder marker (the key `seg/` itself, which closes the range below).
      rest: fc.array(
        anyKey.filter((s) => s.length > 0),
        { minLength: 1, maxLength: 4 },
      ),
    });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ prefix, segments, rest }) => {
        const common = segments.map((s) => `${prefix}${s}/`);
        const ranges = seedRanges(prefix, seedSplitPoints(prefix, common));
        const rangeOf = (key: string) => {
          const found = containing(ranges, key);
          assert.equal(found.length, 1);
          return found[0];
        };
        const seen = new Set<KeyRange | undefined>();
        for (const c of common) {
          const home = rangeOf(`${c}${rest[0]}`);
          for (const r of rest) assert.equal(rangeOf(`${c}${r}`), home, "every key under a prefix in one range");
          assert.ok(!seen.has(home), "no two prefixes share a range");
          seen.add(home);
        }
      }),
      { numRuns: 500 },
    );
  });

  it("keeps the default points, ignores what is not under the job prefix, and seeds at most MAX_PREFIX_SEEDS prefixes, spread evenly", () => {
    assert.deepEqual(seedSplitPoints("data/", []), [...DEFAULT_SPLIT_POINTS]);
    assert.deepEqual(seedSplitPoints("data/", ["data/b/", "data/a/", "other/x/", "data/"]), [...DEFAULT_SPLIT_POINTS, "a/", "b/"]);
    const many = Array.from({ length: 10_000 }, (_, i) => `p${String(i).padStart(5, "0")}/`);
    const points = seedSplitPoints("", many).slice(DEFAULT_SPLIT_POINTS.length);
    assert.equal(points.length, MAX_PREFIX_SEEDS);
    assert.equal(points[0], "p00000/");
    assert.ok(points.at(-1)?.startsWith("p09"), String(points.at(-1)));
  });
});

describe("seedRanges", () => {
  it("puts every key under the prefix in exactly one seeded range, whatever the split points", () => {
    // Prepare
    const input = fc.record({ prefix: anyKey, points: splitPoints, suffix: anyKey });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ prefix, points, suffix }) => {
        const ranges = seedRanges(prefix, points);
        assert.equal(containing(ranges, prefix + suffix).length, 1);
      }),
      { numRuns: 2000 },
    );
  });

  it("puts a key equal to a split bound in the range it closes, not the next one", () => {
    // Prepare
    const input = fc.record({ prefix: anyKey, points: fc.array(anyKey, { minLength: 1, maxLength: 8 }) });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ prefix, points }) => {
        const ranges = seedRanges(prefix, points);
        for (const p of points) {
          const [only, ...others] = containing(ranges, prefix + p);
          assert.equal(others.length, 0);
          assert.equal(only?.endAt, prefix + p);
        }
      }),
    );
  });

  it("returns adjacent ranges in byte order, open below first and open above last", () => {
    // Prepare
    const input = fc.record({ prefix: anyKey, points: splitPoints });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ prefix, points }) => {
        const ranges = seedRanges(prefix, points);
        assert.ok(ranges.length >= 1);
        assert.equal(ranges[0]?.startAfter, undefined);
        assert.equal(ranges.at(-1)?.endAt, undefined);
        for (let i = 0; i + 1 < ranges.length; i++) {
          const range = ranges[i];
          const next = ranges[i + 1];
          assert.ok(range !== undefined && next !== undefined);
          assert.ok(range.endAt !== undefined, "only the last range is open above");
          assert.equal(next.startAfter, range.endAt);
          if (range.startAfter !== undefined) assert.ok(byteCompare(range.startAfter, range.endAt) < 0, "each range is non-empty");
        }
      }),
    );
  });

  it("drops duplicate split points instead of seeding empty ranges", () => {
    // Prepare
    const points = ["m", "c", "m", "c", "x"];

    // Act
    const ranges = seedRanges("p/", points);

    // Assess
    assert.deepEqual(ranges, [
      { startAfter: undefined, endAt: "p/c" },
      { startAfter: "p/c", endAt: "p/m" },
      { startAfter: "p/m", endAt: "p/x" },
      { startAfter: "p/x", endAt: undefined },
    ]);
  });

  it("orders split points by bytes, so U+FFFF comes before an emoji", () => {
    // Prepare
    const points = ["\u{1f600}", "\uffff"];

    // Act
    const ranges = seedRanges("", points);

    // Assess
    assert.deepEqual(
      ranges.map((r) => r.endAt),
      ["\uffff", "\u{1f600}", undefined],
    );
  });

  it("seeds one range open at both ends when there are no split points", () => {
    // Act
    const ranges = seedRanges("any/", []);

    // Assess
    assert.deepEqual(ranges, [{ startAfter: undefined, endAt: undefined }]);
  });

  it("covers keys with control characters, non-ASCII first characters and astral characters", () => {
    // Prepare
    const prefix = "data/";
    const ranges = seedRanges(prefix, DEFAULT_SPLIT_POINTS);
    const suffixes = [
      "",
      "\u0000",
      "\u0001control",
      "\t",
      " leading-space",
      "!",
      "/",
      "//double",
      "\u007fdel",
      "\u0080",
      "\u00e9",
      "\u4e2d",
      "\ue000",
      "\uffff",
      "\u{10000}",
      "\u{1f600}",
      "\u{10ffff}",
      ...loadAwkwardKeys(),
    ];

    // Act
    const uncovered = suffixes.filter((s) => containing(ranges, prefix + s).length !== 1);

    // Assess
    assert.deepEqual(uncovered, []);
  });

  it("puts control characters in the first range and non-ASCII first characters in the last", () => {
    // Prepare
    const ranges = seedRanges("data/", DEFAULT_SPLIT_POINTS);
    const first = ranges[0];
    const last = ranges.at(-1);
    assert.ok(first !== undefined && last !== undefined);

    // Act
    const inFirst = ["\u0000", "\u0001control", "\t", " "].map((s) => rangeContains(first, `data/${s}`));
    const inLast = ["\u0080", "\u00e9", "\uffff", "\u{10000}", "\u{10ffff}"].map((s) => rangeContains(last, `data/${s}`));

    // Assess
    assert.deepEqual(inFirst, [true, true, true, true]);
    assert.deepEqual(inLast, [true, true, true, true, true]);
  });
});

describe("rangeContains", () => {
  it("excludes startAfter, includes endAt, and compares by bytes", () => {
    // Prepare
    const input = fc.record({ range: anyRange, key: anyKey });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ range, key }) => {
        const expected =
          (range.startAfter === undefined || byteCompare(key, range.startAfter) > 0) &&
          (range.endAt === undefined || byteCompare(key, range.endAt) <= 0);
        assert.equal(rangeContains(range, key), expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("places an emoji key after a U+FFFF bound", () => {
    // Prepare
    const range: KeyRange = { startAfter: "\uffff", endAt: "\u{10ffff}" };

    // Act
    const contained = rangeContains(range, "\u{1f600}");

    // Assess
    assert.equal(contained, true);
  });
});

describe("isPastEnd", () => {
  it("is true exactly when the key sorts after the inclusive upper bound", () => {
    // Prepare
    const input = fc.record({ range: anyRange, key: anyKey });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ range, key }) => {
        const expected = range.endAt !== undefined && byteCompare(key, range.endAt) > 0;
        assert.equal(isPastEnd(range, key), expected);
      }),
      { numRuns: 1000 },
    );
  });

  it("never stops a range that is open above", () => {
    // Act
    const past = ["", "z", "\uffff", "\u{10ffff}\u{10ffff}"].map((k) => isPastEnd({ startAfter: "a" }, k));

    // Assess
    assert.deepEqual(past, [false, false, false, false]);
  });

  it("keeps listing at the bound itself and stops just after it", () => {
    // Prepare
    const range: KeyRange = { endAt: "p/m" };

    // Act
    const atBound = isPastEnd(range, "p/m");
    const justAfter = isPastEnd(range, "p/m\u0000");
    const before = isPastEnd(range, "p/l\u{10ffff}");

    // Assess
    assert.deepEqual([atBound, justAfter, before], [false, true, false]);
  });

  it("stops at an emoji key when the bound is U+FFFF (byte order, not UTF-16)", () => {
    // Act
    const past = isPastEnd({ endAt: "\uffff" }, "\u{10000}");

    // Assess
    assert.equal(past, true);
  });
});

describe("coversKeySpace", () => {
  it("is true for any seeding", () => {
    // Prepare
    const input = fc.record({ prefix: anyKey, points: splitPoints });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ prefix, points }) => {
        assert.equal(coversKeySpace(seedRanges(prefix, points)), true);
      }),
    );
  });

  it("stays true with repeated, overlapping and extra portions in any order", () => {
    // Prepare
    const input = fc
      .record({ prefix: anyKey, points: splitPoints, extra: fc.array(anyRange, { maxLength: 6 }) })
      .chain(({ prefix, points, extra }) => {
        const seeds = seedRanges(prefix, points);
        return fc.shuffledSubarray([...seeds, ...seeds, ...extra], { minLength: 2 * seeds.length + extra.length });
      });

    // Act / Assess
    fc.assert(
      fc.property(input, (portions) => {
        assert.equal(coversKeySpace(portions), true);
      }),
    );
  });

  it("is true for overlapping portions that leave no gap", () => {
    // Prepare
    const portions: KeyRange[] = [{ endAt: "m" }, { startAfter: "c", endAt: "t" }, { startAfter: "a", endAt: "d" }, { startAfter: "s" }];

    // Act
    const covered = coversKeySpace(portions);

    // Assess
    assert.equal(covered, true);
  });

  it("is false as soon as any portion of a partition is missing", () => {
    // Prepare
    const input = fc
      .record({ prefix: anyKey, points: splitPoints })
      .map(({ prefix, points }) => seedRanges(prefix, points))
      .chain((seeds) => fc.tuple(fc.constant(seeds), fc.nat({ max: seeds.length - 1 })));

    // Act / Assess
    fc.assert(
      fc.property(input, ([seeds, missing]) => {
        const portions = seeds.filter((_, i) => i !== missing);
        assert.equal(coversKeySpace(portions), false);
        assert.equal(coversKeySpace([...portions, ...portions].reverse()), false);
      }),
      { numRuns: 1000 },
    );
  });

  it("is false for no portions at all", () => {
    // Act
    const covered = coversKeySpace([]);

    // Assess
    assert.equal(covered, false);
  });

  it("is false when portions leave a gap between two bounds", () => {
    // Prepare
    const portions: KeyRange[] = [{ endAt: "a" }, { startAfter: "b" }];

    // Act
    const covered = coversKeySpace(portions);

    // Assess
    assert.equal(covered, false);
  });

  it("is false when nothing is open below or nothing open above", () => {
    // Act
    const noBottom = coversKeySpace([{ startAfter: "", endAt: "m" }, { startAfter: "m" }]);
    const noTop = coversKeySpace([{ endAt: "m" }, { startAfter: "m", endAt: "\u{10ffff}" }]);

    // Assess
    assert.deepEqual([noBottom, noTop], [false, false]);
  });

  it("joins portions by byte order: (…, U+10000] and (U+FFFF, …) overlap", () => {
    // Prepare
    const overlapping: KeyRange[] = [{ endAt: "\u{10000}" }, { startAfter: "\uffff" }];
    const gapped: KeyRange[] = [{ endAt: "\uffff" }, { startAfter: "\u{10000}" }];

    // Act
    const result = [coversKeySpace(overlapping), coversKeySpace(gapped)];

    // Assess
    assert.deepEqual(result, [true, false]);
  });

  it("agrees with a key-by-key check: covered portions contain every probe key", () => {
    // Prepare
    const input = fc.record({ portions: fc.array(anyRange, { maxLength: 6 }), probes: fc.array(anyKey, { maxLength: 20 }) });

    // Act / Assess
    fc.assert(
      fc.property(input, ({ portions, probes }) => {
        fc.pre(coversKeySpace(portions));
        for (const key of probes) assert.ok(containing(portions, key).length >= 1, `key ${JSON.stringify(key)} is not covered`);
      }),
      { numRuns: 500 },
    );
  });
});
