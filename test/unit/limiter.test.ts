import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import fc from "fast-check";
import { AdaptiveLimiter } from "../../lambdas/core/limiter.ts";
import "./arbitraries.ts"; // fast-check reporting settings

interface Deferred {
  readonly promise: Promise<void>;
  readonly resolve: () => void;
  readonly reject: (err: Error) => void;
}

function deferred(): Deferred {
  let resolve: () => void = () => {};
  let reject: (err: Error) => void = () => {};
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** Tasks whose end the test decides, recording what ran concurrently. */
class Workload {
  running = new Set<number>();
  started: number[] = [];
  finished: number[] = [];
  /** Tasks that started while more were running than the limit allowed. */
  overLimit: string[] = [];
  maxInFlight = 0;
  private readonly gates = new Map<number, Deferred>();

  constructor(private readonly limiter: AdaptiveLimiter) {}

  submit(id: number): Promise<number> {
    const gate = deferred();
    this.gates.set(id, gate);
    return this.limiter.run(async () => {
      this.running.add(id);
      this.started.push(id);
      this.maxInFlight = Math.max(this.maxInFlight, this.running.size);
      if (this.running.size > this.limiter.limit)
        this.overLimit.push(`task ${id}: ${this.running.size} running, limit ${this.limiter.limit}`);
      try {
        await gate.promise;
        return id;
      } finally {
        this.running.delete(id);
        this.finished.push(id);
      }
    });
  }

  finish(id: number): void {
    this.gates.get(id)?.resolve();
  }

  fail(id: number): void {
    this.gates.get(id)?.reject(new Error(`task ${id} failed`));
  }
}

/** Lets every promise reaction that can run, run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

type Action = { kind: "finish"; pick: number } | { kind: "fail"; pick: number } | { kind: "throttle" } | { kind: "success" };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.nat().map((pick): Action => ({ kind: "finish", pick })) },
  { weight: 1, arbitrary: fc.nat().map((pick): Action => ({ kind: "fail", pick })) },
  { weight: 2, arbitrary: fc.constant<Action>({ kind: "throttle" }) },
  { weight: 3, arbitrary: fc.constant<Action>({ kind: "success" }) },
);

describe("AdaptiveLimiter", () => {
  it("never runs more than its limit at once, and runs every queued task, whatever the interleaving", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.integer({ min: 1, max: 8 }),
        fc.option(fc.integer({ min: 1, max: 4 }), { nil: undefined }),
        fc.integer({ min: 1, max: 40 }),
        fc.array(action, { maxLength: 80 }),
        async (max, min, growEvery, tasks, actions) => {
          // Prepare
          const limiter = new AdaptiveLimiter({ max, min, growEvery });
          const work = new Workload(limiter);
          const results = Array.from({ length: tasks }, (_, id) =>
            work.submit(id).then(
              (v) => ({ ok: true, v }),
              () => ({ ok: false, v: id }),
            ),
          );
          await settle();

          // Act
          for (const a of actions) {
            const running = [...work.running];
            if (a.kind === "throttle") limiter.onThrottle();
            else if (a.kind === "success") limiter.onSuccess();
            else if (running.length > 0) {
              const id = running[a.pick % running.length] ?? -1;
              if (a.kind === "finish") work.finish(id);
              else work.fail(id);
            }
            await settle();
            assert.ok(limiter.active <= Math.max(limiter.limit, work.running.size));
          }
          for (let guard = 0; work.finished.length < tasks && guard < tasks * 2; guard++) {
            for (const id of [...work.running]) work.finish(id);
            await settle();
          }
          const outcomes = await Promise.all(results);

          // Assess
          assert.deepEqual(work.overLimit, []);
          assert.equal(work.finished.length, tasks, "every queued task ran to its end");
          assert.deepEqual(
            [...work.started].sort((x, y) => x - y),
            outcomes.map((_, i) => i),
          );
          assert.equal(limiter.active, 0, "every slot was given back");
          assert.ok(work.maxInFlight <= max);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("runs at most max tasks at once and starts them in submission order", async () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 3 });
    const work = new Workload(limiter);
    const all = Array.from({ length: 10 }, (_, id) => work.submit(id));
    await settle();

    // Act
    const firstWave = [...work.started];
    work.finish(1);
    await settle();
    const afterOne = [...work.started];
    for (let i = 0; i < 10; i++) {
      for (const id of [...work.running]) work.finish(id);
      await settle();
    }
    const values = await Promise.all(all);

    // Assess
    assert.deepEqual(firstWave, [0, 1, 2]);
    assert.deepEqual(afterOne, [0, 1, 2, 3]);
    assert.equal(work.maxInFlight, 3);
    assert.deepEqual(values, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
  });

  it("halves its limit on each throttle, down to min", () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 16, min: 3 });

    // Act
    const limits = [limiter.limit];
    for (let i = 0; i < 4; i++) {
      limiter.onThrottle();
      limits.push(limiter.limit);
    }

    // Assess
    assert.deepEqual(limits, [16, 8, 4, 3, 3]);
  });

  it("falls to 1 by default and never to 0", () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 5 });

    // Act
    for (let i = 0; i < 10; i++) limiter.onThrottle();

    // Assess
    assert.equal(limiter.limit, 1);
  });

  it("grows by one after growEvery successes, up to max", () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 4, growEvery: 2 });
    limiter.onThrottle();
    limiter.onThrottle();
    assert.equal(limiter.limit, 1);

    // Act
    const limits: number[] = [];
    for (let i = 0; i < 10; i++) {
      limiter.onSuccess();
      limits.push(limiter.limit);
    }

    // Assess
    assert.deepEqual(limits, [1, 2, 2, 3, 3, 4, 4, 4, 4, 4]);
  });

  it("grows after as many successes as its current limit by default", () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 8 });
    limiter.onThrottle();

    // Act
    const limits: number[] = [];
    for (let i = 0; i < 4; i++) {
      limiter.onSuccess();
      limits.push(limiter.limit);
    }

    // Assess
    assert.deepEqual(limits, [4, 4, 4, 5]);
  });

  it("forgets successes counted before a throttle", () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 8, growEvery: 3 });
    limiter.onThrottle();
    limiter.onSuccess();
    limiter.onSuccess();

    // Act
    limiter.onThrottle();
    limiter.onSuccess();
    limiter.onSuccess();

    // Assess
    assert.equal(limiter.limit, 2);
  });

  it("starts a queued task as soon as the limit grows, without waiting for a finish", async () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 2, growEvery: 1 });
    limiter.onThrottle();
    const work = new Workload(limiter);
    const all = [work.submit(0), work.submit(1)];
    await settle();
    assert.deepEqual(work.started, [0]);

    // Act
    limiter.onSuccess();
    await settle();

    // Assess
    assert.deepEqual(work.started, [0, 1]);
    work.finish(0);
    work.finish(1);
    await Promise.all(all);
  });

  it("does not start a queued task when the limit grows back while more than the new limit are still running", async () => {
    // Prepare: 2 running, 1 queued; a throttle drops the limit to 1 while both keep running.
    const limiter = new AdaptiveLimiter({ max: 2 });
    const work = new Workload(limiter);
    const all = [0, 1, 2].map((id) => work.submit(id));
    await settle();
    limiter.onThrottle();

    // Act: one success grows the limit back to 2, with 2 still in flight.
    limiter.onSuccess();
    await settle();
    const startedAfterGrowth = [...work.started];
    const inFlightAfterGrowth = work.running.size;
    for (let i = 0; i < 3; i++) {
      for (const id of [...work.running]) work.finish(id);
      await settle();
    }
    await Promise.all(all);

    // Assess
    assert.equal(limiter.limit, 2);
    assert.deepEqual(startedAfterGrowth, [0, 1], "task 2 must wait for a free slot");
    assert.ok(inFlightAfterGrowth <= 2, `${inFlightAfterGrowth} in flight with max 2`);
  });

  it("starts nothing new after a throttle until enough tasks have finished", async () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 4 });
    const work = new Workload(limiter);
    const all = Array.from({ length: 6 }, (_, id) => work.submit(id));
    await settle();

    // Act
    limiter.onThrottle();
    work.finish(0);
    work.finish(1);
    await settle();
    const afterTwo = [...work.started];
    work.finish(2);
    await settle();
    const afterThree = [...work.started];
    for (let i = 0; i < 6; i++) {
      for (const id of [...work.running]) work.finish(id);
      await settle();
    }
    await Promise.all(all);

    // Assess
    assert.deepEqual(afterTwo, [0, 1, 2, 3], "2 still running with a limit of 2: no new start");
    assert.deepEqual(afterThree, [0, 1, 2, 3, 4]);
  });

  it("gives the slot back when a task fails, and rejects with its error", async () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 1 });
    const work = new Workload(limiter);
    const failing = work.submit(0);
    const next = work.submit(1);
    await settle();

    // Act
    work.fail(0);
    await assert.rejects(failing, /task 0 failed/);
    await settle();
    work.finish(1);

    // Assess
    assert.equal(await next, 1);
    assert.equal(limiter.active, 0);
  });

  it("rejects a max that is not a positive integer", () => {
    for (const max of [0, -1, 1.5, Number.NaN]) {
      assert.throws(() => new AdaptiveLimiter({ max }), RangeError);
    }
  });

  it("keeps min within [1, max]", () => {
    // Prepare
    const high = new AdaptiveLimiter({ max: 4, min: 10 });
    const zero = new AdaptiveLimiter({ max: 4, min: 0 });

    // Act
    high.onThrottle();
    for (let i = 0; i < 5; i++) zero.onThrottle();

    // Assess
    assert.equal(high.limit, 4);
    assert.equal(zero.limit, 1);
  });
});
