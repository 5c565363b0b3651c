import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { grownPartitions, grownRequests, grownSeconds, S3_SCALING } from "../../lambdas/core/s3Scaling.ts";
import { loadPriceTable } from "../../scripts/lib/plan.ts";
import { S3_MODEL } from "../../scripts/sim/model.ts";

const close = (actual: number, expected: number, epsilon = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= epsilon * Math.max(1, Math.abs(expected)), `expected ${expected}, got ${actual}`);

describe("S3's rates and growth rule, shared by plan and the simulator", () => {
  it("are the published rates and one rule, in the simulator's model and in the price table alike", () => {
    assert.deepEqual(S3_SCALING, {
      writesPerSecond: 3500,
      readsPerSecond: 5500,
      growAfterSeconds: 300,
      growDemandFraction: 0.8,
      maxPartitions: 64,
    });
    for (const key of Object.keys(S3_SCALING) as (keyof typeof S3_SCALING)[]) assert.equal(S3_MODEL[key], S3_SCALING[key], key);
    const rates = loadPriceTable().s3RequestRates;
    assert.equal(rates.writesPerSecondPerPrefix, S3_SCALING.writesPerSecond);
    assert.equal(rates.readsPerSecondPerPrefix, S3_SCALING.readsPerSecond);
  });

  it("gives a busy prefix 1 partition for 300 s, then doubles it every 300 s up to 64", () => {
    assert.deepEqual(
      [0, 1, 300, 300.5, 600, 601, 900, 1200, 1500, 1800, 1801, 1e6].map((t) => grownPartitions(t)),
      [1, 1, 1, 2, 2, 4, 4, 8, 16, 32, 64, 64],
    );
  });

  it("takes W / (R x P) seconds while the job lasts no longer than 300 s", () => {
    close(grownSeconds(3500, 1, 100_000), 100_000 / 3500);
    close(grownSeconds(3500, 1, 1_000_000), 1_000_000 / 3500);
    close(grownSeconds(3500, 16, 1_000_000), 1_000_000 / 56_000);
    close(grownSeconds(3500, 1, 3500 * 300), 300);
    assert.equal(grownSeconds(3500, 1, 0), 0);
  });

  it("sums the doubled rate piecewise across each doubling", () => {
    // 10M writes at one prefix: 1.05M in the first 300 s, 2.1M in the next, 4.2M in the next, the rest at 28,000/s.
    const rest = 10_000_000 - 300 * 3500 * (1 + 2 + 4);
    close(grownSeconds(3500, 1, 10_000_000), 900 + rest / 28_000);
    // Halfway into the second period, over 2 prefixes at once.
    close(grownSeconds(5500, 2, 300 * 11_000 + 150 * 22_000), 450);
    close(grownRequests(5500, 2, 450), 300 * 11_000 + 150 * 22_000);
  });

  it("stops doubling at the maximum partitions", () => {
    const grown = 300 * 3500 * (1 + 2 + 4 + 8 + 16 + 32); // the first 1,800 s
    close(grownSeconds(3500, 1, grown + 64 * 3500 * 1000), 2800);
    close(grownSeconds(3500, 1, 1e12) - grownSeconds(3500, 1, 1e12 - 64 * 3500 * 100), 100);
    // A rule capped below a power of two stops there too.
    close(grownSeconds(10, 1, 10 * 10 + 20 * 10 + 30 * 50, { growAfterSeconds: 10, maxPartitions: 3 }), 70);
  });

  it("is monotone in the requests, and grownRequests inverts it", () => {
    fc.assert(
      fc.property(
        fc.double({ min: 0, max: 1e10, noNaN: true }),
        fc.double({ min: 0, max: 1e10, noNaN: true }),
        fc.integer({ min: 1, max: 100 }),
        fc.constantFrom(3500, 5500),
        (a, b, prefixes, rate) => {
          const [lo, hi] = a <= b ? [a, b] : [b, a];
          const tLo = grownSeconds(rate, prefixes, lo);
          assert.ok(tLo <= grownSeconds(rate, prefixes, hi));
          // Never slower than at the maximum partitions from the start, never faster than at one partition.
          assert.ok(tLo <= lo / (rate * prefixes) + 1e-9);
          assert.ok(tLo >= lo / (rate * prefixes * S3_SCALING.maxPartitions) - 1e-9);
          close(grownRequests(rate, prefixes, tLo), lo, 1e-9);
        },
      ),
    );
  });
});
