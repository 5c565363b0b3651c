import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import fc from "fast-check";
import { GiB, MiB, planParts } from "../../lambdas/core/copyPlan.ts";
import { ConfigError } from "../../lambdas/core/errors.ts";
import { EVENT_SOURCE_SCALING, rampedConcurrency, rampedSeconds, rampedWork } from "../../lambdas/core/eventSource.ts";
import {
  countMessages,
  estimateMessages,
  type JobPlan,
  type MessageCounts,
  ObjectTally,
  type PlanCapacity,
  type PlanSource,
  parsePriceTable,
  partsOf,
  planDeletions,
  planJob,
} from "../../lambdas/core/plan.ts";
import { DEFAULT_PRICES_FILE, loadPriceTable } from "../../scripts/lib/plan.ts";

const prices = loadPriceTable();
const KiB = 1024;
const DEFAULT_MULTIPART = { threshold: 64 * MiB, partSize: 64 * MiB };
const CAPACITY: PlanCapacity = {
  lambdaConcurrency: 50,
  copyConcurrency: 64,
  listConcurrency: 10,
  partConcurrency: 8,
  headConcurrency: 32,
  prefixes: 1,
};
const LISTING: PlanSource = { kind: "listing", units: 11, sync: false };
/** Copy items of 100 bytes (a 60-character key, its size and ETag) in messages with a 300-byte envelope. */
const messagesFor = (objects: number): MessageCounts => estimateMessages(objects, 100, 300);

function uniformPlan(
  objects: number,
  size: number,
  overrides: { capacity?: Partial<PlanCapacity>; source?: PlanSource; multipart?: typeof DEFAULT_MULTIPART } = {},
): JobPlan {
  const tally = new ObjectTally(overrides.multipart ?? DEFAULT_MULTIPART);
  tally.addMany(objects, size);
  return planJob({
    tally,
    messages: messagesFor(objects),
    source: overrides.source ?? LISTING,
    capacity: { ...CAPACITY, ...overrides.capacity },
    prices,
  });
}

const close = (actual: number, expected: number, epsilon = 1e-6) =>
  assert.ok(Math.abs(actual - expected) <= epsilon, `expected ${expected}, got ${actual}`);

describe("the price table", () => {
  it("ships us-east-1 list prices with their date and source", () => {
    assert.equal(prices.region, "us-east-1");
    assert.match(prices.asOf, /^\d{4}-\d{2}-\d{2}$/);
    assert.equal(prices.s3.putCopyPostListPer1000, 0.005);
    assert.equal(prices.s3.getHeadPer1000, 0.0004);
    assert.equal(prices.sqs.perMillionRequests, 0.4);
    assert.equal(prices.sqs.billedChunkBytes, 64 * KiB);
    assert.equal(prices.lambda.perGbSecond, 0.0000133334);
    assert.equal(prices.lambda.perMillionRequests, 0.2);
    assert.deepEqual([prices.batchOperations.perJob, prices.batchOperations.perMillionObjects], [0.25, 1]);
    assert.deepEqual([prices.s3RequestRates.writesPerSecondPerPrefix, prices.s3RequestRates.readsPerSecondPerPrefix], [3500, 5500]);
  });

  it("refuses a malformed table with one error naming the file and the field", () => {
    const text = readFileSync(DEFAULT_PRICES_FILE, "utf8");
    const table = JSON.parse(text) as { s3: Record<string, unknown>; model: Record<string, unknown> };
    table.s3.getHeadPer1000 = "0.0004";
    assert.throws(() => parsePriceTable(JSON.stringify(table), "p.json"), {
      name: "ConfigError",
      message: /^price table p\.json is invalid at s3\.getHeadPer1000: /,
    });
    table.s3.getHeadPer1000 = 0.0004;
    table.model.copyRequestSecs = 0.1;
    assert.throws(() => parsePriceTable(JSON.stringify(table), "p.json"), /invalid at model\.copyRequestSecs/);
    assert.throws(
      () => parsePriceTable("{", "p.json"),
      (err: unknown) => err instanceof ConfigError && /is not JSON/.test(err.message),
    );
  });
});

describe("ObjectTally", () => {
  it("counts objects into log2 buckets, the empty object alone", () => {
    const tally = new ObjectTally(DEFAULT_MULTIPART);
    for (const size of [0, 1, 2, 3, 1023, 1024, 1025]) tally.add(size);
    assert.deepEqual(tally.histogram(), [
      { from: 0, below: 1, objects: 1, bytes: 0 },
      { from: 1, below: 2, objects: 1, bytes: 1 },
      { from: 2, below: 4, objects: 2, bytes: 5 },
      { from: 512, below: 1024, objects: 1, bytes: 1023 },
      { from: 1024, below: 2048, objects: 2, bytes: 2049 },
    ]);
    assert.equal(tally.objects, 7);
    assert.equal(tally.bytes, 3078);
    assert.equal(tally.largest, 1025);
  });

  it("puts every size in the bucket that holds it", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 5 * 1024 * GiB }), (size) => {
        const tally = new ObjectTally(DEFAULT_MULTIPART);
        tally.add(size);
        const [bucket] = tally.histogram();
        assert.ok(bucket !== undefined && bucket.from <= size && size < bucket.below);
        assert.ok(bucket.below === 1 || bucket.below === 2 * bucket.from);
      }),
    );
  });

  it("counts copies by parts and their parts as copyPlan plans them", () => {
    const tally = new ObjectTally({ threshold: 8 * MiB, partSize: 5 * MiB });
    tally.add(8 * MiB); // at the threshold: one CopyObject
    tally.add(8 * MiB + 1); // 2 parts
    tally.add(6 * MiB, '"e4d909c290d0fb1ca068ffaddf22cbd0-2"'); // a multipart ETag: by parts, 2 parts
    tally.add(5 * 1024 * GiB); // 5 TiB: parts grown to fit 10,000
    assert.equal(tally.multipartObjects, 3);
    assert.equal(tally.parts, 2 + 2 + 10_000);
    assert.equal(tally.multipartBytes, 8 * MiB + 1 + 6 * MiB + 5 * 1024 * GiB);
    assert.equal(tally.over5GiB, 1);
  });

  it("counts as many parts as planParts cuts", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 5 * 1024 * GiB }), fc.integer({ min: 5 * MiB, max: 5 * GiB }), (size, partSize) => {
        assert.equal(partsOf(size, partSize), planParts(size, partSize).length);
      }),
      { numRuns: 300 },
    );
  });
});

describe("copy messages", () => {
  it("counts SendMessageBatch requests as the sink cuts them and bills each started 64 KiB", () => {
    // 8 bodies of 30,000 bytes fit in 252 KiB, a ninth does not: requests of 8, 8, 8 and 1.
    const counts = countMessages(Array.from({ length: 25 }, () => "x".repeat(30_000)));
    assert.deepEqual(counts, { messages: 25, bodyBytes: 750_000, sendRequests: 4, billedSendRequests: 3 * 4 + 1 });
  });

  it("estimates 100-key messages for small keys and fewer keys for long ones", () => {
    // 100 items of 100 bytes + 99 commas + 300 = 10,399 bytes; 10 to a request is 103,990 bytes: 2 chunks.
    assert.deepEqual(messagesFor(1_000_000), {
      messages: 10_000,
      bodyBytes: 10_000 * 300 + 1_000_000 * 100 + 990_000,
      sendRequests: 1_000,
      billedSendRequests: 2_000,
    });
    // Items of 2,000 bytes: (65,536 - 300 + 1) / 2,001 = 32 keys a message.
    assert.equal(estimateMessages(1_000, 2_000, 300).messages, Math.ceil(1_000 / 32));
  });
});

describe("the SQS event source's ramp", () => {
  it("starts 5 invocations and adds 300 a minute up to its cap, as AWS documents", () => {
    assert.deepEqual(EVENT_SOURCE_SCALING, { initialConcurrency: 5, scaleUpPerMinute: 300, maxConcurrency: 1000 });
    assert.equal(rampedConcurrency(1_000, 0), 5);
    assert.equal(rampedConcurrency(1_000, 60), 305);
    assert.equal(rampedConcurrency(1_000, 199), 1_000);
    assert.equal(rampedConcurrency(5_000, 1_000), 1_000);
    // (1,000 - 5) / 5 = 199 s to reach 1,000: 5 x 199 + 2.5 x 199^2 invocation-seconds on the way.
    close(rampedWork(1_000, 199), 99_997.5);
    close(rampedWork(1_000, 299), 99_997.5 + 100_000);
    assert.equal(rampedWork(3, 10), 30);
  });

  it("inverts: the seconds to do some work are those whose ramp does that work", () => {
    fc.assert(
      fc.property(fc.integer({ min: 1, max: 2_000 }), fc.double({ min: 0, max: 1e7, noNaN: true }), (cap, work) => {
        const seconds = rampedSeconds(cap, work);
        assert.ok(Math.abs(rampedWork(cap, seconds) - work) <= 1e-6 * Math.max(1, work));
      }),
    );
  });
});

describe("planJob", () => {
  it("plans 1,000,000 objects of 1 KiB: a million copies, 1,000 list pages, $5.00 of copy requests", () => {
    const plan = uniformPlan(1_000_000, KiB);

    assert.equal(plan.objects, 1_000_000);
    assert.equal(plan.bytes, 1_024_000_000);
    assert.deepEqual(plan.sizeHistogram, [{ from: 1024, below: 2048, objects: 1_000_000, bytes: 1_024_000_000 }]);
    assert.equal(plan.multipartObjects, 0);
    assert.deepEqual(plan.invocations, { list: 11, copy: 1_000 });
    assert.deepEqual(plan.requests.s3, {
      list: 1_001, // 1,000 pages, and the kickoff's listing of the top-level prefixes
      get: 0,
      copy: 1_000_000,
      head: 0,
      tagging: 0,
      createUpload: 0,
      uploadPartCopy: 0,
      completeUpload: 0,
      // one per copy invocation (10 messages of 100 keys), one per list invocation, the spec
      ledgerPut: 1_000 + 11 + 1,
    });
    // 1,000 copy sends + 2 seed sends; a receive and a delete per invocation.
    assert.deepEqual(plan.requests.sqs, { send: 1_002, receive: 1_011, delete: 1_011 });
    // A send or a receive of 10 messages is 103,990 bytes: billed as 2.
    assert.deepEqual(plan.sqsBilledRequests, { send: 2_002, receive: 2_011, delete: 1_011 });
    assert.equal(plan.costByOperation.s3.copy, 5);
    assert.equal(plan.costByOperation.s3.list, 0.005005);
    assert.equal(plan.costByOperation.s3.ledgerPut, 0.00506);
    assert.equal(plan.cost.s3, 5.010065);
    assert.equal(plan.cost.sqs, 0.00201); // 5,024 billed requests x $0.40 per million
    // One prefix: 1,000,000 copies at 3,500/s take 285.7 s, and the copy invocations wait through all of it,
    // as many as the event source has started: 5, then 5 more a second, up to 50 after 9 s.
    assert.equal(plan.bottleneck, "s3-write-rate");
    assert.equal(plan.prefixesAtOnce, 1);
    close(plan.projectedSeconds, 285.714, 1e-3);
    assert.equal(plan.s3PartitionsAtEnd, 1); // done within 300 s: S3 has not grown the prefix yet
    // 1,663.29 invocation-seconds ((1e6 x 0.1 s + 20.48 s of bytes + 1,000 x 0.03 s) / 64 + 1,000 x 0.1 s):
    // 247.5 of them in the 9 s ramp to 50, the rest at 50.
    close(plan.bottlenecks.lambda, 9 + (1_663.28875 - 247.5) / 50, 1e-3);
    // 251.1 s of listing ((1,000 pages x 0.25 s + 11 x 0.1 s)): 7.5 in the 1 s ramp to 10, the rest at 10.
    close(plan.bottlenecks.listing, 1 + (251.1 - 7.5) / 10, 1e-3);
    close(plan.lambdaGbSeconds, 247.5 + (1_000_000 / 3_500 - 9) * 50 + 251.1, 1e-3);
    close(plan.cost.lambda, 14_334.314286 * 0.0000133334 + 1_011 * 0.0000002);
    close(plan.cost.total, 5.010065 + 0.0020096 + 0.191125 + 0.0002022);
    close(plan.cost.perMillionObjects, plan.cost.total, 1e-5);
    assert.equal(plan.usefulConcurrency, 6); // 1,663.3 busy seconds over 285.7 s
    // Batch Operations: $0.25 + $1.00 per million + the same $5.00 of CopyObject.
    assert.deepEqual(plan.batchOperations, { cost: 6.25, jobFee: 0.25, objectFee: 1, copyRequests: 5, unsupportedObjects: 0 });
  });

  it("spreads over more prefixes until Lambda is the bottleneck, and stops billing the wait", () => {
    const plan = uniformPlan(1_000_000, KiB, { capacity: { prefixes: 10 } });
    assert.equal(plan.bottleneck, "lambda");
    close(plan.projectedSeconds, 37.316, 1e-3);
    close(plan.bottlenecks["s3-write-rate"], 28.571, 1e-3);
    close(plan.lambdaGbSeconds, 1_663.28875 + 251.1, 1e-3);
  });

  it("writes to no more prefixes at once than list invocations are at work: keys are listed in order", () => {
    const narrow = uniformPlan(1_000_000, KiB, { capacity: { prefixes: 16, lambdaConcurrency: 1_000 } });
    assert.equal(narrow.prefixesAtOnce, 10);
    close(narrow.bottlenecks["s3-write-rate"], 1_000_000 / 35_000, 1e-3);
    const wider = uniformPlan(1_000_000, KiB, { capacity: { prefixes: 16, lambdaConcurrency: 1_000, listConcurrency: 32 } });
    assert.equal(wider.prefixesAtOnce, 16);
    close(wider.bottlenecks["s3-write-rate"], 1_000_000 / 56_000, 1e-3);
  });

  it("lets S3 double a busy prefix's partitions every 300 s, as the simulator does", () => {
    // 10M keys at one prefix: 1.05M in the first 300 s at 3,500/s, 2.1M at 7,000, 4.2M at 14,000, the rest at
    // 28,000/s: 994.6 s, not the 2,857 s of one partition throughout (the simulator: 1,004 s, 8 partitions).
    const plan = uniformPlan(10_000_000, KiB, { capacity: { lambdaConcurrency: 1_000 } });
    const grownSeconds = 900 + (10_000_000 - 7_350_000) / 28_000;
    assert.equal(plan.bottleneck, "s3-write-rate");
    close(plan.projectedSeconds, grownSeconds, 1e-3);
    assert.ok(plan.projectedSeconds < 10_000_000 / 3_500);
    assert.equal(plan.s3PartitionsAtEnd, 8);
    // Keeping pace with the 28,000 writes a second it ends at takes 47 invocations: 16,632.9 busy seconds
    // (1e7 x 0.1 s + 204.8 s of bytes + 10,000 x 0.03 s) / 64 + 10,000 x 0.1 s) over 10M / 28,000 s.
    assert.equal(plan.usefulConcurrency, 47);
    // The reads (10,001 listing pages) are done long before 300 s.
    close(plan.bottlenecks["s3-read-rate"], 10_001 / 5_500, 1e-3);
    // 1M keys (285.7 s, under 300 s) is what one partition gives, as before.
    close(uniformPlan(1_000_000, KiB, { capacity: { lambdaConcurrency: 1_000 } }).bottlenecks["s3-write-rate"], 1_000_000 / 3_500, 1e-3);
  });

  it("grows only the prefixes kept busy for 300 s: each holds its share, written a list invocation's worth at a time", () => {
    // 100M keys over 1,000 prefixes, 32 written at once: 100,000 keys a prefix, 28.6 s of writes each, so none
    // grows, and the stage is 100M / (3,500 x 32) = 892.9 s (not the 596 s of 32 prefixes growing throughout).
    const plan = uniformPlan(100_000_000, KiB, { capacity: { prefixes: 1_000, lambdaConcurrency: 1_000, listConcurrency: 32 } });
    assert.equal(plan.prefixesAtOnce, 32);
    close(plan.bottlenecks["s3-write-rate"], 100_000_000 / (3_500 * 32), 1e-3);
    assert.equal(plan.s3PartitionsAtEnd, 1);
    // As many prefixes as are written at once: the same as 32 prefixes busy throughout.
    const wide = uniformPlan(100_000_000, KiB, { capacity: { prefixes: 32, lambdaConcurrency: 1_000, listConcurrency: 32 } });
    // 3.125M writes a prefix: 1.05M in the first 300 s, the rest at 7,000 a second.
    close(wide.bottlenecks["s3-write-rate"], 300 + (100_000_000 / 32 - 1_050_000) / 7_000, 1e-3);
  });

  it("bills rate-bound copy invocations by the event source's ramp, not all of them from the first second", () => {
    // 10M keys at one prefix: 994.6 s. The ramp to 1,000 takes 199 s (99,997.5 invocation-seconds), then 1,000 wait.
    const plan = uniformPlan(10_000_000, KiB, { capacity: { lambdaConcurrency: 1_000 } });
    assert.equal(plan.bottleneck, "s3-write-rate");
    const listBusy = 10_000 * 0.25 + 100 * 0.1; // 10,000 pages, 100 list invocations
    close(plan.lambdaGbSeconds, 99_997.5 + 1_000 * (900 + 2_650_000 / 28_000 - 199) + listBusy, 1e-2);
  });

  it("reproduces the original design's ~8 minutes for 1M objects copied one at a time", () => {
    // One copy at a time per invocation: (1e6 x 0.1 s + 20.48 + 30) + 1,000 x 0.1 s = 100,150.48
    // invocation-seconds; 3,997.5 of them in the 39 s ramp to 200, the rest at 200: 8.7 minutes.
    const plan = uniformPlan(1_000_000, KiB, { capacity: { copyConcurrency: 1, lambdaConcurrency: 200 } });
    assert.equal(plan.bottleneck, "lambda");
    close(plan.projectedSeconds, 39 + (100_150.48 - 3_997.5) / 200, 1e-3);
  });

  it("plans 1,000,000,000 small objects: hours at one prefix, under an hour spread wide", () => {
    const onePrefix = uniformPlan(1_000_000_000, KiB);
    assert.equal(onePrefix.requests.s3.list, 1_000_001);
    assert.equal(onePrefix.costByOperation.s3.copy, 5_000);
    assert.equal(onePrefix.batchOperations.cost, 6_000.25);
    // S3 grows the prefix to 64 partitions after 1,800 s (66.15M writes by then), then 224,000 writes a second:
    // 1.7 h. 50 copy invocations need 9.2 h for 1,663,288.75 busy seconds (9 s of ramp, 247.5 of them).
    close(onePrefix.bottlenecks["s3-write-rate"], 1_800 + (1e9 - 300 * 3_500 * 63) / (64 * 3_500), 1e-3);
    // S3's stage could grow to 64, but 50 invocations ask for 30,057 writes a second: 80 % of 16 partitions'
    // 56,000 is more than that, so the prefix stops at 16.
    assert.equal(onePrefix.s3PartitionsAtEnd, 16);
    assert.equal(onePrefix.bottleneck, "lambda");
    close(onePrefix.projectedSeconds, 9 + (1_663_288.75 - 247.5) / 50, 1e-3);
    close(onePrefix.bottlenecks.listing, 1 + (1_000_000 * 0.25 + 10_000 * 0.1 - 7.5) / 10, 1e-3);

    const wide = uniformPlan(1_000_000_000, KiB, { capacity: { prefixes: 100, lambdaConcurrency: 1_000, listConcurrency: 100 } });
    close(wide.bottlenecks["s3-write-rate"], 900 + (1e9 - 735_000_000) / 2_800_000, 1e-3);
    assert.equal(wide.bottleneck, "listing");
    close(wide.projectedSeconds, 19 + (251_000 - (5 * 19 + 2.5 * 19 * 19)) / 100, 1e-3);
    assert.equal(wide.usefulConcurrency, 661); // 1,663,288.75 busy seconds over 2,519 s of listing
    // Bound by listing, not by S3's rate, no copy invocation waits: fewer of them cost the same and take as long.
    const fewer = uniformPlan(1_000_000_000, KiB, { capacity: { prefixes: 100, lambdaConcurrency: 700, listConcurrency: 100 } });
    assert.equal(fewer.projectedSeconds, wide.projectedSeconds);
    assert.equal(fewer.cost.lambda, wide.cost.lambda);
  });

  it("counts the five requests of every copy by parts and one per part", () => {
    // 1,000 objects of 100 MiB: above 64 MiB, two 64 MiB parts each.
    const plan = uniformPlan(1_000, 100 * MiB);
    assert.equal(plan.multipartObjects, 1_000);
    assert.equal(plan.parts, 2_000);
    assert.deepEqual(plan.requests.s3, {
      list: 12,
      get: 0,
      copy: 0,
      head: 1_000,
      tagging: 1_000,
      createUpload: 1_000,
      uploadPartCopy: 2_000,
      completeUpload: 1_000,
      ledgerPut: 1 + 11 + 1,
    });
    // PUT tier: 1,000 + 2,000 + 1,000 + 13 + 12 = 4,025 x $0.005/1,000; GET tier: 2,000 x $0.0004/1,000.
    assert.equal(plan.cost.s3, 0.020925); // $0.020125 + $0.0008
    // The largest object: HEAD, tagging, create, complete, and its 2 parts at once (0.1 s + 64 MiB at 50 MB/s).
    close(plan.bottlenecks["largest-object"], 4 * 0.03 + 0.1 + (64 * MiB) / 50e6, 1e-3);
  });

  it("leaves objects above 5 GiB out of S3 Batch Operations' copy, which refuses them", () => {
    const tally = new ObjectTally(DEFAULT_MULTIPART);
    tally.addMany(999, KiB);
    tally.add(6 * GiB);
    const plan = planJob({ tally, messages: messagesFor(1_000), source: LISTING, capacity: CAPACITY, prices });
    assert.equal(plan.batchOperations.unsupportedObjects, 1);
    assert.equal(plan.batchOperations.copyRequests, 0.004995);
    assert.equal(plan.batchOperations.cost, 0.255995); // $0.25 + $0.001 + $0.004995
    assert.equal(plan.parts, Math.ceil((6 * GiB) / (64 * MiB)));
  });

  it("lists the destination too in sync mode", () => {
    const plan = uniformPlan(1_000_000, KiB, { source: { kind: "listing", units: 11, sync: true } });
    assert.equal(plan.requests.s3.list, 2_001);
    assert.equal(plan.requests.s3.copy, 1_000_000);
  });

  it("reads a manifest instead of listing, HEADing the rows without a size", () => {
    // A Batch Operations CSV of 5,000 rows in one chunk: no listing, one GET, a HEAD per row and one of the manifest.
    const plan = uniformPlan(5_000, KiB, { source: { kind: "manifest", chunks: 1, rows: 5_000, headedRows: 5_000, inventory: false } });
    assert.equal(plan.requests.s3.list, 0);
    assert.equal(plan.requests.s3.get, 1);
    assert.equal(plan.requests.s3.head, 5_001);
    assert.deepEqual(plan.invocations, { list: 1, copy: 5 });
    // One chunk is listed by one invocation: 5 pages x 0.25 s + 5,000 HEADs x 0.03 s / 32 + 0.1 s.
    close(plan.bottlenecks.listing, 5 * 0.25 + (5_000 * 0.03) / 32 + 0.1, 1e-3);
  });

  it("plans nothing for an empty selection but the listing itself", () => {
    const plan = uniformPlan(0, 0);
    assert.equal(plan.objects, 0);
    assert.deepEqual(plan.sizeHistogram, []);
    assert.equal(plan.requests.s3.list, 12); // a page of each of the 11 ranges, and the top-level prefixes
    assert.equal(plan.requests.s3.copy, 0);
    assert.equal(plan.invocations.copy, 0);
    assert.equal(plan.cost.perMillionObjects, 0);
    assert.equal(plan.usefulConcurrency, 0);
  });
});

describe("planDeletions", () => {
  it("prices a HEAD of the source and a free DeleteObject per key", () => {
    const plan = planDeletions({ keys: 1_000_000, protected: 3 }, undefined, prices);
    assert.deepEqual(plan, {
      keys: 1_000_000,
      protected: 3,
      maxDelete: null,
      refused: false,
      requests: { head: 1_000_000, delete: 1_000_000 },
      cost: 0.4, // 1,000 x $0.0004 for the HEADs; DELETE requests are not billed
    });
  });

  it("deletes none, and sends nothing, when the count exceeds --max-delete", () => {
    assert.deepEqual(planDeletions({ keys: 11, protected: 0 }, 10, prices), {
      keys: 11,
      protected: 0,
      maxDelete: 10,
      refused: true,
      requests: { head: 0, delete: 0 },
      cost: 0,
    });
    // Exactly --max-delete keys is allowed; --max-delete 0 allows a sync that finds nothing to delete.
    assert.equal(planDeletions({ keys: 10, protected: 0 }, 10, prices).refused, false);
    assert.equal(planDeletions({ keys: 0, protected: 2 }, 0, prices).refused, false);
    assert.equal(planDeletions({ keys: 1, protected: 0 }, 0, prices).refused, true);
  });

  it("never refuses without --max-delete, and the cost grows with the keys", () => {
    fc.assert(
      fc.property(fc.nat(10_000_000), fc.nat(1_000), (keys, kept) => {
        const plan = planDeletions({ keys, protected: kept }, undefined, prices);
        assert.equal(plan.refused, false);
        assert.deepEqual(plan.requests, { head: keys, delete: keys });
        close(plan.cost, (keys * prices.s3.getHeadPer1000) / 1000);
      }),
    );
  });
});
