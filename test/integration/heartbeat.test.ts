/**
 * The local runner's heartbeat against the emulator: a batch stays invisible
 * while its invocation runs, however long, and a message whose consumer
 * vanished comes back after the queue's (short) visibility timeout. Judged by
 * who got which message how often, never by the clock.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand, ReceiveMessageCommand, SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { createSqsClient } from "../../lambdas/aws/clients.ts";
import type { SqsBatchHandler } from "../../lambdas/sqsBatch.ts";
import { deleteQueues, type JobQueue, queueDepth } from "../../scripts/local/queues.ts";
import { EventSourceRunner, type HeartbeatOptions } from "../../scripts/local/runner.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { startFaultProxy } from "../support/faultProxy.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Every delivery a handler saw: message id, body and SQS's receive count. */
class Deliveries {
  readonly seen: { id: string; body: string; receiveCount: number }[] = [];

  handler(workMs: number): SqsBatchHandler {
    return async (event: SQSEvent): Promise<SQSBatchResponse> => {
      for (const r of event.Records) this.record(r);
      await sleep(workMs);
      return { batchItemFailures: [] };
    };
  }

  record(r: SQSRecord): void {
    this.seen.push({ id: r.messageId, body: r.body, receiveCount: Number(r.attributes.ApproximateReceiveCount) });
  }

  /** How many times each body was delivered. */
  counts(): Record<string, number> {
    const counts: Record<string, number> = {};
    for (const d of this.seen) counts[d.body] = (counts[d.body] ?? 0) + 1;
    return counts;
  }
}

describe("local runner heartbeat", () => {
  let emulator: TestEmulator;
  const queues: JobQueue[] = [];

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await deleteQueues(emulator.sqs, queues);
    await emulator.stop();
  });

  async function queueOf(sqs: SQSClient, visibilitySeconds: number, bodies: readonly string[]): Promise<JobQueue> {
    const created = await sqs.send(
      new CreateQueueCommand({ QueueName: bucketName("hb"), Attributes: { VisibilityTimeout: String(visibilitySeconds) } }),
    );
    const url = created.QueueUrl ?? "";
    const queue = { url, arn: `arn:aws:sqs:us-east-1:000000000000:${url.split("/").at(-1)}` };
    queues.push(queue);
    await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: bodies.map((b, i) => ({ Id: String(i), MessageBody: b })) }));
    return queue;
  }

  function runner(sqs: SQSClient, queue: JobQueue, handler: SqsBatchHandler, heartbeat?: HeartbeatOptions) {
    return new EventSourceRunner({
      sqs,
      queueUrl: queue.url,
      queueArn: queue.arn,
      handler,
      functionName: "heartbeat-test",
      batchSize: 1,
      // More pollers than messages: an idle one takes any message that becomes visible again.
      concurrency: 4,
      timeoutMs: 60_000,
      waitTimeSeconds: 1,
      ...(heartbeat === undefined ? {} : { heartbeat }),
    });
  }

  /** Runs `r` until `done` holds; the bound only keeps a broken runner from hanging the suite. */
  async function runUntil(r: EventSourceRunner, done: () => boolean | Promise<boolean>): Promise<void> {
    r.start();
    try {
      for (let waited = 0; !(await done()) && waited < 120_000; waited += 100) await sleep(100);
    } finally {
      await r.stop();
    }
  }

  it("keeps the messages of a handler slower than the visibility timeout: each is delivered once", async () => {
    // Prepare: visibility 3 s (beats every 1 s: room for a slow round trip on a loaded machine), a handler
    // working 8 s, idle pollers waiting for anything that comes back.
    const bodies = ["slow-a", "slow-b"];
    const queue = await queueOf(emulator.sqs, 3, bodies);
    const deliveries = new Deliveries();
    const r = runner(emulator.sqs, queue, deliveries.handler(8_000), { visibilityTimeoutSeconds: 3 });

    // Act
    await runUntil(r, async () => r.stats.invocations === bodies.length && (await queueDepth(emulator.sqs, queue.url)) === 0);

    // Assess
    assert.deepEqual(deliveries.counts(), { "slow-a": 1, "slow-b": 1 });
    assert.deepEqual(
      deliveries.seen.map((d) => d.receiveCount),
      [1, 1],
    );
    assert.ok(r.stats.heartbeats >= 2 * bodies.length, `each invocation renewed its visibility: ${r.stats.heartbeats} beats`);
    assert.equal(r.stats.heartbeatFailures, 0);
  });

  it("without the heartbeat, the same slow handler loses its message to a second poller", async () => {
    // Prepare: what the test above would see if the heartbeat did nothing.
    const queue = await queueOf(emulator.sqs, 3, ["slow-c"]);
    const deliveries = new Deliveries();
    const r = runner(emulator.sqs, queue, deliveries.handler(8_000));

    // Act
    await runUntil(r, () => deliveries.seen.length >= 2);

    // Assess
    assert.deepEqual(deliveries.counts(), { "slow-c": 2 });
    assert.equal(deliveries.seen[1]?.receiveCount, 2);
  });

  it("delivers again what a vanished consumer received, and every message is handled", async () => {
    // Prepare: a consumer receives two of five messages and is never heard of again (no delete, no heartbeat).
    const bodies = ["m1", "m2", "m3", "m4", "m5"];
    const queue = await queueOf(emulator.sqs, 2, bodies);
    const vanished = await emulator.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 2 }));
    const held = (vanished.Messages ?? []).map((m) => m.Body ?? "");
    assert.equal(held.length, 2);
    const deliveries = new Deliveries();
    const r = runner(emulator.sqs, queue, deliveries.handler(0), { visibilityTimeoutSeconds: 2 });

    // Act
    await runUntil(r, async () => deliveries.seen.length >= bodies.length && (await queueDepth(emulator.sqs, queue.url)) === 0);

    // Assess: the runner got each message once; the two the vanished consumer held on their second receive.
    assert.deepEqual(deliveries.counts(), Object.fromEntries(bodies.map((b) => [b, 1])));
    for (const d of deliveries.seen) assert.equal(d.receiveCount, held.includes(d.body) ? 2 : 1, d.body);
  });

  it("retries failed heartbeats on the next beat and never crashes", async () => {
    // Prepare: a proxy failing half of the heartbeats, some after SQS acted, in front of a slow handler;
    // one SDK attempt each, so a fault reaches the runner. Ten beats per visibility timeout.
    const proxy = await startFaultProxy({
      target: emulator.endpoint,
      rate: 0.5,
      seed: 3,
      faults: ["internal", "reset-before", "reset-after"],
      eligible: (req) => req.headers["x-amz-target"] === "AmazonSQS.ChangeMessageVisibilityBatch",
    });
    const sqs = createSqsClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    try {
      const bodies = ["beat-a", "beat-b", "beat-c"];
      const queue = await queueOf(sqs, 3, bodies);
      const deliveries = new Deliveries();
      const errors: string[] = [];
      const r = new EventSourceRunner({
        sqs,
        queueUrl: queue.url,
        queueArn: queue.arn,
        handler: deliveries.handler(6_000),
        functionName: "heartbeat-faults",
        batchSize: 1,
        concurrency: 3,
        timeoutMs: 60_000,
        waitTimeSeconds: 1,
        heartbeat: { visibilityTimeoutSeconds: 3, intervalMs: 300 },
        onError: (where) => errors.push(where),
      });

      // Act
      await runUntil(r, async () => r.stats.invocations >= bodies.length && (await queueDepth(sqs, queue.url)) === 0);

      // Assess: beats failed, later ones landed, and no message went to a second consumer.
      assert.ok(r.stats.heartbeatFailures > 0, `some beats failed: ${JSON.stringify(proxy.injected)}`);
      assert.ok(r.stats.heartbeats > r.stats.heartbeatFailures);
      assert.ok(errors.includes("heartbeat"));
      assert.deepEqual(deliveries.counts(), Object.fromEntries(bodies.map((b) => [b, 1])));
    } finally {
      sqs.destroy();
      await proxy.close();
    }
  });
});
