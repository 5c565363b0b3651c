/**
 * The bench's Lambda cost of a copy (scripts/bench/lambdaCost.ts), on a small
 * job: the synthesized copy bundle, driven with the copy queue's real
 * batches, copies every object, and the figures come in the shape the bench
 * reports. Timings are the bench's to print, never asserted here.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { type CopyCost, lambdaJson, MB_PER_VCPU, measureCopyCost } from "../../scripts/bench/lambdaCost.ts";
import { s3VerifyDeps, verifySelections } from "../../scripts/lib/verify.ts";
import { deploymentContext, synthesize } from "../support/cloudAssembly.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { lastJson, runOperator } from "../support/localStack.ts";

/** Enough for several warm invocations of 10 messages after the cold one, few enough for CI. */
const OBJECTS = 2_400;

describe("bench: Lambda cost of a copy", () => {
  const source = `cost-src-${process.pid}`;
  const destination = `cost-dst-${process.pid}`;
  let dir: string;
  let cdkOut: string;
  let emulator: TestEmulator;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-lambda-cost-"));
    cdkOut = join(dir, "cdk.out");
    const [, started] = await Promise.all([synthesize(cdkOut, deploymentContext(source, destination)), startTestEmulator()]);
    emulator = started;
  });

  after(async () => {
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("copies every object of a listed job with the copy bundle in full batches, and reports CPU and wall time per object", async () => {
    const cost: CopyCost = await measureCopyCost({ endpoint: emulator.endpoint, cdkOut, objects: OBJECTS, progress: () => undefined });

    // Every seeded object is in the destination, the same size and ETag: compared by listing both.
    const counts = await verifySelections({
      source: { bucket: source, prefix: "lambda-cost/" },
      destination: { bucket: destination, prefix: "lambda-cost/" },
      ...s3VerifyDeps(emulator.s3),
    });
    assert.deepEqual({ matching: counts.matching, differences: counts.differences }, { matching: OBJECTS, differences: 0 });
    assert.equal(cost.complete, true);
    assert.equal(cost.destinationObjects, OBJECTS);
    assert.equal(cost.failedRecords, 0);
    // The cold invocation's objects and the measured ones are every object, once.
    assert.ok(cost.coldInvocation.objects > 0, "the cold invocation copied its message's keys");
    assert.equal(cost.coldInvocation.objects + cost.objectsCopied, OBJECTS);
    // As the template configures the function and its event source mapping.
    assert.equal(cost.memoryMb, 1024);
    assert.equal(cost.batchSize, 10);
    assert.equal(cost.copyConcurrency, 64);
    assert.equal(cost.runtime, "nodejs24.x");
    assert.equal(cost.vcpuShare, Math.round((1024 / MB_PER_VCPU) * 10_000) / 10_000);
    // Full batches but perhaps the last: a listing cuts at most 100 keys a message.
    assert.ok(cost.invocations >= 2, `${cost.invocations} warm invocations`);
    assert.ok(cost.messages > (cost.invocations - 1) * cost.batchSize && cost.messages <= cost.invocations * cost.batchSize);
    assert.ok(cost.keysPerMessage > 0 && cost.keysPerMessage <= 100);
    // The figures are positive and add up to each other; their size is the bench's to judge.
    for (const field of ["cpuMs", "copyCpuMsPerObject", "wallMs", "copyWallMsPerInvocation", "cpuBoundGbSecondsPerMillionObjects"] as const)
      assert.ok(cost[field] > 0, `${field} ${cost[field]}`);
    assert.ok(Math.abs(cost.copyCpuMsPerObject - cost.cpuMs / cost.objectsCopied) < 1e-3);
    assert.ok(Math.abs(cost.copyWallMsPerInvocation - cost.wallMs / cost.invocations) < 0.1);
    const expectedGbSeconds = ((cost.cpuMs / cost.objectsCopied) * 1000 * (1024 / 1024)) / (1024 / MB_PER_VCPU);
    assert.ok(Math.abs(cost.cpuBoundGbSecondsPerMillionObjects - expectedGbSeconds) < 0.1);

    const json = lambdaJson(cost, undefined);
    assert.equal(json?.coldStartMs, null);
    assert.equal(json?.copyCpuMsPerObject, cost.copyCpuMsPerObject);
  });

  it("reports it with the cold starts in npm run bench --cold-start-only --json, and --skip-lambda-cost leaves it out", async () => {
    const common = ["--cold-start-only", "--cdk-out", cdkOut, "--cold-start-runs", "1", "--json"];
    const run = await runOperator("bench", [...common, "--lambda-cost-objects", "300"], "");

    assert.equal(run.code, 0, run.stderr);
    const lambda = lastJson(run).lambda as Record<string, unknown>;
    for (const field of ["copyCpuMsPerObject", "copyWallMsPerInvocation", "objectsCopied", "invocations", "memoryMb"])
      assert.equal(typeof lambda[field], "number", field);
    assert.equal(lambda.complete, true);
    assert.equal(lambda.objectsSeeded, 300);
    assert.equal(lambda.memoryMb, 1024);
    const coldStartMs = lambda.coldStartMs as Record<string, unknown>;
    for (const name of ["list", "copy"]) assert.equal(typeof coldStartMs[name], "number", `coldStartMs.${name}`);
    assert.match(run.stdout, /Lambda cost of a copy .*\n\s+[\d.]+ CPU ms per copied object, [\d.]+ ms per invocation/);

    const skipped = await runOperator("bench", [...common, "--skip-lambda-cost"], "");
    assert.equal(skipped.code, 0, skipped.stderr);
    assert.equal(lastJson(skipped).lambda, null);
    assert.doesNotMatch(skipped.stdout, /Lambda cost of a copy/);
  });

  it("refuses a bad --lambda-cost-objects with one line and exit 2", async () => {
    const run = await runOperator("bench", ["--lambda-cost-objects", "0"], "");
    assert.equal(run.code, 2);
    assert.match(run.stderr.trim(), /^[^\n]*lambda-cost-objects[^\n]*$/);
  });
});
