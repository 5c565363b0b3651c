import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import type { S3Location } from "../../lambdas/core/messages.ts";
import { newJobId, selectionsOverlap } from "../../lambdas/core/selection.ts";
import { anyKey } from "./arbitraries.ts";

const JOB_ID = /^[0-9]{8}-[0-9]{6}-[a-z0-9]{6}$/;
const unitRandom = fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true });
const jobDate = fc.date({ min: new Date("1970-01-01T00:00:00Z"), max: new Date("9999-12-31T23:59:59Z"), noInvalidDate: true });

function at(bucket: string, prefix: string): S3Location {
  return { bucket, prefix };
}

/** The first `n` code points of `s`. */
function head(s: string, n: number): string {
  return [...s].slice(0, n).join("");
}

describe("selectionsOverlap", () => {
  it("sees nested prefixes in the same bucket as overlapping, both ways round", () => {
    // Act
    const results = [
      selectionsOverlap(at("b", "data/"), at("b", "data/2024/")),
      selectionsOverlap(at("b", "data/2024/"), at("b", "data/")),
      selectionsOverlap(at("b", "data/"), at("b", "data/")),
      selectionsOverlap(at("b", ""), at("b", "backup/")),
      selectionsOverlap(at("b", "a"), at("b", "ab/")),
    ];

    // Assess
    assert.deepEqual(results, [true, true, true, true, true]);
  });

  it("never sees selections in different buckets as overlapping", () => {
    fc.assert(
      fc.property(anyKey, anyKey, (p1, p2) => {
        // Act
        const overlap = selectionsOverlap(at("bucket-a", p1), at("bucket-b", p2));

        // Assess
        assert.equal(overlap, false);
      }),
    );
  });

  it('does not see sibling prefixes "a/" and "ab/" as overlapping', () => {
    // Act
    const results = [selectionsOverlap(at("b", "a/"), at("b", "ab/")), selectionsOverlap(at("b", "ab/"), at("b", "a/"))];

    // Assess
    assert.deepEqual(results, [false, false]);
  });

  it("overlaps whenever some key lies under both prefixes", () => {
    // Prepare: two prefixes cut from the same key.
    const input = fc.tuple(anyKey, fc.nat({ max: 20 }), fc.nat({ max: 20 }));

    fc.assert(
      fc.property(input, ([key, i, j]) => {
        // Act
        const overlap = selectionsOverlap(at("b", head(key, i)), at("b", head(key, j)));

        // Assess
        assert.equal(overlap, true);
      }),
    );
  });

  it("is symmetric, and false only when no key can lie under both prefixes", () => {
    fc.assert(
      fc.property(anyKey, anyKey, (p1, p2) => {
        // Act
        const forward = selectionsOverlap(at("b", p1), at("b", p2));
        const backward = selectionsOverlap(at("b", p2), at("b", p1));

        // Assess
        assert.equal(forward, backward);
        const longer = p1.length >= p2.length ? p1 : p2;
        assert.equal(forward, longer.startsWith(p1) && longer.startsWith(p2));
      }),
    );
  });
});

describe("newJobId", () => {
  it("matches the job id format for any date and random draw", () => {
    fc.assert(
      fc.property(jobDate, unitRandom, (date, r) => {
        // Act
        const id = newJobId(date, () => r);

        // Assess
        assert.match(id, JOB_ID);
      }),
      { numRuns: 1000 },
    );
  });

  it("matches the job id format with the default clock and randomness", () => {
    // Act
    const ids = Array.from({ length: 50 }, () => newJobId());

    // Assess
    for (const id of ids) assert.match(id, JOB_ID);
  });

  it("stamps the UTC time and pads the random suffix", () => {
    // Prepare
    const date = new Date("2024-03-05T07:08:09.123Z");

    // Act
    const lowest = newJobId(date, () => 0);
    const highest = newJobId(date, () => 0.9999999999);

    // Assess
    assert.equal(lowest, "20240305-070809-000000");
    assert.equal(highest, "20240305-070809-zzzzzz");
  });

  it("sorts ids by creation time", () => {
    fc.assert(
      fc.property(jobDate, jobDate, unitRandom, unitRandom, (d1, d2, r1, r2) => {
        // Prepare
        const [early, late] = d1 <= d2 ? [d1, d2] : [d2, d1];
        fc.pre(Math.floor(early.getTime() / 1000) < Math.floor(late.getTime() / 1000));

        // Act
        const a = newJobId(early, () => r1);
        const b = newJobId(late, () => r2);

        // Assess
        assert.ok(a < b, `${a} should sort before ${b}`);
      }),
    );
  });
});
