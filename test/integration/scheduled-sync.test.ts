/**
 * A scheduled sync over the emulator: the local stack's schedule target (the start-job handler,
 * given the payload EventBridge Scheduler sends) starts a job through kickoff's code, and the real
 * pipeline runs it; a run while the previous one is unfinished is skipped and counted; a retried
 * delivery of a run does nothing; `status --history` lists the runs from the ledger. A start that
 * wrote its spec but failed sending its seeds sends them again on its retry, so the schedule goes on.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { Logger } from "@aws-lambda-powertools/logger";
import { createSqsClient } from "../../lambdas/aws/clients.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { scheduledJobId } from "../../lambdas/core/schedule.ts";
import { PipelineMetric } from "../../lambdas/telemetry.ts";
import { connect, jobStatus } from "../../scripts/lib/operator.ts";
import { awkwardKeys, generatedKeys } from "../../scripts/lib/seed.ts";
import { startLocalSchedule } from "../../scripts/local/schedule.ts";
import { assertSameObjects, seedBuckets, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { lastJson, runOperator, startTestStack, type TestStack, waitFor } from "../support/localStack.ts";

/** Holds every copy until opened: the first run stays unfinished for as long as the test needs. */
class Gate {
  private open!: () => void;
  readonly opened = new Promise<void>((resolve) => {
    this.open = resolve;
  });
  release(): void {
    this.open();
  }
}

describe("scheduled sync", () => {
  let emulator: TestEmulator;
  let dir: string;
  let test: TestStack;
  let source: string;
  let destination: string;
  const gate = new Gate();
  const metrics: string[] = [];
  const keys = [...awkwardKeys(), ...generatedKeys(300)];

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-scheduled-"));
    ({ source, destination } = await seedBuckets(emulator, "sched", keys));
    const gated = (store: ObjectStore): ObjectStore => ({
      listPage: (request) => store.listPage(request),
      copy: async (request) => {
        await gate.opened;
        return store.copy(request);
      },
    });
    test = await startTestStack(emulator, dir, {
      sourceBuckets: [source],
      destinationBuckets: [destination],
      wrapStore: gated,
      schedule: { job: `--source s3://${source}/ --dest s3://${destination}/ --sync` },
      scheduleMetrics: {
        addMetric: (name: string) => {
          metrics.push(name);
        },
        publishStoredMetrics: () => undefined,
      },
    });
  });

  after(async () => {
    gate.release();
    await test?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("starts a run, skips the next while it is unfinished, ignores a redelivery, and lists the runs in status --history", async () => {
    const schedule = test.stack.schedule;
    assert.ok(schedule, "the local stack has a schedule");
    const c = await connect({ outputs: test.outputsFile, endpoint: emulator.endpoint });
    const t1 = new Date("2026-12-03T06:00:00Z");
    const t2 = new Date("2026-12-03T06:05:00Z");
    const t3 = new Date("2026-12-03T06:10:00Z");

    // Prepare / Act: the first run starts; its copies wait at the gate, so it is unfinished.
    const first = await schedule.invoke(t1);
    assert.deepEqual(first, { kind: "started", jobId: scheduledJobId(schedule.name, t1), previous: undefined });
    const second = await schedule.invoke(t2);
    assert.deepEqual(second, { kind: "skipped", jobId: scheduledJobId(schedule.name, t2), previous: first.jobId });
    assert.deepEqual(metrics, [PipelineMetric.ScheduledRunsStarted, PipelineMetric.ScheduledRunsSkipped]);
    assert.equal(await c.ledger.readSpec(second.jobId), undefined, "a skipped run writes no job");

    // The same run delivered again (a Scheduler or Lambda retry) finds its job and does nothing.
    const again = await schedule.invoke(t1);
    assert.deepEqual(again, { kind: "duplicate", jobId: first.jobId });

    const pending = lastJson(await runOperator("status", ["--history", "--json", "--outputs", test.outputsFile], emulator.endpoint));
    assert.deepEqual(pending, {
      runs: [
        {
          jobId: first.jobId,
          start: (await c.ledger.readSpec(first.jobId))?.createdAt,
          end: null,
          copied: 0,
          deleted: 0,
          failed: 0,
          complete: false,
        },
      ],
    });

    // The first run completes through the real pipeline, every awkward key included.
    gate.release();
    const done = await waitFor("the first run to complete", async () => {
      const s = await jobStatus(c, first.jobId);
      return s.complete ? s : undefined;
    });
    assert.equal(done.copied, keys.length);
    assert.equal(done.failed, 0);
    await assertSameObjects(emulator.s3, source, destination, keys.length);

    // The next run starts, since the previous one is complete; a sync of an unchanged copy copies nothing.
    const third = await schedule.invoke(t3);
    assert.deepEqual(third, { kind: "started", jobId: scheduledJobId(schedule.name, t3), previous: first.jobId });
    const thirdDone = await waitFor("the third run to complete", async () => {
      const s = await jobStatus(c, third.jobId);
      return s.complete ? s : undefined;
    });
    assert.equal(thirdDone.copied, 0);
    assert.equal(thirdDone.skipped, keys.length);

    // Assess: status --history lists both runs, oldest first, each finished with an end time.
    const run = await runOperator("status", ["--history", "--json", "--outputs", test.outputsFile], emulator.endpoint);
    assert.equal(run.code, 0, run.stderr);
    const history = lastJson(run) as { runs: Record<string, unknown>[] };
    assert.deepEqual(
      history.runs.map(({ jobId, copied, deleted, failed, complete }) => ({ jobId, copied, deleted, failed, complete })),
      [
        { jobId: first.jobId, copied: keys.length, deleted: 0, failed: 0, complete: true },
        { jobId: third.jobId, copied: 0, deleted: 0, failed: 0, complete: true },
      ],
    );
    for (const r of history.runs) {
      assert.deepEqual(Object.keys(r).sort(), ["complete", "copied", "deleted", "end", "failed", "jobId", "start"]);
      assert.ok(
        typeof r.end === "string" && Date.parse(r.end) >= Date.parse(String(r.start)),
        `end ${String(r.end)} after start ${String(r.start)}`,
      );
    }
    assert.match(run.stderr, new RegExp(`${first.jobId}.*complete`));
  });
});

describe("scheduled run cut short after its spec", () => {
  let emulator: TestEmulator;
  let dir: string;
  let test: TestStack;
  let source: string;
  let destination: string;
  const keys = [...awkwardKeys(), ...generatedKeys(40)];

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-scheduled-resume-"));
    ({ source, destination } = await seedBuckets(emulator, "resume", keys));
    test = await startTestStack(emulator, dir, {
      sourceBuckets: [source],
      destinationBuckets: [destination],
      schedule: { job: `--source s3://${source}/ --dest s3://${destination}/ --sync` },
    });
  });

  after(async () => {
    await test?.stop();
    await emulator?.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("sends the seeds again on the redelivery, so the run completes and the next one starts", async () => {
    const schedule = test.stack.schedule;
    assert.ok(schedule, "the local stack has a schedule");
    const c = await connect({ outputs: test.outputsFile, endpoint: emulator.endpoint });
    const t1 = new Date("2026-12-03T06:00:00Z");
    const t2 = new Date("2026-12-04T06:00:00Z");

    // Prepare: the same schedule over an SQS client whose 2nd SendMessageBatch fails (11 seed ranges: 2 batches).
    const failingSqs = createSqsClient({ endpoint: emulator.endpoint });
    let batches = 0;
    failingSqs.middlewareStack.add(
      (next, context) => async (args) => {
        if (context.commandName === "SendMessageBatchCommand" && ++batches === 2) throw new Error("SQS is down");
        return next(args);
      },
      { step: "initialize", name: "failSecondBatch" },
    );
    const broken = startLocalSchedule(
      { ...c, sqs: failingSqs },
      { job: schedule.payload(t1).job, name: schedule.name },
      {
        logger: new Logger({ logLevel: "SILENT" }),
      },
    );

    // Act: the first delivery writes the spec, then fails part-way through the seeds; Lambda retries it.
    await assert.rejects(broken.invoke(t1), /SQS is down/);
    const jobId = scheduledJobId(schedule.name, t1);
    assert.ok(await c.ledger.readSpec(jobId), "the failed start wrote the spec");
    assert.deepEqual(await c.ledger.scheduledRunIds(schedule.name), [], "a run not fully seeded is not indexed");
    const retried = await schedule.invoke(t1);

    // Assess: the retry re-seeds the job; it completes with every key; a later delivery of the run is a no-op.
    assert.deepEqual(retried, { kind: "resumed", jobId });
    const done = await waitFor("the resumed run to complete", async () => {
      const s = await jobStatus(c, jobId);
      return s.complete ? s : undefined;
    });
    assert.equal(done.copied + done.skipped, keys.length);
    assert.equal(done.failed, 0);
    await assertSameObjects(emulator.s3, source, destination, keys.length);
    assert.deepEqual(await schedule.invoke(t1), { kind: "duplicate", jobId });
    const next = await schedule.invoke(t2);
    assert.deepEqual(next, { kind: "started", jobId: scheduledJobId(schedule.name, t2), previous: jobId });
  });
});
