/**
 * A worker thread of the local runtime's copy function (copyThreads.ts): its
 * own clients, sockets and event-source runner, polling the copy queue as a
 * Lambda instance of the copy function would, so that copies spread over the
 * machine's cores. It writes the S3 ledger itself and posts what the parent's
 * progress mirror needs.
 */
import { parentPort, workerData } from "node:worker_threads";
import { Logger } from "@aws-lambda-powertools/logger";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import type { BatchOutcome, DeletionPlan, ExtrasRecord, Ledger, PortionRecord } from "../../lambdas/core/ports.ts";
import type { CopyThreadSpec, FromCopyThread, ToCopyThread } from "./copyThreads.ts";
import { MirroredLedger } from "./mirror.ts";
import { EventSourceRunner } from "./runner.ts";

const port = parentPort;
if (port === null) throw new Error("copyWorker.ts runs as a worker thread of copyThreads.ts");
const spec = workerData as CopyThreadSpec;
const post = (message: FromCopyThread) => port.postMessage(message);

/** The parent's mirror, written through messages: each write goes after the S3 ledger's, as in one process. */
class PostedMirror implements Ledger {
  async recordPortion(record: PortionRecord): Promise<void> {
    post({ type: "ledger", op: "recordPortion", arg: record });
  }
  async recordBatch(outcome: BatchOutcome): Promise<void> {
    post({ type: "ledger", op: "recordBatches", arg: [outcome] });
  }
  async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    post({ type: "ledger", op: "recordBatches", arg: outcomes });
  }
  async recordExtras(record: ExtrasRecord): Promise<void> {
    post({ type: "ledger", op: "recordExtras", arg: record });
  }
  async recordDeletionPlan(plan: DeletionPlan): Promise<DeletionPlan> {
    post({ type: "ledger", op: "recordDeletionPlan", arg: plan });
    return plan;
  }
  async recordDeletionsSent(plan: DeletionPlan): Promise<void> {
    post({ type: "ledger", op: "recordDeletionsSent", arg: plan });
  }
}

const clientOptions = { endpoint: spec.endpoint, region: spec.region, maxSockets: spec.maxSockets };
const s3 = createS3Client(clientOptions);
const sqs = createSqsClient(clientOptions);
// As in Lambda, copies get one SDK attempt so that the limiter hears every SlowDown.
const copyClient = createS3Client({ ...clientOptions, maxAttempts: 1 });
const store = new S3ObjectStore(
  s3,
  () => s3,
  () => copyClient,
);
const halt = new LocalHaltSignal();
const logger = new Logger({ serviceName: "s3-fanout-local", logLevel: spec.logLevel });
const deps = {
  store,
  multipart: store,
  deleter: store,
  sink: new SqsMessageSink(sqs, spec.config.queues),
  ledger: new MirroredLedger(new S3Ledger(s3, spec.ledger.bucket, spec.ledger.prefix), new PostedMirror()),
  halt,
  config: spec.config,
  logger,
};
const runner = new EventSourceRunner({
  sqs,
  queueUrl: spec.queue.url,
  queueArn: spec.queue.arn,
  handler: createCopyHandler(deps),
  instance: () => createCopyHandler(deps),
  functionName: spec.functionName,
  batchSize: spec.batchSize,
  concurrency: spec.invocations,
  timeoutMs: spec.timeoutMs,
  waitTimeSeconds: spec.waitTimeSeconds,
  heartbeat: { visibilityTimeoutSeconds: spec.visibilityTimeoutSeconds },
  onError: (where, err) => post({ type: "error", where, error: String(err) }),
});

port.on("message", (message: ToCopyThread) => {
  if (message.type === "halt") halt.halt(message.jobId);
  else if (message.type === "stop") {
    runner.stop().then(
      () => {
        post({ type: "stopped" });
        port.close();
      },
      (err: unknown) => post({ type: "error", where: "stop", error: String(err) }),
    );
  }
});
runner.start();
post({ type: "started" });
