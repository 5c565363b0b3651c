import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { setImmediate as tick } from "node:timers/promises";
import fc from "fast-check";
import { type AttemptDeps, attempt } from "../../lambdas/core/attempt.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { AdaptiveLimiter, type LimiterOptions, type LimiterSlot } from "../../lambdas/core/limiter.ts";
import { DEFAULT_BACKOFF } from "../../lambdas/core/retry.ts";
import { seededRandom } from "../support/faultProxy.ts";
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

describe("AdaptiveLimiter windows", () => {
  it("halves once for the throttles of tasks started before the last decrease", async () => {
    // Prepare: 8 tasks in flight, all sent at the old rate.
    const limiter = new AdaptiveLimiter({ max: 8 });
    const slots: LimiterSlot[] = [];
    const gate = deferred();
    const first = Array.from({ length: 8 }, () =>
      limiter.run(async (slot) => {
        slots.push(slot);
        await gate.promise;
      }),
    );
    await settle();

    // Act: every one of them comes back SlowDown.
    for (const slot of slots) limiter.onThrottle(slot);
    const afterOldNews = limiter.limit;
    gate.resolve();
    await Promise.all(first);
    const later = await limiter.run(async (slot) => slot);
    limiter.onThrottle(later);

    // Assess
    assert.equal(afterOldNews, 4, "eight SlowDowns of one window halve the limit once");
    assert.equal(limiter.limit, 2, "a task started after the decrease is new news");
  });

  it("does not count towards growth the successes of tasks started before the last decrease", async () => {
    // Prepare: two tasks in flight when the limit falls from 4 to 2.
    const limiter = new AdaptiveLimiter({ max: 4, growEvery: 2 });
    const gate = deferred();
    const slots: LimiterSlot[] = [];
    const old = [0, 1].map(() =>
      limiter.run(async (slot) => {
        slots.push(slot);
        await gate.promise;
      }),
    );
    await settle();
    limiter.onThrottle(slots[0]);
    gate.resolve();
    await Promise.all(old);

    // Act
    for (const slot of slots) limiter.onSuccess(slot);
    const afterOld = limiter.limit;
    for (let i = 0; i < 2; i++) limiter.onSuccess(await limiter.run(async (slot) => slot));

    // Assess
    assert.equal(afterOld, 2);
    assert.equal(limiter.limit, 3);
  });
});

/** Time that passes only when the test says: timers fire in order, each once every promise has settled. */
class VirtualClock {
  now = 0;
  private seq = 0;
  private readonly timers: { at: number; seq: number; fire: () => void }[] = [];

  readonly sleep = (ms: number): Promise<void> =>
    new Promise<void>((fire) => {
      this.timers.push({ at: this.now + Math.max(0, ms), seq: this.seq++, fire });
    });

  /** Fires timers until `work` settles. */
  async runUntil(work: Promise<unknown>): Promise<void> {
    let done = false;
    void work.finally(() => {
      done = true;
    });
    for (;;) {
      await tick(); // every promise reaction that can run without time passing, runs
      if (done) return;
      this.timers.sort((a, b) => a.at - b.at || a.seq - b.seq);
      const next = this.timers.shift();
      if (next === undefined) throw new Error("nothing left to happen, and the work is not done");
      this.now = next.at;
      next.fire();
    }
  }
}

const slowDown = () =>
  Object.assign(new Error("Please reduce your request rate."), { name: "SlowDown", $metadata: { httpStatusCode: 503 } });

interface Simulation {
  /** Copies the server accepts a second, and at most how many at once after a quiet spell. */
  readonly rate: number;
  readonly burst: number;
  /** How long an accepted copy takes. SlowDown comes back in 1 ms. */
  readonly latencyMs: number;
  readonly keys: number;
  /** One limiter per copy invocation; keys are dealt to them in turn. */
  readonly limiters: readonly AdaptiveLimiter[];
}

/**
 * Copy invocations, each through its own limiter and `attempt`, against a
 * server that throttles above a rate (a token bucket), on a virtual clock:
 * the same run every time. Each key is tried until it is copied, as
 * re-enqueued keys are.
 */
async function simulate(s: Simulation) {
  const clock = new VirtualClock();
  let tokens = s.burst;
  let refilledAt = 0;
  let accepted = 0;
  let throttled = 0;
  const copy = async () => {
    tokens = Math.min(s.burst, tokens + ((clock.now - refilledAt) * s.rate) / 1000);
    refilledAt = clock.now;
    if (tokens < 1) {
      throttled++;
      await clock.sleep(1);
      throw slowDown();
    }
    tokens--;
    accepted++;
    await clock.sleep(s.latencyMs);
  };
  const random = seededRandom(7);
  const halt = new LocalHaltSignal();
  const copyKey = async (limiter: AdaptiveLimiter) => {
    const deps: AttemptDeps = {
      halt,
      limiter,
      tries: 4,
      backoff: DEFAULT_BACKOFF,
      remainingMs: () => Number.POSITIVE_INFINITY,
      safetyMs: 0,
      sleep: clock.sleep,
      random,
    };
    while ((await attempt("job", deps, copy)).status !== "ok");
  };
  const work = Promise.all(
    Array.from({ length: s.keys }, (_, i) => copyKey(s.limiters[i % s.limiters.length] ?? new AdaptiveLimiter({ max: 1 }))),
  );
  await clock.runUntil(work);
  return { throttledShare: throttled / (accepted + throttled), copiesPerSecond: (accepted * 1000) / clock.now, accepted };
}

const invocations = (options: LimiterOptions) => [new AdaptiveLimiter(options), new AdaptiveLimiter(options)];

describe("adaptive concurrency against a server that throttles above 150 copies/s", () => {
  // Two invocations of 64 copies in flight could send 3,200 copies/s at 40 ms a copy.
  const server = { rate: 150, burst: 15, keys: 2_000 };

  it("settles near the rate: few SlowDowns, and copies at nearly the rate", async () => {
    // Act
    const adaptive = await simulate({ ...server, latencyMs: 40, limiters: invocations({ max: 64 }) });

    // Assess: AIMD around ~7 copies in flight loses some tens of percent at worst; it stays well below.
    assert.equal(adaptive.accepted, server.keys);
    assert.ok(adaptive.throttledShare < 0.25, `throttled share ${adaptive.throttledShare.toFixed(3)}`);
    assert.ok(adaptive.copiesPerSecond > 0.9 * server.rate, `${adaptive.copiesPerSecond.toFixed(1)} copies/s`);
  });

  it("storms the server with a fixed limit: most requests are SlowDowns", async () => {
    // Act
    const fixed = await simulate({ ...server, latencyMs: 40, limiters: invocations({ max: 64, min: 64 }) });
    const adaptive = await simulate({ ...server, latencyMs: 40, limiters: invocations({ max: 64 }) });

    // Assess
    assert.ok(fixed.throttledShare > 0.6, `throttled share ${fixed.throttledShare.toFixed(3)}`);
    assert.ok(fixed.throttledShare > 3 * adaptive.throttledShare);
  });

  it("keeps SlowDowns bounded when even one copy in flight is faster than the rate allows", async () => {
    // Prepare: 2 ms a copy, so one copy in flight per invocation already asks for 1,000 copies/s
    // and no concurrency limit alone can hold the rate: the slot resting through its backoff does.
    const fast = { ...server, latencyMs: 2 };

    // Act
    const adaptive = await simulate({ ...fast, limiters: invocations({ max: 64 }) });

    // Assess
    assert.ok(adaptive.throttledShare < 0.45, `throttled share ${adaptive.throttledShare.toFixed(3)}`);
    assert.ok(adaptive.copiesPerSecond > 0.8 * server.rate, `${adaptive.copiesPerSecond.toFixed(1)} copies/s`);
  });
});

/**
 * Keys a and b through one slot on a virtual clock: a's first try fails with
 * `firstError`, every other try takes 10 ms. Logs when each try starts.
 */
async function twoKeysThroughOneSlot(firstError: Error) {
  const clock = new VirtualClock();
  const limiter = new AdaptiveLimiter({ max: 1 });
  const log: string[] = [];
  let failA = true;
  const deps: AttemptDeps = {
    halt: new LocalHaltSignal(),
    limiter,
    tries: 3,
    backoff: { baseMs: 100, capMs: 1_000 },
    remainingMs: () => Number.POSITIVE_INFINITY,
    safetyMs: 0,
    sleep: clock.sleep,
    random: () => 0.5, // every backoff is half its ceiling: 50 ms after a first try
  };
  const request = (key: string) => async () => {
    log.push(`${clock.now} ${key}`);
    if (key === "a" && failA) {
      failA = false;
      throw firstError;
    }
    await clock.sleep(10);
    return key;
  };
  const both = Promise.all([attempt("job", deps, request("a")), attempt("job", deps, request("b"))]);
  await clock.runUntil(both);
  const statuses = (await both).map((o) => o.status);
  return { log, statuses, limiter };
}

describe("attempt under SlowDown", () => {
  it("keeps the slot through the backoff of a throttled try, so no other request starts meanwhile", async () => {
    // Act
    const { log, statuses } = await twoKeysThroughOneSlot(slowDown());

    // Assess: a rests 50 ms in its slot; b, first in line, starts only then, and a after b.
    assert.deepEqual(log, ["0 a", "50 b", "60 a"]);
    assert.deepEqual(statuses, ["ok", "ok"]);
  });

  it("gives the slot back at once after a transient error", async () => {
    // Act
    const internal = Object.assign(new Error("We encountered an internal error."), {
      name: "InternalError",
      $metadata: { httpStatusCode: 500 },
    });
    const { log, statuses, limiter } = await twoKeysThroughOneSlot(internal);

    // Assess: b takes the slot while a backs off outside it; the limit stays.
    assert.deepEqual(log, ["0 a", "0 b", "50 a"]);
    assert.deepEqual(statuses, ["ok", "ok"]);
    assert.equal(limiter.limit, 1);
  });
});
