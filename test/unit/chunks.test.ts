import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { chunkProgress, manifestPortionRange } from "../../lambdas/core/chunks.ts";
import { InMemoryLedger, summarize } from "../../lambdas/core/ledger.ts";
import type { BatchOutcome, BatchRef, PortionRecord } from "../../lambdas/core/ports.ts";
import { coversKeySpace } from "../../lambdas/core/ranges.ts";

const JOB_ID = "job-m";

function stretch(
  id: number,
  of: number,
  from: number,
  to: number,
  continued: boolean,
  batches: readonly BatchRef[] = [],
  skipped = 0,
): PortionRecord {
  return {
    jobId: JOB_ID,
    range: manifestPortionRange(id, from),
    listed: batches.reduce((n, b) => n + b.keys, 0),
    batches,
    continued,
    chunk: { id, of, from, to },
    skipped,
  };
}

function done(batchId: string): BatchOutcome {
  return { jobId: JOB_ID, batchId, copied: 1, copiedBytes: 10, vanished: [], failed: [], children: [] };
}

const ref = (batchId: string): BatchRef => ({ batchId, keys: 1, bytes: 10 });

describe("summarize for a manifest job", () => {
  it("is complete when every seeded chunk is finished and every batch has an outcome", () => {
    // Prepare
    const portions = [stretch(0, 2, 0, 5, false, [ref("b1")]), stretch(1, 2, 0, 3, false, [ref("b2")])];

    // Act
    const summary = summarize(portions, new Map([...["b1", "b2"]].map((id) => [id, done(id)])));

    // Assess
    assert.equal(summary.rangesCovered, true);
    assert.equal(summary.complete, true);
    assert.equal(summary.copied, 2);
  });

  it("is not complete while a seeded chunk has no portion, even with every batch done", () => {
    const summary = summarize([stretch(0, 3, 0, 5, false, [ref("b1")]), stretch(2, 3, 0, 0, false)], new Map([["b1", done("b1")]]));
    assert.equal(summary.rangesCovered, false);
    assert.equal(summary.complete, false);
  });

  it("is not complete while a chunk's stretches leave a gap before its last one", () => {
    // A continuation from row 2000 finished before the stretch [1000, 2000) was recorded.
    const portions = [stretch(0, 1, 0, 1000, true), stretch(0, 1, 2000, 2500, false)];
    assert.equal(summarize(portions, new Map()).rangesCovered, false);
    assert.equal(summarize([...portions, stretch(0, 1, 1000, 2000, true)], new Map()).rangesCovered, true);
  });

  it("is complete with overlapping stretches of a chunk read twice", () => {
    const portions = [
      stretch(0, 1, 0, 3000, true),
      stretch(0, 1, 2000, 4000, true),
      stretch(0, 1, 0, 2000, true),
      stretch(0, 1, 4000, 4100, false),
    ];
    assert.equal(summarize(portions, new Map()).rangesCovered, true);
  });

  it("is not complete while only continued stretches are recorded", () => {
    assert.equal(summarize([stretch(0, 1, 0, 1000, true)], new Map()).rangesCovered, false);
  });

  it("counts skipped rows from the portions", () => {
    const summary = summarize([stretch(0, 2, 0, 10, false, [], 4), stretch(1, 2, 0, 10, false, [], 3)], new Map());
    assert.equal(summary.skipped, 7);
  });

  it("finishes a chunk exactly when stretches chain from row 0 to one that did not continue", () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 1, max: 5 }), { minLength: 1, maxLength: 8 }),
        fc.array(fc.boolean(), { minLength: 8, maxLength: 8 }),
        (pages, keep) => {
          // A chunk read in stretches of pages; some stretch records are missing.
          const bounds = [0];
          for (const n of pages) bounds.push((bounds.at(-1) ?? 0) + n * 1000);
          const all = pages.map((_, i) => stretch(0, 1, bounds[i] ?? 0, bounds[i + 1] ?? 0, i < pages.length - 1));
          const kept = all.filter((_, i) => keep[i]);
          assert.equal(chunkProgress(kept).finished === 1, kept.length === all.length);
        },
      ),
    );
  });
});

describe("manifest portions in ledgers that key portions by range", () => {
  it("name an empty range per chunk and starting row, so no stretch overwrites another and none covers keys", async () => {
    // Prepare
    const ledger = new InMemoryLedger();
    const portions = [stretch(0, 2, 0, 1000, true), stretch(0, 2, 1000, 1500, false), stretch(1, 2, 0, 10, false)];

    // Act
    for (const p of portions) await ledger.recordPortion(p);

    // Assess
    assert.equal(ledger.summary().portions, 3);
    assert.equal(ledger.summary().rangesCovered, true);
    assert.equal(coversKeySpace(portions.map((p) => p.range)), false);
  });
});
