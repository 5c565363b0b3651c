/**
 * The limiter's partitions: one AIMD window per destination partition under one cap on tasks in
 * flight, and the key rule (keyPartition) that names a key's partition.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import fc from "fast-check";
import { type CopierDeps, copyTasks } from "../../lambdas/core/copier.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { FLAT_CHARS, keyPartition } from "../../lambdas/core/keyPartition.ts";
import { AdaptiveLimiter, type LimiterSlot } from "../../lambdas/core/limiter.ts";
import type { CopyItem, CopyTask, JobRef } from "../../lambdas/core/messages.ts";
import "./arbitraries.ts"; // fast-check reporting settings

/** Lets every promise reaction that can run, run. */
async function settle(): Promise<void> {
  for (let i = 0; i < 5; i++) await tick();
}

interface Task {
  readonly id: number;
  readonly partition: string;
  slot?: LimiterSlot;
  end?: () => void;
}

/** Tasks over named partitions whose end the test decides, recording what ran at once. */
class Workload {
  readonly running = new Map<number, Task>();
  readonly started: number[] = [];
  readonly finished: number[] = [];
  readonly violations: string[] = [];
  maxInFlight = 0;

  constructor(
    private readonly limiter: AdaptiveLimiter,
    private readonly max: number,
  ) {}

  submit(id: number, partition: string): Promise<void> {
    const task: Task = { id, partition };
    return this.limiter.run(async (slot) => {
      task.slot = slot;
      this.running.set(id, task);
      this.started.push(id);
      this.maxInFlight = Math.max(this.maxInFlight, this.running.size);
      if (this.running.size > this.max) this.violations.push(`task ${id}: ${this.running.size} running, cap ${this.max}`);
      const mine = [...this.running.values()].filter((t) => t.partition === partition).length;
      const window = this.limiter.limitOf(partition);
      if (mine > window) this.violations.push(`task ${id}: ${mine} running in ${partition}, window ${window}`);
      try {
        await new Promise<void>((resolve) => {
          task.end = resolve;
        });
      } finally {
        this.running.delete(id);
        this.finished.push(id);
      }
    }, partition);
  }

  runningIn(partition: string): Task[] {
    return [...this.running.values()].filter((t) => t.partition === partition);
  }
}

type Action =
  | { kind: "finish"; pick: number }
  | { kind: "throttle"; pick: number }
  | { kind: "success"; pick: number }
  | { kind: "submit"; partition: number };

const action: fc.Arbitrary<Action> = fc.oneof(
  { weight: 5, arbitrary: fc.nat().map((pick): Action => ({ kind: "finish", pick })) },
  { weight: 2, arbitrary: fc.nat().map((pick): Action => ({ kind: "throttle", pick })) },
  { weight: 3, arbitrary: fc.nat().map((pick): Action => ({ kind: "success", pick })) },
  { weight: 1, arbitrary: fc.nat({ max: 5 }).map((partition): Action => ({ kind: "submit", partition })) },
);

const NAMES = ["a/", "b/", "c/", "d/", "e/", "f/"];

describe("AdaptiveLimiter with partitions", () => {
  it("never runs more than the cap, nor more than a partition's window, and runs every queued task", async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 1, max: 8 }),
        fc.option(fc.integer({ min: 1, max: 3 }), { nil: undefined }),
        fc.array(fc.nat({ max: 5 }), { minLength: 1, maxLength: 40 }),
        fc.array(action, { maxLength: 80 }),
        async (max, growEvery, initial, actions) => {
          // Prepare
          const limiter = new AdaptiveLimiter({ max, growEvery });
          const work = new Workload(limiter, max);
          const all: Promise<void>[] = [];
          let next = 0;
          for (const p of initial) all.push(work.submit(next++, NAMES[p] ?? "a/"));
          await settle();

          // Act: tasks end, report throttles and successes through their slots, and more arrive.
          for (const a of actions) {
            const running = [...work.running.values()];
            if (a.kind === "submit") all.push(work.submit(next++, NAMES[a.partition] ?? "a/"));
            else if (running.length > 0) {
              const task = running[a.pick % running.length] as Task;
              if (a.kind === "finish") task.end?.();
              else if (a.kind === "throttle") limiter.onThrottle(task.slot);
              else limiter.onSuccess(task.slot);
            }
            await settle();
            assert.ok(limiter.active <= max, `active ${limiter.active} over the cap ${max}`);
          }
          for (let guard = 0; work.finished.length < next && guard < next * 2; guard++) {
            for (const t of [...work.running.values()]) t.end?.();
            await settle();
          }
          await Promise.all(all);

          // Assess
          assert.deepEqual(work.violations, []);
          assert.equal(work.finished.length, next, "every queued task ran to its end");
          assert.ok(work.maxInFlight <= max);
          assert.equal(limiter.active, 0, "every slot was given back");
        },
      ),
      { numRuns: 200 },
    );
  });

  it("leaves every other partition's window alone, whatever one partition hears", async () => {
    await fc.assert(
      fc.asyncProperty(fc.integer({ min: 1, max: 64 }), fc.array(fc.boolean(), { minLength: 1, maxLength: 60 }), async (max, reports) => {
        // Prepare: one task in each of "hot/" and "cool/".
        const limiter = new AdaptiveLimiter({ max });
        const work = new Workload(limiter, max);
        const done = [work.submit(0, "hot/"), work.submit(1, "cool/")];
        await settle();
        const hot = work.runningIn("hot/")[0] as Task;

        // Act: "hot/" hears throttles (and successes), each as new news.
        for (const throttled of reports) {
          if (throttled) limiter.onThrottle();
          if (throttled) limiter.onThrottle({ seq: Number.MAX_SAFE_INTEGER, partition: hot.slot?.partition });
          else limiter.onSuccess(hot.slot);
        }
        const cool = limiter.limitOf("cool/");
        for (let guard = 0; guard < 4 && work.finished.length < 2; guard++) {
          for (const t of [...work.running.values()]) t.end?.();
          await settle();
        }
        await Promise.all(done);

        // Assess
        assert.equal(cool, max, "a SlowDown on another partition leaves this window at its max");
        if (reports.includes(true)) assert.ok(limiter.limitOf("hot/") < max || max === 1);
      }),
    );
  });

  it("starts a cool partition's task while a throttled partition is at its window", async () => {
    // Prepare: cap 8; "hot/" throttled down to 1 with its one task still running, and 5 more queued behind it.
    const limiter = new AdaptiveLimiter({ max: 8 });
    const work = new Workload(limiter, 8);
    const done = [work.submit(0, "hot/")];
    await settle();
    for (let i = 0; i < 3; i++) limiter.onThrottle({ seq: Number.MAX_SAFE_INTEGER, partition: work.runningIn("hot/")[0]?.slot?.partition });
    for (let i = 1; i <= 5; i++) done.push(work.submit(i, "hot/"));
    await settle();

    // Act
    for (let i = 6; i < 10; i++) done.push(work.submit(i, "cool/"));
    await settle();
    const startedBefore = [...work.started];
    for (let guard = 0; guard < 20 && work.finished.length < 10; guard++) {
      for (const t of [...work.running.values()]) t.end?.();
      await settle();
    }
    await Promise.all(done);

    // Assess
    assert.equal(limiter.limitOf("hot/"), 1);
    assert.deepEqual(startedBefore, [0, 6, 7, 8, 9], "cool keys run at once; hot ones wait for their own window");
    assert.equal(work.finished.length, 10);
  });

  it("serves partitions in turn when the cap is full: a later partition does not wait for a long queue to drain", async () => {
    // Prepare: cap 2, all of it busy in "a/", 20 more of "a/" queued, then one "b/" task.
    const limiter = new AdaptiveLimiter({ max: 2 });
    const work = new Workload(limiter, 2);
    const done: Promise<void>[] = [];
    for (let i = 0; i < 22; i++) done.push(work.submit(i, "a/"));
    done.push(work.submit(99, "b/"));
    await settle();

    // Act: one task ends, then another.
    work.running.get(0)?.end?.();
    await settle();
    work.running.get(1)?.end?.();
    await settle();
    const startedAfterTwo = [...work.started];
    for (let guard = 0; guard < 40 && work.finished.length < 23; guard++) {
      for (const t of [...work.running.values()]) t.end?.();
      await settle();
    }
    await Promise.all(done);

    // Assess
    assert.ok(startedAfterTwo.includes(99), `b/ started within two releases: ${startedAfterTwo.join(",")}`);
    assert.equal(work.finished.length, 23);
  });

  it("forgets a partition that is idle at full window, and keeps at most its bound of idle ones", async () => {
    // Prepare
    const limiter = new AdaptiveLimiter({ max: 4, maxIdlePartitions: 8 });

    // Act: 100 partitions, each throttled once (a window below max is worth keeping), then one quiet one.
    for (let i = 0; i < 100; i++) await limiter.run(async (slot) => limiter.onThrottle(slot), `p${i}/`);
    const throttled = limiter.partitionCount;
    await limiter.run(async () => undefined, "quiet/");

    // Assess
    assert.ok(throttled <= 8, `${throttled} partitions held`);
    assert.ok(throttled > 0);
    assert.equal(limiter.limitOf("p99/"), 2, "the newest throttled partition is remembered");
    assert.equal(limiter.limitOf("quiet/"), 4);
    assert.ok(limiter.partitionCount <= 8);
    assert.equal(limiter.active, 0);
  });
});

describe("keyPartition", () => {
  it("is the key up to its first slash after the job's prefix, or the prefix and the next character", () => {
    assert.equal(keyPartition("photos/2024/a.jpg"), "photos/");
    assert.equal(keyPartition("photos/2024/a.jpg", "photos/".length), "photos/2024/");
    assert.equal(keyPartition("3fa9c2.dat"), "3");
    assert.equal(keyPartition("out/3fa9c2.dat", "out/".length), "out/3");
    assert.equal(keyPartition("0a1b/0000000042.dat"), "0a1b/");
    assert.equal(keyPartition("/leading"), "/");
  });

  it("is a prefix of the key that keeps the job's prefix, and keys with the same partition share its length", () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 6 }), fc.string({ minLength: 1, maxLength: 20 }), (prefix, rest) => {
        // Act
        const key = prefix + rest;
        const partition = keyPartition(key, prefix.length);

        // Assess
        assert.ok(key.startsWith(partition));
        assert.ok(partition.startsWith(prefix));
        assert.ok(partition.length > prefix.length, "the job's prefix alone never names a partition");
        assert.ok(partition.endsWith("/") || partition.length === Math.min(key.length, prefix.length + FLAT_CHARS));
        // Every key beginning with the partition (and with no "/" earlier) is in the same partition.
        if (partition.endsWith("/")) assert.equal(keyPartition(`${partition}anything/else`, prefix.length), partition);
      }),
    );
  });
});

describe("copier under a throttling partition", () => {
  const JOB: JobRef = { id: "20240305-070809-abc123", source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } };
  const item = (key: string): CopyItem => ({ key, size: 10, etag: '"d41d8cd98f00b204e9800998ecf8427e"' });

  it("halves the window of the prefix S3 slowed, not the others', for copies", async () => {
    // Prepare: every first try of a "hot/" key is a SlowDown; "cool/" keys copy.
    const limiter = new AdaptiveLimiter({ max: 16 });
    const tried = new Set<string>();
    const deps: CopierDeps = {
      store: {
        listPage: () => Promise.reject(new Error("not listed here")),
        copy: async (r) => {
          if (r.destinationKey.startsWith("hot/") && !tried.has(r.destinationKey)) {
            tried.add(r.destinationKey);
            throw Object.assign(new Error("Please reduce your request rate."), { name: "SlowDown", $metadata: { httpStatusCode: 503 } });
          }
        },
      },
      sink: { send: async () => undefined },
      ledger: { recordPortion: async () => undefined, recordBatch: async () => undefined, recordBatches: async () => undefined },
      halt: new LocalHaltSignal(),
      limiter,
      policy: { triesPerDelivery: 4, maxDeliveries: 3, backoff: { baseMs: 1, capMs: 2 } },
      limits: { maxKeys: 100, maxBytes: 64 * 1024 },
      remainingMs: () => 60_000,
      safetyMs: 0,
      sleep: async () => undefined,
      random: () => 0,
    };
    const keys = Array.from({ length: 20 }, (_, i) => [item(`hot/${i}`), item(`cool/${i}`)]).flat();
    const task: CopyTask = { job: JOB, batchId: "b1", attempt: 0, items: keys };

    // Act
    const [error] = await copyTasks([task], deps);

    // Assess
    assert.equal(error, undefined);
    assert.equal(tried.size, 20, "every hot key was slowed once");
    assert.equal(limiter.limitOf("cool/"), 16, "cool/ kept its window");
    assert.ok(limiter.limitOf("hot/") < 16, `hot/ backed off: ${limiter.limitOf("hot/")}`);
    assert.equal(limiter.active, 0);
  });
});
