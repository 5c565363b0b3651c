import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { account, InMemoryLedger, summarize } from "../../lambdas/core/ledger.ts";
import type { BatchOutcome, BatchRef, KeyFailure, PortionRecord } from "../../lambdas/core/ports.ts";
import { type KeyRange, seedRanges } from "../../lambdas/core/ranges.ts";
import { anyKey } from "./arbitraries.ts";

const JOB_ID = "20240305-070809-abc123";

function ref(batchId: string, keys = 2, bytes = 100): BatchRef {
  return { batchId, keys, bytes };
}

function portion(range: KeyRange, batches: readonly BatchRef[] = [], continued = false): PortionRecord {
  return { jobId: JOB_ID, range, listed: batches.reduce((n, b) => n + b.keys, 0), batches, continued };
}

function failure(key: string): KeyFailure {
  return { key, size: 1, error: { code: "AccessDenied", message: "Access Denied", status: 403 }, attempts: 1 };
}

function outcome(batchId: string, parts: Partial<Omit<BatchOutcome, "jobId" | "batchId">> = {}): BatchOutcome {
  return { jobId: JOB_ID, batchId, copied: 2, copiedBytes: 100, vanished: [], failed: [], children: [], ...parts };
}

function outcomesOf(...list: BatchOutcome[]): Map<string, BatchOutcome> {
  return new Map(list.map((o) => [o.batchId, o]));
}

/** Two seeded ranges, each with its batches: the whole key space. */
const LOW: KeyRange = { startAfter: undefined, endAt: "m" };
const HIGH: KeyRange = { startAfter: "m", endAt: undefined };

describe("summarize", () => {
  it("is complete when portions cover the key space and every batch has an outcome", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1"), ref("b2")]), portion(HIGH, [ref("b3")])];
    const outcomes = outcomesOf(outcome("b1"), outcome("b2"), outcome("b3"));

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.equal(summary.complete, true);
    assert.equal(summary.rangesCovered, true);
    assert.equal(summary.pendingBatches, 0);
    assert.equal(summary.portions, 2);
  });

  it("is not complete while part of the key space is unlisted, even with every batch done", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1")])];
    const outcomes = outcomesOf(outcome("b1"));

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.equal(summary.rangesCovered, false);
    assert.equal(summary.complete, false);
  });

  it("is not complete while an emitted batch has no outcome", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1")]), portion(HIGH, [ref("b2")])];
    const outcomes = outcomesOf(outcome("b1"));

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.equal(summary.rangesCovered, true);
    assert.equal(summary.pendingBatches, 1);
    assert.equal(summary.complete, false);
  });

  it("is not complete while a retry child has no outcome, and is once it has", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1")]), portion(HIGH)];
    const parent = outcome("b1", { copied: 1, copiedBytes: 50, children: [ref("b1-retry", 1, 50)] });

    // Act
    const before = summarize(portions, outcomesOf(parent));
    const after = summarize(portions, outcomesOf(parent, outcome("b1-retry", { copied: 1, copiedBytes: 50 })));

    // Assess
    assert.equal(before.pendingBatches, 1);
    assert.equal(before.complete, false);
    assert.equal(after.pendingBatches, 0);
    assert.equal(after.complete, true);
    assert.equal(after.copied, 2);
    assert.equal(after.bytes, 100);
  });

  it("follows retry children through several generations", () => {
    // Prepare
    const portions = [portion({}, [ref("g0")])];
    const chain = [
      outcome("g0", { copied: 5, children: [ref("g1")] }),
      outcome("g1", { copied: 0, children: [ref("g2")] }),
      outcome("g2", { copied: 0, failed: [failure("k1")], children: [ref("g3")] }),
    ];

    // Act
    const pending = summarize(portions, outcomesOf(...chain));
    const done = summarize(portions, outcomesOf(...chain, outcome("g3", { copied: 1, vanished: ["k2"] })));

    // Assess
    assert.equal(pending.complete, false);
    assert.equal(pending.pendingBatches, 1);
    assert.equal(done.complete, true);
    assert.deepEqual([done.copied, done.failed, done.vanished], [6, 1, 1]);
  });

  it("counts a batch emitted by two overlapping portions once", () => {
    // Prepare: a relisted stretch emits the same deterministic batch again.
    const portions = [portion(LOW, [ref("b1", 3, 30)]), portion({ startAfter: "a", endAt: "m" }, [ref("b1", 3, 30)]), portion(HIGH)];
    const outcomes = outcomesOf(outcome("b1", { copied: 3, copiedBytes: 30 }));

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.equal(summary.listed, 3);
    assert.equal(summary.listedBytes, 30);
    assert.equal(summary.copied, 3);
    assert.equal(summary.complete, true);
  });

  it("counts a batch reachable twice (listed and as a retry child) once", () => {
    // Prepare
    const portions = [portion({}, [ref("b1"), ref("b2")])];
    const outcomes = outcomesOf(outcome("b1", { copied: 1, children: [ref("b2")] }), outcome("b2", { copied: 1, failed: [failure("k")] }));

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.deepEqual([summary.copied, summary.failed, summary.pendingBatches, summary.complete], [2, 1, 0, true]);
  });

  it("sums copied, bytes, vanished and failed over batches and children", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1", 4, 400), ref("b2", 3, 300)]), portion(HIGH, [ref("b3", 1, 10)])];
    const outcomes = outcomesOf(
      outcome("b1", { copied: 2, copiedBytes: 200, vanished: ["gone"], children: [ref("c1", 1, 100)] }),
      outcome("b2", { copied: 1, copiedBytes: 100, failed: [failure("x"), failure("y")] }),
      outcome("b3", { copied: 1, copiedBytes: 10 }),
      outcome("c1", { copied: 0, copiedBytes: 0, failed: [failure("z")] }),
    );

    // Act
    const summary = summarize(portions, outcomes);

    // Assess
    assert.deepEqual(
      {
        listed: summary.listed,
        listedBytes: summary.listedBytes,
        copied: summary.copied,
        bytes: summary.bytes,
        vanished: summary.vanished,
        failed: summary.failed,
      },
      { listed: 8, listedBytes: 710, copied: 4, bytes: 310, vanished: 1, failed: 3 },
    );
    assert.equal(summary.complete, true);
  });

  it("is not complete for an empty ledger", () => {
    // Act
    const summary = summarize([], new Map());

    // Assess
    assert.equal(summary.complete, false);
    assert.equal(summary.rangesCovered, false);
  });

  it("is complete exactly when nothing is missing, for any seeding and any batches", () => {
    // Prepare
    const input = fc
      .record({ prefix: anyKey, points: fc.array(anyKey, { maxLength: 6 }) })
      .map(({ prefix, points }) => seedRanges(prefix, points))
      .chain((ranges) =>
        fc.record({
          ranges: fc.constant(ranges),
          batchesPerRange: fc.array(
            fc.array(fc.record({ copied: fc.nat({ max: 100 }), failed: fc.nat({ max: 3 }), vanished: fc.nat({ max: 3 }) }), {
              maxLength: 4,
            }),
            {
              minLength: ranges.length,
              maxLength: ranges.length,
            },
          ),
          dropRange: fc.option(fc.nat({ max: ranges.length - 1 }), { nil: undefined }),
          dropOutcome: fc.option(fc.nat(), { nil: undefined }),
        }),
      );

    fc.assert(
      fc.property(input, ({ ranges, batchesPerRange, dropRange, dropOutcome }) => {
        // Prepare
        let n = 0;
        const all: BatchOutcome[] = [];
        const portions = ranges.map((range, r) => {
          const refs = (batchesPerRange[r] ?? []).map((b) => {
            const id = `b${n++}`;
            all.push(
              outcome(id, {
                copied: b.copied,
                copiedBytes: b.copied * 10,
                failed: Array.from({ length: b.failed }, (_, i) => failure(`${id}-f${i}`)),
                vanished: Array.from({ length: b.vanished }, (_, i) => `${id}-v${i}`),
              }),
            );
            return ref(id, b.copied + b.failed + b.vanished, b.copied * 10);
          });
          return portion(range, refs);
        });
        const keptPortions = portions.filter((_, i) => i !== dropRange);
        const dropped = dropOutcome === undefined || all.length === 0 ? undefined : all[dropOutcome % all.length]?.batchId;
        const keptOutcomes = all.filter((o) => o.batchId !== dropped);

        // Act
        const summary = summarize(keptPortions, outcomesOf(...keptOutcomes));

        // Assess
        assert.equal(summary.complete, dropRange === undefined && dropped === undefined);
        const counted = keptPortions.flatMap((p) => p.batches.map((b) => b.batchId));
        const countedOutcomes = keptOutcomes.filter((o) => counted.includes(o.batchId));
        assert.equal(summary.pendingBatches, counted.length - countedOutcomes.length);
        assert.equal(
          summary.copied,
          countedOutcomes.reduce((s, o) => s + o.copied, 0),
        );
        assert.equal(
          summary.failed,
          countedOutcomes.reduce((s, o) => s + o.failed.length, 0),
        );
        assert.equal(
          summary.vanished,
          countedOutcomes.reduce((s, o) => s + o.vanished.length, 0),
        );
      }),
      { numRuns: 300 },
    );
  });
});

describe("InMemoryLedger", () => {
  it("counts a portion or a batch recorded twice once (at-least-once delivery)", async () => {
    // Prepare
    const ledger = new InMemoryLedger();
    const low = portion(LOW, [ref("b1", 2, 20)]);
    const done = outcome("b1", { copied: 2, copiedBytes: 20 });

    // Act
    await ledger.recordPortion(low);
    await ledger.recordPortion(low);
    await ledger.recordPortion(portion(HIGH));
    await ledger.recordBatch(done);
    await ledger.recordBatch(done);
    const summary = ledger.summary();

    // Assess
    assert.equal(summary.portions, 2);
    assert.equal(summary.listed, 2);
    assert.equal(summary.copied, 2);
    assert.equal(summary.bytes, 20);
    assert.equal(summary.complete, true);
  });

  it("is not complete until the last range and the last batch are recorded", async () => {
    // Prepare
    const ledger = new InMemoryLedger();

    // Act
    await ledger.recordPortion(portion(LOW, [ref("b1")]));
    const oneRange = ledger.summary();
    await ledger.recordPortion(portion(HIGH, [ref("b2")]));
    await ledger.recordBatch(outcome("b2"));
    const oneBatch = ledger.summary();
    await ledger.recordBatch(outcome("b1"));
    const all = ledger.summary();

    // Assess
    assert.deepEqual([oneRange.complete, oneBatch.complete, all.complete], [false, false, true]);
  });

  it("lists failed and vanished keys across batches", async () => {
    // Prepare
    const ledger = new InMemoryLedger();

    // Act
    await ledger.recordBatch(outcome("b1", { failed: [failure("f1")], vanished: ["v1"] }));
    await ledger.recordBatch(outcome("b2", { failed: [failure("f2")], vanished: ["v2", "v3"] }));

    // Assess
    assert.deepEqual(
      ledger.failures().map((f) => f.key),
      ["f1", "f2"],
    );
    assert.deepEqual(ledger.vanishedKeys(), ["v1", "v2", "v3"]);
  });
});

describe("account, key by key", () => {
  it("names each copied key once per copy, through retry children and recorded identical keys", () => {
    // Prepare: b1 copies a and b, fails c to a child b2 that copies it; an unreachable b9 copies z.
    const portions = [{ ...portion(LOW, [ref("b1", 3)]), identical: ["d"], skipped: 1 }, portion(HIGH)];
    const outcomes = outcomesOf(
      outcome("b1", { copied: 2, copiedKeys: ["a", "b"], children: [ref("b2", 1)] }),
      outcome("b2", { copied: 1, copiedKeys: ["c"] }),
      outcome("b9", { copied: 1, copiedKeys: ["z"] }),
    );

    // Act
    const result = account(portions, outcomes, { keys: true });

    // Assess
    assert.deepEqual(result.copiedKeys, ["a", "b", "c"]);
    assert.equal(result.summary.listed, 4, "the identical key was listed, in no batch");
    assert.equal(result.summary.skipped, 1);
    assert.equal(result.summary.complete, true);
    assert.equal(account(portions, outcomes).copiedKeys, undefined, "keys only when asked for");
  });
});

describe("account after a halt", () => {
  /** Every key's outcome, summed: what `listed` must equal once the job is halted. */
  const accounted = (s: ReturnType<typeof summarize>) => s.copied + s.skipped + s.vanished + s.failed + s.deleted + s.halted;

  it("counts the keys of batches the halt purged as halted once the marker exists, and calls the job not complete", () => {
    // Prepare: b1 settled with one key retried in c1, b2 stopped at one key by the halt, c1 and b3 purged.
    const portions = [portion(LOW, [ref("b1", 3), ref("b2", 2)]), portion(HIGH, [ref("b3", 4)])];
    const outcomes = outcomesOf(
      outcome("b1", { copied: 1, vanished: ["v"], children: [ref("c1", 1)] }),
      outcome("b2", { copied: 0, copiedBytes: 0, failed: [failure("f")], halted: 1 }),
    );

    // Act
    const before = summarize(portions, outcomes);
    const after = summarize(portions, outcomes, undefined, true);

    // Assess: without the marker the purged batches are pending; with it their keys are halted.
    assert.deepEqual([before.pendingBatches, before.purgedBatches, before.halted], [2, 0, 1]);
    assert.deepEqual([after.pendingBatches, after.purgedBatches, after.halted], [0, 2, 6]);
    assert.equal(after.listed, 9);
    assert.equal(accounted(after), after.listed);
    assert.equal(after.complete, false);
  });

  it("is not complete when every batch settled but the halt left keys uncopied, marker or not", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1", 2)]), portion(HIGH, [ref("b2", 2)])];
    const outcomes = outcomesOf(outcome("b1"), outcome("b2", { copied: 0, copiedBytes: 0, halted: 2 }));

    // Act
    const unmarked = summarize(portions, outcomes);
    const marked = summarize(portions, outcomes, undefined, true);

    // Assess
    for (const s of [unmarked, marked]) {
      assert.deepEqual([s.complete, s.rangesCovered, s.pendingBatches, s.halted], [false, true, 0, 2]);
      assert.equal(accounted(s), s.listed);
    }
  });

  it("is complete when the halt came after every key was settled", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1")]), portion(HIGH, [ref("b2")])];
    const outcomes = outcomesOf(outcome("b1"), outcome("b2"));

    // Act
    const summary = summarize(portions, outcomes, undefined, true);

    // Assess
    assert.deepEqual([summary.complete, summary.halted, summary.purgedBatches], [true, 0, 0]);
  });

  it("counts the batches a halted listing sent from a stretch it never recorded, as their outcomes say", () => {
    // Prepare: o1 and o2 settled, but the listing stopped before recording the stretch that sent them.
    const portions = [portion(LOW, [ref("b1", 2)])];
    const outcomes = outcomesOf(
      outcome("b1", { copiedKeys: ["a", "b"] }),
      outcome("o1", { copied: 1, copiedBytes: 10, copiedKeys: ["c"], failed: [failure("d")], children: [ref("o1c", 2, 20)] }),
      outcome("o2", { copied: 0, copiedBytes: 0, copiedKeys: [], halted: 3 }),
    );

    // Act
    const unmarked = account(portions, outcomes, { keys: true }).summary;
    const { summary, copiedKeys, failures } = account(portions, outcomes, { keys: true, halted: true });

    // Assess: o1's retry child o1c was purged; its 2 keys are halted.
    assert.deepEqual([unmarked.listed, unmarked.copied], [2, 2]);
    assert.deepEqual([summary.listed, summary.copied, summary.failed, summary.halted, summary.purgedBatches], [9, 3, 1, 5, 1]);
    assert.equal(accounted(summary), summary.listed);
    assert.deepEqual([...(copiedKeys ?? [])].sort(), ["a", "b", "c"]);
    assert.deepEqual(
      failures.map((f) => [f.key, f.batchId]),
      [["d", "o1"]],
    );
  });

  it("does not count again an unrecorded batch whose keys a recorded one already settled (a listing cut anew on redelivery)", () => {
    // Prepare
    const portions = [portion(LOW, [ref("b1", 2)]), portion(HIGH)];
    const outcomes = outcomesOf(outcome("b1", { copiedKeys: ["a", "b"] }), outcome("old", { copied: 1, copiedKeys: ["b"] }));

    // Act
    const summary = summarize(portions, outcomes, undefined, true);

    // Assess
    assert.deepEqual([summary.listed, summary.copied, summary.complete], [2, 2, true]);
  });

  it("counts once two unrecorded batches of the same keys (one stretch listed twice, neither recorded)", () => {
    // Prepare: the halt stopped a range's listing twice, after each delivery had sent the same keys.
    const portions = [portion(LOW), portion(HIGH)];
    const outcomes = outcomesOf(
      outcome("first", { copied: 3, copiedKeys: ["a", "b", "c"] }),
      outcome("second", { copied: 3, copiedKeys: ["a", "b", "c"] }),
    );

    // Act
    const summary = summarize(portions, outcomes, undefined, true);

    // Assess
    assert.deepEqual([summary.listed, summary.copied], [3, 3]);
  });

  it("leaves a failed key failed, not halted too, when the halt purged its redrive", () => {
    // Prepare: f failed; a redrive of it was settled into a retry child r1c that the halt purged.
    const portions = [portion(LOW, [ref("b1", 2)]), portion(HIGH)];
    const outcomes = outcomesOf(
      outcome("b1", { copied: 1, copiedKeys: ["a"], failed: [failure("f")] }),
      outcome("r1", { copied: 0, copiedKeys: [], children: [ref("r1c", 1)], redriveOf: "b1" }),
    );

    // Act
    const summary = summarize(portions, outcomes, undefined, true);

    // Assess
    assert.deepEqual([summary.failed, summary.halted, summary.pendingBatches, summary.purgedBatches], [1, 0, 0, 1]);
    assert.equal(accounted(summary), summary.listed);
  });

  it("accounts for every listed key once the marker exists, for any batches, retries and purges", () => {
    // Prepare: each batch's keys split among copied, vanished, failed, halted and a retry child; any batch may be purged.
    const split = fc.record({
      copied: fc.nat({ max: 5 }),
      vanished: fc.nat({ max: 2 }),
      failed: fc.nat({ max: 2 }),
      halted: fc.nat({ max: 2 }),
      retried: fc.nat({ max: 3 }),
      purged: fc.boolean(),
      childPurged: fc.boolean(),
    });
    type Split = typeof split extends fc.Arbitrary<infer T> ? T : never;
    const input = fc.record({
      low: fc.array(split, { maxLength: 5 }),
      high: fc.array(split, { maxLength: 5 }),
      identical: fc.nat({ max: 4 }),
    });

    fc.assert(
      fc.property(input, ({ low, high, identical }) => {
        let n = 0;
        const outcomes = new Map<string, BatchOutcome>();
        const emit = (b: Split): BatchRef => {
          const id = `b${n++}`;
          const keys = b.copied + b.vanished + b.failed + b.halted + b.retried;
          const children = b.retried > 0 ? [ref(`${id}c`, b.retried)] : [];
          if (!b.purged) {
            outcomes.set(
              id,
              outcome(id, {
                copied: b.copied,
                copiedBytes: b.copied,
                vanished: Array.from({ length: b.vanished }, (_, i) => `${id}-v${i}`),
                failed: Array.from({ length: b.failed }, (_, i) => failure(`${id}-f${i}`)),
                halted: b.halted,
                children,
              }),
            );
            if (b.retried > 0 && !b.childPurged) outcomes.set(`${id}c`, outcome(`${id}c`, { copied: b.retried, copiedBytes: b.retried }));
          }
          return ref(id, keys);
        };
        const portions = [
          { ...portion(LOW, low.map(emit)), identical: Array.from({ length: identical }, (_, i) => `i${i}`), skipped: identical },
          portion(HIGH, high.map(emit)),
        ];

        // Act
        const summary = summarize(portions, outcomes, undefined, true);

        // Assess
        assert.equal(accounted(summary), summary.listed);
        assert.equal(summary.pendingBatches, 0);
        assert.equal(summary.complete, summary.halted === 0);
      }),
      { numRuns: 300 },
    );
  });
});
