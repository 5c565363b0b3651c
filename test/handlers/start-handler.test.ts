/** The start-job handler with mocked ports: what it starts, skips, ignores, refuses, logs and counts. */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Context } from "aws-lambda";
import { MalformedMessageError } from "../../lambdas/core/errors.ts";
import { type RunState, type ScheduledRun, type ScheduledStartPorts, scheduledJobId } from "../../lambdas/core/schedule.ts";
import { createStartHandler } from "../../lambdas/start/handler.ts";
import { captureJsonLines, jsonLogger } from "./support/harness.ts";

const context = { awsRequestId: "req-1", functionName: "start", getRemainingTimeInMillis: () => 60_000 } as unknown as Context;
const payload = (time: string) => ({
  v: 1,
  schedule: "S3Fanout-scheduled-sync",
  scheduledTime: time,
  job: { source: { bucket: "src", prefix: "a/" }, destination: { bucket: "dst", prefix: "a/" }, options: { sync: true } },
});

function harness(state: { runs?: string[]; jobs?: string[]; states?: Record<string, RunState>; startFails?: Error } = {}) {
  const runs = [...(state.runs ?? [])];
  const jobs = new Set(state.jobs ?? runs);
  const started: string[] = [];
  const reseeded: string[] = [];
  const recorded: ScheduledRun[] = [];
  const metrics: string[] = [];
  const lines: Record<string, unknown>[] = [];
  const ports: ScheduledStartPorts = {
    listRuns: async () => runs,
    recordRun: async (run) => {
      recorded.push(run);
    },
    jobExists: async (id) => jobs.has(id),
    runState: async (id) => state.states?.[id] ?? "complete",
    start: async (id) => {
      if (state.startFails) throw state.startFails;
      started.push(id);
    },
    reseed: async (id) => {
      reseeded.push(id);
    },
    now: () => new Date("2026-12-03T06:00:01Z"),
  };
  const logger = jsonLogger();
  const handler = createStartHandler({
    ports,
    logger,
    metrics: { addMetric: (name: string) => metrics.push(name), publishStoredMetrics: () => undefined },
  });
  /** Runs the handler, keeping the JSON lines it logs. */
  const run = async (event: unknown) => {
    const { lines: written } = await captureJsonLines(() =>
      handler(event, context).then(
        (outcome) => {
          result = outcome;
        },
        (err: unknown) => {
          failure = err;
        },
      ),
    );
    lines.push(...written);
    if (failure !== undefined) throw failure;
    return result;
  };
  let result: Awaited<ReturnType<typeof handler>> | undefined;
  let failure: unknown;
  return { handler: run, started, reseeded, recorded, metrics, lines };
}

describe("start-job handler", () => {
  const t1 = "2026-12-03T06:00:00Z";
  const id1 = scheduledJobId("S3Fanout-scheduled-sync", t1);

  it("starts the run under an id from the schedule and its scheduled time, then indexes it", async () => {
    const h = harness();
    const outcome = await h.handler(payload(t1));
    assert.deepEqual(outcome, { kind: "started", jobId: id1, previous: undefined });
    assert.match(id1, /^20261203-060000-s[0-9a-f]{8}$/);
    assert.deepEqual(h.started, [id1]);
    assert.deepEqual(
      h.recorded.map((r) => [r.jobId, r.scheduledTime]),
      [[id1, "2026-12-03T06:00:00.000Z"]],
    );
    assert.deepEqual(h.metrics, ["ScheduledRunsStarted"]);
  });

  it("skips a run while the previous is unfinished, says which job to halt, and counts it", async () => {
    const previous = scheduledJobId("S3Fanout-scheduled-sync", "2026-12-02T06:00:00Z");
    const h = harness({ runs: [previous], states: { [previous]: "unfinished" } });
    const outcome = await h.handler(payload(t1));
    assert.deepEqual(outcome, { kind: "skipped", jobId: id1, previous });
    assert.deepEqual(h.started, []);
    assert.deepEqual(h.recorded, []);
    assert.deepEqual(h.metrics, ["ScheduledRunsSkipped"]);
    const warn = h.lines.find((l) => l.level === "WARN");
    assert.equal(warn?.message, "scheduled run skipped: previous run unfinished");
    assert.equal(warn?.previousJobId, previous);
    assert.match(String(warn?.hint), new RegExp(`npm run halt -- --job ${previous}`));
  });

  it("starts after a halted or complete previous run", async () => {
    for (const state of ["halted", "complete"] as const) {
      const previous = scheduledJobId("S3Fanout-scheduled-sync", "2026-12-02T06:00:00Z");
      const h = harness({ runs: [previous], states: { [previous]: state } });
      assert.deepEqual(await h.handler(payload(t1)), { kind: "started", jobId: id1, previous });
    }
  });

  it("does nothing for a redelivered run whose job exists and is indexed", async () => {
    const h = harness({ runs: [id1], jobs: [id1] });
    assert.deepEqual(await h.handler(payload(t1)), { kind: "duplicate", jobId: id1 });
    assert.deepEqual(h.started, []);
    assert.deepEqual(h.reseeded, []);
    assert.deepEqual(h.recorded, []);
    assert.deepEqual(h.metrics, []);
  });

  it("sends the seeds again for a redelivered run whose spec exists but which is not indexed, then indexes it", async () => {
    const previous = scheduledJobId("S3Fanout-scheduled-sync", "2026-12-02T06:00:00Z");
    const h = harness({ runs: [previous], jobs: [previous, id1], states: { [previous]: "unfinished" } });
    assert.deepEqual(await h.handler(payload(t1)), { kind: "resumed", jobId: id1 });
    assert.deepEqual(h.started, [], "the spec is not written again");
    assert.deepEqual(h.reseeded, [id1]);
    assert.deepEqual(
      h.recorded.map((r) => r.jobId),
      [id1],
    );
    assert.deepEqual(h.metrics, ["ScheduledRunsStarted"]);
    assert.equal(h.lines.find((l) => l.jobId === id1)?.message, "scheduled run resumed: its seeds sent again");
  });

  it("does not re-seed a cut-short run once a later run has started", async () => {
    const later = scheduledJobId("S3Fanout-scheduled-sync", "2026-12-04T06:00:00Z");
    const h = harness({ runs: [later], jobs: [later, id1] });
    assert.deepEqual(await h.handler(payload(t1)), { kind: "stale", jobId: id1, latest: later });
    assert.deepEqual(h.reseeded, []);
    assert.deepEqual(h.recorded, []);
  });

  it("skips a late delivery of a run older than one that started", async () => {
    const later = scheduledJobId("S3Fanout-scheduled-sync", "2026-12-04T06:00:00Z");
    const h = harness({ runs: [later] });
    assert.deepEqual(await h.handler(payload(t1)), { kind: "stale", jobId: id1, latest: later });
    assert.deepEqual(h.started, []);
  });

  it("throws on a malformed payload and on a failed start, logging and counting the failure", async () => {
    const bad = harness();
    await assert.rejects(bad.handler({ v: 1, schedule: "x", scheduledTime: "not a time", job: {} }), MalformedMessageError);
    assert.deepEqual(bad.metrics, ["ScheduledRunsFailed"]);
    const failing = harness({ startFails: Object.assign(new Error('source bucket "src" does not exist'), { name: "PreflightError" }) });
    await assert.rejects(failing.handler(payload(t1)), /does not exist/);
    assert.deepEqual(failing.recorded, [], "a run that did not start is not indexed");
    const error = failing.lines.find((l) => l.level === "ERROR");
    assert.equal(error?.message, "scheduled run failed");
    assert.equal(error?.errorCode, "PreflightError");
    assert.deepEqual(failing.metrics, ["ScheduledRunsFailed"]);
  });
});
