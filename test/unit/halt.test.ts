import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { CachedHaltSignal, LocalHaltSignal } from "../../lambdas/core/halt.ts";

function counter(answers: boolean[]) {
  let calls = 0;
  return {
    fetch: async (_jobId: string) => {
      const answer = answers[Math.min(calls, answers.length - 1)] ?? false;
      calls++;
      return answer;
    },
    get calls() {
      return calls;
    },
  };
}

describe("CachedHaltSignal", () => {
  it("reuses a 'not halted' answer within the TTL and asks again after it", async () => {
    // Prepare
    let now = 1_000;
    const source = counter([false, true]);
    const signal = new CachedHaltSignal(source.fetch, 5_000, () => now);

    // Act
    const first = await signal.isHalted("job");
    now += 4_999;
    const cached = await signal.isHalted("job");
    now += 1;
    const refreshed = await signal.isHalted("job");

    // Assess
    assert.deepEqual([first, cached, refreshed], [false, false, true]);
    assert.equal(source.calls, 2);
  });

  it("measures the TTL from when the check was sent, not when it came back", async () => {
    // Prepare: each answer takes 3 s to arrive.
    let now = 0;
    let calls = 0;
    const signal = new CachedHaltSignal(
      async () => {
        calls++;
        now += 3_000;
        return false;
      },
      5_000,
      () => now,
    );

    // Act
    await signal.isHalted("job"); // sent at 0, back at 3000
    now = 4_999;
    await signal.isHalted("job");
    const callsWithinTtl = calls;
    now = 5_000;
    await signal.isHalted("job");

    // Assess
    assert.equal(callsWithinTtl, 1);
    assert.equal(calls, 2);
  });

  it("stays halted once it has seen the marker", async () => {
    // Prepare
    let now = 0;
    const source = counter([true, false]);
    const signal = new CachedHaltSignal(source.fetch, 10, () => now);

    // Act
    await signal.isHalted("job");
    now += 1_000;
    const later = await signal.isHalted("job");

    // Assess
    assert.equal(later, true);
    assert.equal(source.calls, 1);
  });

  it("shares one request among concurrent checks and keeps jobs apart", async () => {
    // Prepare
    const asked: string[] = [];
    const signal = new CachedHaltSignal(async (jobId) => {
      asked.push(jobId);
      return jobId === "b";
    });

    // Act
    const answers = await Promise.all([signal.isHalted("a"), signal.isHalted("a"), signal.isHalted("b")]);

    // Assess
    assert.deepEqual(answers, [false, false, true]);
    assert.deepEqual(asked.sort(), ["a", "b"]);
  });

  it("does not cache a failed check: the error surfaces and the next check asks again", async () => {
    // Prepare
    let calls = 0;
    const signal = new CachedHaltSignal(async () => {
      calls++;
      if (calls === 1) throw new Error("503");
      return false;
    });

    // Act / Assess
    await assert.rejects(signal.isHalted("job"), /503/);
    assert.equal(await signal.isHalted("job"), false);
    assert.equal(calls, 2);
  });
});

describe("LocalHaltSignal", () => {
  it("halts only the job it is told to", async () => {
    const signal = new LocalHaltSignal();
    signal.halt("a");
    assert.equal(await signal.isHalted("a"), true);
    assert.equal(await signal.isHalted("b"), false);
  });
});
