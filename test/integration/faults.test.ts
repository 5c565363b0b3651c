/**
 * Faults between the pipeline and the emulator, and in the runtime itself.
 * After every job the destination must be identical to the source and the
 * ledger must account for every key exactly once.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { Logger } from "@aws-lambda-powertools/logger";
import type { SQSEvent } from "aws-lambda";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import type { PipelineConfig } from "../../lambdas/config.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { account, InMemoryLedger } from "../../lambdas/core/ledger.ts";
import { type JobRef, listBody } from "../../lambdas/core/messages.ts";
import type { ListPageRequest, ObjectStore } from "../../lambdas/core/ports.ts";
import { seedRanges } from "../../lambdas/core/ranges.ts";
import { createListHandler } from "../../lambdas/list/handler.ts";
import type { SqsBatchHandler } from "../../lambdas/sqsBatch.ts";
import { awkwardKeys, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { s3VerifyDeps, verifySelections } from "../../scripts/lib/verify.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { createPipelineQueues, deleteQueues } from "../../scripts/local/queues.ts";
import { EventSourceRunner } from "../../scripts/local/runner.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { seededRandom, startFaultProxy } from "../support/faultProxy.ts";
import { listen, readBody, replyWith, upstreamTo } from "../support/forward.ts";

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Runtime faults: a handler that dies before or after doing its work, and deliveries handled twice. */
function faulty(
  handler: SqsBatchHandler,
  random: () => number,
  rates: { crashBefore: number; crashAfter: number; duplicate: number },
  counts: Record<string, number>,
) {
  return (async (event: SQSEvent, context) => {
    const r = random();
    if (r < rates.crashBefore) {
      counts.crashBefore = (counts.crashBefore ?? 0) + 1;
      throw new Error("injected: the invocation died before it started");
    }
    const response = await handler(event, context);
    if (r < rates.crashBefore + rates.crashAfter) {
      counts.crashAfter = (counts.crashAfter ?? 0) + 1;
      throw new Error("injected: the invocation died after its work, before its messages were deleted");
    }
    if (r < rates.crashBefore + rates.crashAfter + rates.duplicate) {
      counts.duplicate = (counts.duplicate ?? 0) + 1;
      return handler(event, context); // the same messages delivered again
    }
    return response;
  }) as SqsBatchHandler;
}

/**
 * Loses the answers to the first `perQueue` receives of each work queue that
 * handed out messages: SQS acted (the messages are in flight), then the
 * connection is reset, so no consumer knows of them.
 */
async function startLostReceiveProxy(target: string, perQueue: number) {
  const upstream = upstreamTo(target);
  const lost = { list: 0, copy: 0, messages: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const answer = await upstream.send(req, body);
    if (req.headers["x-amz-target"] === "AmazonSQS.ReceiveMessage") {
      const queue = (JSON.parse(body.toString()) as { QueueUrl: string }).QueueUrl.endsWith("-list") ? "list" : "copy";
      const messages = (JSON.parse(answer.body.toString()) as { Messages?: unknown[] }).Messages ?? [];
      if (messages.length > 0 && lost[queue] < perQueue) {
        lost[queue]++;
        lost.messages += messages.length;
        req.socket.destroy();
        return;
      }
    }
    replyWith(res, answer);
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return { endpoint: proxy.endpoint, lost, close: proxy.close };
}

/** Slows listing pages so that short list deadlines fall in the middle of a page. */
function slowListing(store: ObjectStore, ms: number): ObjectStore {
  return {
    copy: (r) => store.copy(r),
    listPage: async (r: ListPageRequest) => {
      await sleep(ms);
      return store.listPage(r);
    },
  };
}

describe("faults", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  async function seeded(count: number) {
    const source = bucketName("flt-src");
    const destination = bucketName("flt-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const keys = [...awkwardKeys(), ...generatedKeys(count)];
    await putObjects(emulator.s3, source, keys.map(seedObject), 64);
    return { source, destination, keys };
  }

  async function assertIdentical(source: string, destination: string, expected: number) {
    const counts = await verifySelections({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      ...s3VerifyDeps(emulator.s3),
    });
    assert.deepEqual({ matching: counts.matching, differences: counts.differences }, { matching: expected, differences: 0 });
  }

  it("copies 10,000 objects intact through a proxy failing 10% of requests, and accounts for each once", async () => {
    // Prepare
    const { source, destination, keys } = await seeded(10_000);
    const proxy = await startFaultProxy({
      target: emulator.endpoint,
      rate: 0.1,
      seed: 11,
      faults: ["slowdown", "internal", "reset-before", "reset-after", "slow"],
    });
    try {
      // Act
      const result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: destination, prefix: "" },
        endpoint: proxy.endpoint,
        s3: createS3Client({ endpoint: proxy.endpoint, maxAttempts: 2, maxSockets: 300 }),
        sqs: createSqsClient({ endpoint: proxy.endpoint, maxAttempts: 2 }),
        visibilityTimeoutSeconds: 3,
        maxReceiveCount: 100,
        copyPolicy: { triesPerDelivery: 6, maxDeliveries: 10, backoff: { baseMs: 10, capMs: 300 } },
        logLevel: "SILENT",
      });

      // Assess
      const injected = Object.values(proxy.injected).reduce((a, b) => a + b, 0);
      assert.ok(injected > 1_000, `expected many injected faults, got ${injected}`);
      assert.equal(result.complete, true);
      assert.deepEqual(
        { listed: result.listed, copied: result.copied, failed: result.failed, vanished: result.vanished },
        { listed: keys.length, copied: keys.length, failed: 0, vanished: 0 },
      );
      await assertIdentical(source, destination, keys.length);
      // Per key: the S3 ledger names every key copied exactly once, duplicates and retries notwithstanding.
      const records = await new S3Ledger(emulator.s3, result.ledger.bucket).readRecords(result.jobId);
      const copied = account(records.portions, records.outcomes, { keys: true }).copiedKeys ?? [];
      assert.deepEqual(sortKeys(copied), sortKeys(keys));
    } finally {
      await proxy.close();
    }
  });

  it("finishes a job whose receive answers were lost after SQS acted, every key copied once, with the default visibility", async () => {
    // Prepare: the first two receives of each queue that hand out messages never reach their poller.
    const { source, destination, keys } = await seeded(1_000);
    const proxy = await startLostReceiveProxy(emulator.endpoint, 2);
    try {
      // Act: the local runtime's defaults (visibility, heartbeat, maxReceiveCount), through the proxy.
      const result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: destination, prefix: "" },
        endpoint: proxy.endpoint,
        logLevel: "SILENT",
      });

      // Assess: the held messages came back, none went to a DLQ, and the ledger names every key copied once.
      assert.deepEqual({ list: proxy.lost.list, copy: proxy.lost.copy }, { list: 2, copy: 2 });
      assert.equal(result.complete, true);
      assert.deepEqual(
        { listed: result.listed, copied: result.copied, failed: result.failed, vanished: result.vanished, dlq: result.dlq },
        { listed: keys.length, copied: keys.length, failed: 0, vanished: 0, dlq: { list: 0, copy: 0 } },
      );
      await assertIdentical(source, destination, keys.length);
      const records = await new S3Ledger(emulator.s3, result.ledger.bucket).readRecords(result.jobId);
      const copied = account(records.portions, records.outcomes, { keys: true }).copiedKeys ?? [];
      assert.deepEqual(sortKeys(copied), sortKeys(keys));
    } finally {
      await proxy.close();
    }
  });

  it("survives crashed invocations, duplicate deliveries, expiring visibility and deadlines mid-page", async () => {
    // Prepare: the real handlers behind runners whose invocations crash, repeat, and overrun.
    const { source, destination, keys } = await seeded(3_000);
    const s3 = createS3Client({ endpoint: emulator.endpoint });
    const sqs = createSqsClient({ endpoint: emulator.endpoint });
    // Visibility (2 s) shorter than a slow list invocation: messages come back while still being worked on.
    const queues = await createPipelineQueues(sqs, bucketName("flt"), { visibilityTimeoutSeconds: 2, maxReceiveCount: 100 });
    const config: PipelineConfig = {
      queues: { list: queues.list.url, copy: queues.copy.url, listDlq: queues.listDlq.url, copyDlq: queues.copyDlq.url },
      limits: { maxKeys: 100, maxBytes: 64 * 1024 },
      listPageSize: 100,
      listSafetyMs: 100,
      listSplitParts: 4,
      copyConcurrency: 16,
      copySafetyMs: 100,
      partConcurrency: 2,
      copyPolicy: { triesPerDelivery: 3, maxDeliveries: 10, backoff: { baseMs: 5, capMs: 50 } },
    };
    const ledger = new InMemoryLedger();
    const base = new S3ObjectStore(s3);
    const deps = {
      store: slowListing(base, 150),
      multipart: base,
      sink: new SqsMessageSink(sqs, config.queues),
      ledger,
      halt: new LocalHaltSignal(),
      config,
      logger: new Logger({ logLevel: "SILENT" }),
    };
    const random = seededRandom(5);
    const counts: Record<string, number> = {};
    const rates = { crashBefore: 0.05, crashAfter: 0.1, duplicate: 0.1 };
    const runners = [
      new EventSourceRunner({
        sqs,
        queueUrl: queues.list.url,
        queueArn: queues.list.arn,
        handler: faulty(createListHandler(deps), random, rates, counts),
        functionName: "faulty-list",
        batchSize: 1,
        concurrency: 3,
        // 400 ms with 150 ms pages: the runner gives up on some invocations mid-page.
        timeoutMs: 400,
      }),
      new EventSourceRunner({
        sqs,
        queueUrl: queues.copy.url,
        queueArn: queues.copy.arn,
        handler: faulty(createCopyHandler(deps), random, rates, counts),
        functionName: "faulty-copy",
        batchSize: 10,
        concurrency: 3,
        timeoutMs: 10_000,
      }),
    ];
    const job: JobRef = { id: "faulty-job", source: { bucket: source, prefix: "" }, destination: { bucket: destination, prefix: "" } };
    await deps.sink.send(
      "list",
      seedRanges("").map((range) => ({ body: listBody({ job, range, hop: 0 }) })),
    );

    // Act
    for (const r of runners) r.start();
    try {
      for (let waited = 0; !ledger.summary().complete && waited < 240_000; waited += 250) await sleep(250);
    } finally {
      await Promise.all(runners.map((r) => r.stop()));
      await deleteQueues(sqs, Object.values(queues));
    }

    // Assess: every fault happened, and nothing was lost or counted twice.
    assert.ok((counts.crashBefore ?? 0) > 0 && (counts.crashAfter ?? 0) > 0 && (counts.duplicate ?? 0) > 0, JSON.stringify(counts));
    assert.ok((runners[0]?.stats.timeouts ?? 0) > 0, "some list invocations hit their deadline mid-page");
    const summary = ledger.summary();
    assert.equal(summary.complete, true);
    assert.deepEqual(
      { listed: summary.listed, copied: summary.copied, failed: summary.failed, vanished: summary.vanished },
      { listed: keys.length, copied: keys.length, failed: 0, vanished: 0 },
    );
    await assertIdentical(source, destination, keys.length);
    assert.deepEqual(sortKeys(ledger.copiedKeys()), sortKeys(keys), "every key recorded copied exactly once");
  });
});
