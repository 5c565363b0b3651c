/**
 * The simulator's laws on small runs: every object copied and counted once
 * by the ledger, no prefix accepting more than its rate, the same seed the
 * same run, keys listed in byte order without being held. Never timings.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import type { BatchOutcome } from "../../lambdas/core/ports.ts";
import { loadPriceTable } from "../../scripts/lib/plan.ts";
import { Random, VirtualClock } from "../../scripts/sim/clock.ts";
import { SimLedger } from "../../scripts/sim/ledger.ts";
import { type SimOptions, simulate } from "../../scripts/sim/run.ts";
import { SimS3, SourceKeys } from "../../scripts/sim/s3.ts";
import { SimQueue } from "../../scripts/sim/sqs.ts";

const prices = loadPriceTable();
const run = (options: Omit<SimOptions, "prices">) => simulate({ prices, ...options });

describe("simulate", () => {
  it("copies every object of a small job exactly once by the ledger's count, and the ledger proves it complete", async () => {
    const result = await run({ objects: 3_000, prefixes: 3, copyConcurrency: 20, seed: 7 });

    assert.equal(result.outcome, "done");
    assert.equal(result.exactlyOnce, true);
    assert.equal(result.copied, 3_000);
    assert.equal(result.ledger.complete, true);
    assert.equal(result.ledger.listed, 3_000);
    assert.equal(result.ledger.failed, 0);
    // S3 performed at least one copy of every object: the copies the ledger counts happened.
    assert.ok((result.requests.s3.copy ?? 0) >= 3_000);
  });

  it("never lets a prefix accept more writes than its rate, even when the job asks for far more", async () => {
    // One fresh prefix and 100 invocations of 64 copies: demand far above 3,500 a second.
    const result = await run({ objects: 8_000, prefixes: 1, copyConcurrency: 60, seed: 3 });

    assert.ok((result.requests.s3.slowDown ?? 0) > 0, "the run should have met SlowDown");
    assert.equal(result.rateLaw.ok, true, JSON.stringify(result.rateLaw));
    assert.ok(result.peakPrefixWritesPerSecond <= 3_500 * 1.25);
    // Throttled and retried, still every object once.
    assert.equal(result.exactlyOnce, true);
  });

  it("runs the same for the same seed", async () => {
    const a = await run({ objects: 2_500, prefixes: 2, copyConcurrency: 10, seed: 42 });
    const b = await run({ objects: 2_500, prefixes: 2, copyConcurrency: 10, seed: 42 });

    assert.deepEqual(b, a);
  });

  it("lets a seed change the draws", async () => {
    const a = await run({ objects: 2_500, prefixes: 2, copyConcurrency: 10, seed: 1 });
    const b = await run({ objects: 2_500, prefixes: 2, copyConcurrency: 10, seed: 2 });

    assert.notDeepEqual(b.timeline, a.timeline);
    assert.equal(b.exactlyOnce, true);
  });
});

describe("the simulated ledger's count", () => {
  const outcome = (batchId: string, copiedKeys: string[], children: string[] = []): BatchOutcome => ({
    jobId: "sim",
    batchId,
    copied: copiedKeys.length,
    copiedBytes: 0,
    vanished: [],
    failed: [],
    children: children.map((id) => ({ batchId: id, keys: 1, bytes: 0 })),
    copiedKeys,
  });
  /** A ledger over 3 keys whose listing recorded the batches `listed`, and the outcomes recorded in this order. */
  async function count(listed: string[], recorded: BatchOutcome[]) {
    const clock = new VirtualClock();
    const keys = new SourceKeys(3, 1);
    const ledger = new SimLedger(clock, new SimS3(clock, new Random(1), keys, "source", 1), keys);
    const done = (async () => {
      await ledger.recordPortion({
        jobId: "sim",
        range: {},
        listed: 3,
        continued: false,
        batches: listed.map((batchId) => ({ batchId, keys: 3, bytes: 0 })),
      });
      for (const o of recorded) await ledger.recordBatches([o]);
    })();
    await clock.run(() => false, 60_000);
    await done;
    return { ...ledger.count(), summary: ledger.summary() };
  }
  const [k0, k1, k2] = [0, 1, 2].map((g) => new SourceKeys(3, 1).keyAt(g)) as [string, string, string];

  it("counts a key once when a twin delivery handed it to a child and the first outcome stands", async () => {
    // The twin throttled k2 and handed it on (child c); the first delivery, recorded last, copied all three.
    const result = await count(["b"], [outcome("b", [k0, k1], ["c"]), outcome("c", [k2]), outcome("b", [k0, k1, k2])]);

    assert.deepEqual([result.copiedOnce, result.countedTwice], [3, 0]);
    assert.equal(result.summary.copied, 3);
  });

  it("counts a key once when the twin's outcome, with its child, stands", async () => {
    const result = await count(["b"], [outcome("b", [k0, k1, k2]), outcome("b", [k0, k1], ["c"]), outcome("c", [k2])]);

    assert.deepEqual([result.copiedOnce, result.countedTwice], [3, 0]);
    assert.equal(result.summary.copied, 3);
  });

  it("counts twice a key that two listed batches copied: the pipeline emitted it twice", async () => {
    const result = await count(["b", "d"], [outcome("b", [k0, k1, k2]), outcome("d", [k2])]);

    assert.deepEqual([result.copiedOnce, result.countedTwice], [3, 1]);
  });
});

describe("the simulated source's keys", () => {
  it("are in UTF-8 byte order by index, and found again from any key or bound", () => {
    const keys = new SourceKeys(10_000, 16);

    for (let g = 1; g < 10_000; g += 97) assert.ok(compareKeys(keys.keyAt(g - 1), keys.keyAt(g)) < 0);
    for (const g of [0, 1, 624, 625, 9_999]) {
      assert.equal(keys.indexOf(keys.keyAt(g)), g);
      assert.equal(keys.firstAfter(keys.keyAt(g)), g + 1);
    }
    assert.equal(keys.firstAfter(undefined), 0);
    // A bound that is no key (a split point) falls between keys.
    assert.equal(keys.firstAfter("1000/0000000005.dat\u0000"), keys.indexOf("1000/0000000006.dat"));
    assert.equal(keys.indexOf("1000/0000000625.dat"), -1);
    for (const notAKey of [
      "1000/000000000x.dat",
      "1000/00000000005.dat",
      "1000/0000000005.da",
      "1000/0000000005.datx",
      "9999/0000000005.dat",
    ])
      assert.equal(keys.indexOf(notAKey), -1, notAKey);
    assert.deepEqual(keys.prefixRange("1000/"), [625, 1_250]);
  });
});

describe("the virtual clock", () => {
  it("fires events in time order, and a cancelled one never", async () => {
    const clock = new VirtualClock();
    const fired: string[] = [];
    clock.after(30, () => fired.push("c"));
    clock.after(10, () => fired.push("a"));
    clock.after(20, () => fired.push("b")).cancel();
    const slept = clock.sleep(25).then(() => fired.push(`slept at ${clock.now()}`));

    const outcome = await clock.run(() => false, 1_000);
    await slept;

    assert.equal(outcome, "idle");
    assert.deepEqual(fired, ["a", "slept at 25", "c"]);
  });
});

describe("the simulated queue", () => {
  it("delivers every body as it was sent, long (kept deflated) or short, and to its DLQ after the last receive", async () => {
    const clock = new VirtualClock();
    const dlq = new SimQueue(clock, new Random(1), "dlq", 1_000);
    const queue = new SimQueue(clock, new Random(1), "work", 1_000, dlq);
    const long = JSON.stringify({
      items: Array.from({ length: 100 }, (_, i) => ({ key: `data/${String(i).padStart(10, "0")}.dat`, k: "\u00e9\ud83d\ude00" })),
    });
    const short = '{"v":1}';
    queue.send(long);
    queue.send(short);

    const first = await queue.receive(10, 0);
    assert.deepEqual(
      first.map((m) => m.body),
      [long, short],
    );
    // Never deleted: each comes back after its visibility timeout, until the fifth receive sends it to the DLQ.
    const later: string[] = [];
    const done = (async () => {
      while (later.length < 8) for (const m of await queue.receive(10, 2_000)) later.push(m.body);
    })();
    await clock.run(() => dlq.depth === 2, 60_000);
    await done;
    const parked = await dlq.receive(10, 0);

    assert.deepEqual(later, [long, short, long, short, long, short, long, short]);
    assert.deepEqual(
      parked.map((m) => m.body),
      [long, short],
    );
  });
});
