/**
 * The live function in the local runtime: its queue and DLQ (as on the stack, with redrive), and
 * the real live handler behind an event-source runner. Nothing sends S3 events here: the local
 * emulators have no EventBridge, so tests and operators post EventBridge-shaped events to the queue.
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { liveQueueSink } from "../../lambdas/aws/liveQueues.ts";
import type { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import type { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import type { LiveJob } from "../../lambdas/core/converge.ts";
import type { PipelineDeps } from "../../lambdas/deps.ts";
import { createLiveHandler, type LiveHandlerDeps } from "../../lambdas/live/handler.ts";
import { createQueue, type JobQueue } from "./queues.ts";
import { EventSourceRunner } from "./runner.ts";

export interface LiveSettings {
  readonly job: LiveJob;
  /** Delete destination keys the source no longer has. @default false */
  readonly allowDelete?: boolean;
}

export interface RunningLive {
  readonly queue: JobQueue;
  readonly dlq: JobQueue;
  stop(): Promise<void>;
}

export async function startLive(
  sqs: SQSClient,
  name: string,
  live: LiveSettings,
  deps: PipelineDeps & { readonly store: S3ObjectStore; readonly ledger: S3Ledger },
  settings: { readonly visibilityTimeoutSeconds: number; readonly maxReceiveCount: number; readonly timeoutMs: number },
): Promise<RunningLive> {
  const retention = String(14 * 24 * 3600);
  const dlq = await createQueue(sqs, `${name}-live-dlq`, { MessageRetentionPeriod: retention });
  const queue = await createQueue(sqs, `${name}-live`, {
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    MessageRetentionPeriod: retention,
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: settings.maxReceiveCount }),
  });
  const liveQueues = liveQueueSink(sqs, queue.url, dlq.url);
  const liveDeps: LiveHandlerDeps = {
    ...deps,
    job: live.job,
    allowDelete: live.allowDelete ?? false,
    sourceHeads: deps.store,
    destinationHeads: deps.store,
    deleter: deps.store,
    specs: deps.ledger,
    liveQueues,
  };
  const runner = new EventSourceRunner({
    sqs,
    queueUrl: queue.url,
    queueArn: queue.arn,
    handler: createLiveHandler(liveDeps),
    instance: () => createLiveHandler(liveDeps),
    functionName: `${name}-live`,
    batchSize: 10,
    concurrency: 2,
    timeoutMs: settings.timeoutMs,
    waitTimeSeconds: 20,
    heartbeat: { visibilityTimeoutSeconds: settings.visibilityTimeoutSeconds },
    onError: (where, err) => deps.logger.warn("runner error", { where, error: String(err) }),
  });
  runner.start();
  return { queue, dlq, stop: () => runner.stop() };
}
