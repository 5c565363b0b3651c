/**
 * The whole pipeline against the emulator over HTTP: real handlers, real
 * queues, the local event-source runtime. Each test seeds its own buckets.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { type FaultProxy, startFaultProxy } from "../support/faultProxy.ts";
import { listKeys } from "../support/localStack.ts";

describe("pipeline on the emulator", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  async function seeded(keys: readonly string[]) {
    const source = bucketName("src");
    const destination = bucketName("dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = keys.map(seedObject);
    await putObjects(emulator.s3, source, objects);
    return { source, destination, objects };
  }

  it("copies every awkward key intact, with content type and metadata, under a new prefix", async () => {
    const { source, destination, objects } = await seeded(awkwardKeys());

    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
    });

    assert.equal(result.complete, true);
    assert.equal(result.listed, objects.length);
    assert.equal(result.copied, objects.length);
    assert.equal(result.failed, 0);
    assert.deepEqual(await checkObjects(emulator.s3, destination, objects, (k) => `copy/${k}`), []);
    assert.deepEqual(await listKeys(emulator.s3, destination), sortKeys(objects.map((o) => `copy/${o.key}`)));
  });

  it("maps keys under a source prefix to the destination prefix and copies nothing outside it", async () => {
    const inside = awkwardKeys().map((k) => `in/${k}`);
    const { source, destination, objects } = await seeded([...inside, "in", "inx/other", "out/x", "\u0001in/x"]);

    const result = await runLocalJob({
      source: { bucket: source, prefix: "in/" },
      destination: { bucket: destination, prefix: "" },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
    });

    assert.equal(result.copied, inside.length);
    assert.equal(result.failed, 0);
    const expected = objects.filter((o) => o.key.startsWith("in/"));
    assert.deepEqual(await checkObjects(emulator.s3, destination, expected, (k) => k.slice("in/".length)), []);
    assert.equal((await listKeys(emulator.s3, destination)).length, inside.length);
  });

  it("copies 10,000 objects listed over many pages", async () => {
    const { source, destination, objects } = await seeded(generatedKeys(10_000));

    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: emulator.endpoint,
      pageSize: 250,
      logLevel: "SILENT",
    });

    assert.equal(result.complete, true);
    assert.equal(result.listed, 10_000);
    assert.equal(result.copied, 10_000);
    assert.equal(result.failed, 0);
    assert.deepEqual(await listKeys(emulator.s3, destination), sortKeys(objects.map((o) => o.key)));
  });

  it("continues a range through several invocations when the list deadline is short", async () => {
    const keys = [...awkwardKeys(), ...generatedKeys(2_000, "z/")];
    const { source, destination, objects } = await seeded(keys);

    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: emulator.endpoint,
      pageSize: 20,
      // The safety margin is the whole timeout: each invocation continues after its first page, however fast
      // the machine is (the count of portions below must not depend on it).
      listTimeoutMs: 400,
      listSafetyMs: 400,
      logLevel: "SILENT",
    });

    assert.equal(result.complete, true);
    // 11 seeded ranges; every continuation adds a finished portion.
    assert.ok(result.ranges >= 11 + 20, `expected many continued portions, got ${result.ranges}`);
    assert.equal(result.copied, objects.length);
    assert.equal(result.failed, 0);
    assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
  });

  describe("with faults injected between the pipeline and the emulator", () => {
    let proxy: FaultProxy;

    before(async () => {
      proxy = await startFaultProxy({ target: emulator.endpoint, rate: 0.15, seed: 7 });
    });

    after(async () => {
      await proxy.close();
    });

    it("still copies every key when 15% of requests fail transiently", async () => {
      const { source, destination, objects } = await seeded([...awkwardKeys(), ...generatedKeys(1_500)]);
      const s3 = createS3Client({ endpoint: proxy.endpoint, maxAttempts: 2 });
      const sqs = createSqsClient({ endpoint: proxy.endpoint, maxAttempts: 2 });

      const result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: destination, prefix: "" },
        endpoint: proxy.endpoint,
        s3,
        sqs,
        pageSize: 100,
        // Lost receives and deletes come back after this; keep it short for the test.
        visibilityTimeoutSeconds: 2,
        maxReceiveCount: 50,
        copyPolicy: { triesPerDelivery: 6, maxDeliveries: 10, backoff: { baseMs: 10, capMs: 200 } },
        logLevel: "SILENT",
      });

      const injected = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
      assert.ok(injected > 100, `expected many injected faults, got ${injected}`);
      assert.equal(result.complete, true);
      assert.equal(result.failed, 0);
      assert.equal(result.copied, objects.length);
      assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
    });
  });
});
