import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  effectivePartSize,
  GiB,
  MAX_PARTS,
  MIN_PART_BYTES,
  MiB,
  needsMultipart,
  parseSize,
  planParts,
} from "../../lambdas/core/copyPlan.ts";
import { UsageError } from "../../lambdas/core/errors.ts";

describe("planParts", () => {
  it("covers every byte exactly once, in order, within S3's part limits", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 * 1024 * GiB }), fc.integer({ min: 1, max: 6 * GiB }), (size, partSize) => {
        const parts = planParts(size, partSize);
        assert.ok(parts.length <= MAX_PARTS);
        let next = 0;
        parts.forEach((p, i) => {
          assert.equal(p.partNumber, i + 1);
          assert.equal(p.first, next);
          assert.ok(p.last >= p.first);
          const bytes = p.last - p.first + 1;
          assert.ok(bytes <= 5 * GiB);
          if (i < parts.length - 1) assert.ok(bytes >= MIN_PART_BYTES, "only the last part may be under 5 MiB");
          next = p.last + 1;
        });
        assert.equal(next, size);
      }),
      { numRuns: 2000 },
    );
  });

  it("cuts a 20 MiB object into four 5 MiB parts", () => {
    assert.deepEqual(
      planParts(20 * MiB, 5 * MiB).map((p) => [p.first, p.last]),
      [
        [0, 5 * MiB - 1],
        [5 * MiB, 10 * MiB - 1],
        [10 * MiB, 15 * MiB - 1],
        [15 * MiB, 20 * MiB - 1],
      ],
    );
  });

  it("grows the part size so that a 5 TiB object fits in 10,000 parts", () => {
    const size = 5 * 1024 * GiB;
    assert.ok(effectivePartSize(size, 8 * MiB) * MAX_PARTS >= size);
    assert.equal(planParts(size, 8 * MiB).length <= MAX_PARTS, true);
  });
});

describe("needsMultipart", () => {
  it("copies an object whose ETag is of the multipart form by parts, whatever its size", () => {
    assert.equal(needsMultipart(6 * MiB, { threshold: 64 * MiB }, '"e4d909c290d0fb1ca068ffaddf22cbd0-2"'), true);
    assert.equal(needsMultipart(6 * MiB, { threshold: 64 * MiB }, '"e4d909c290d0fb1ca068ffaddf22cbd0"'), false);
    assert.equal(needsMultipart(0, { threshold: 64 * MiB }, '"e4d909c290d0fb1ca068ffaddf22cbd0-1"'), false);
  });

  it("copies above the threshold, and always above CopyObject's 5 GiB, by parts", () => {
    assert.equal(needsMultipart(8 * MiB, { threshold: 8 * MiB }), false);
    assert.equal(needsMultipart(8 * MiB + 1, { threshold: 8 * MiB }), true);
    assert.equal(needsMultipart(6 * GiB, { threshold: 100 * GiB }), true);
  });
});

describe("parseSize", () => {
  it("reads binary and decimal units and plain bytes", () => {
    assert.equal(parseSize("8MiB"), 8 * MiB);
    assert.equal(parseSize("5 mib"), 5 * MiB);
    assert.equal(parseSize("64MB"), 64_000_000);
    assert.equal(parseSize("1.5GiB"), 1.5 * GiB);
    assert.equal(parseSize("1048576"), MiB);
  });

  it("refuses what is not a positive size with a UsageError naming the option", () => {
    for (const bad of ["", "abc", "8 parsecs", "-5MiB", "0"]) {
      assert.throws(
        () => parseSize(bad, "--part-size"),
        (err: unknown) => err instanceof UsageError && /--part-size/.test(err.message),
      );
    }
  });
});
