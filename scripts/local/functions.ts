/**
 * The two pipeline functions as the local runtime runs them: the real
 * handlers behind event-source runners, with Lambda-like settings.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { S3ManifestSource } from "../../lambdas/aws/s3Manifest.ts";
import type { PipelineConfig } from "../../lambdas/config.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { type BatchLimits, DEFAULT_BATCH_LIMITS } from "../../lambdas/core/batching.ts";
import { type CopyPolicy, DEFAULT_COPY_POLICY } from "../../lambdas/core/copier.ts";
import { createListHandler, type ListHandlerDeps } from "../../lambdas/list/handler.ts";
import type { JobQueues } from "./queues.ts";
import { EventSourceRunner } from "./runner.ts";

export interface FunctionSettings {
  /** Concurrent list invocations. @default 4 */
  readonly listConcurrency?: number;
  /** Concurrent copy invocations. @default 4 */
  readonly copyInvocations?: number;
  /** Copy messages per copy invocation (1-10). @default 10 */
  readonly copyBatchSize?: number;
  /** Copies in flight per copy invocation. @default 64 */
  readonly copyConcurrency?: number;
  /** List invocation timeout; short values exercise continuation. @default 60000 */
  readonly listTimeoutMs?: number;
  /** Continue elsewhere when fewer ms remain. @default a fifth of listTimeoutMs */
  readonly listSafetyMs?: number;
  /** @default 60000 */
  readonly copyTimeoutMs?: number;
  /** Keys per ListObjectsV2 page. @default 1000 */
  readonly pageSize?: number;
  /** Up to this many more ranges split off a range that proves large (0: never). @default 8 */
  readonly splitParts?: number;
  /** Full pages after which a fresh range splits. @default 3 */
  readonly splitAfterPages?: number;
  /** Pages a split-off range is expected to hold, at least. @default 20 */
  readonly splitPartPages?: number;
  readonly limits?: BatchLimits;
  readonly copyPolicy?: CopyPolicy;
  /** Parts in flight per object copied by parts. @default 8 */
  readonly partConcurrency?: number;
  /** HEADs in flight per list invocation for manifest rows without a size. @default 32 */
  readonly headConcurrency?: number;
  /** The S3 client manifests are read with when the deps bring no reader (the local stack's own). */
  readonly s3?: S3Client;
  /**
   * The work queues' visibility timeout, in seconds; a heartbeat renews it
   * while an invocation runs. @default LOCAL_VISIBILITY_TIMEOUT_SECONDS
   */
  readonly visibilityTimeoutSeconds?: number;
  /**
   * Worker threads the copy invocations are spread over (copyThreads.ts), so
   * that copies use every core; 0 runs them on this thread. Only a job that
   * builds its own clients can use them. @default 0
   */
  readonly copyThreads?: number;
}

/**
 * Long polls of 20 s, as Lambda's SQS pollers make: an idle poller asks once
 * in 20 s, not every second, and a message still wakes it at once. Stopping
 * aborts the polls in flight.
 */
export const POLL_WAIT_SECONDS = 20;

export function pipelineConfig(queues: JobQueues, s: FunctionSettings): PipelineConfig {
  const listTimeoutMs = s.listTimeoutMs ?? 60_000;
  return {
    queues: { list: queues.list.url, copy: queues.copy.url, listDlq: queues.listDlq.url, copyDlq: queues.copyDlq.url },
    limits: s.limits ?? DEFAULT_BATCH_LIMITS,
    listPageSize: s.pageSize ?? 1000,
    listSafetyMs: s.listSafetyMs ?? Math.floor(listTimeoutMs / 5),
    listSplitParts: s.splitParts ?? 8,
    listSplitAfterPages: s.splitAfterPages,
    listSplitPartPages: s.splitPartPages,
    copyConcurrency: s.copyConcurrency ?? 64,
    copySafetyMs: Math.floor((s.copyTimeoutMs ?? 60_000) / 5),
    partConcurrency: s.partConcurrency ?? 8,
    copyPolicy: s.copyPolicy ?? DEFAULT_COPY_POLICY,
  };
}

/**
 * The local work queues' visibility timeout. Lambda's event source never
 * renews a batch's visibility, so on AWS it is 6 x the function timeout
 * (lib/work-queue.ts), and a message whose consumer vanished waits that long.
 * The local runner renews it while an invocation runs, every third of it (a
 * heartbeat), so it can be short: a message whose receive answer was lost, or
 * whose invocation died, comes back after 30 s, while an invocation of any
 * length keeps its messages. Its failed records come back after 30 s too.
 * Each such return counts a receive: maxReceiveCount 5 still takes five in a
 * row before a message goes to its DLQ.
 */
export const LOCAL_VISIBILITY_TIMEOUT_SECONDS = 30;

/** The work queues' visibility timeout for these functions. */
export function visibilityTimeoutSeconds(s: FunctionSettings): number {
  return s.visibilityTimeoutSeconds ?? LOCAL_VISIBILITY_TIMEOUT_SECONDS;
}

export interface RunningFunctions {
  readonly runners: readonly EventSourceRunner[];
  stop(): Promise<void>;
}

export function startFunctions(
  sqs: SQSClient,
  queues: JobQueues,
  deps: ListHandlerDeps,
  s: FunctionSettings,
  name: string,
  /** False when the copy invocations run elsewhere (copy threads). */
  copyHere = true,
): RunningFunctions {
  const onError = (where: string, err: unknown) => deps.logger.warn("runner error", { where, error: String(err) });
  const listDeps: ListHandlerDeps = {
    ...deps,
    manifests: deps.manifests ?? (s.s3 === undefined ? undefined : new S3ManifestSource(s.s3)),
    headConcurrency: deps.headConcurrency ?? s.headConcurrency,
  };
  // Both runners renew their batches' visibility while they work: the queues' timeout can stay short.
  const heartbeat = { visibilityTimeoutSeconds: visibilityTimeoutSeconds(s) };
  const runners = [
    new EventSourceRunner({
      sqs,
      queueUrl: queues.list.url,
      queueArn: queues.list.arn,
      handler: createListHandler(listDeps),
      // An instance per invocation slot, as on Lambda: its own logger context and cold start.
      instance: () => createListHandler(listDeps),
      functionName: `${name}-list`,
      batchSize: 1,
      concurrency: s.listConcurrency ?? 4,
      timeoutMs: s.listTimeoutMs ?? 60_000,
      waitTimeSeconds: POLL_WAIT_SECONDS,
      heartbeat,
      onError,
    }),
  ];
  if (copyHere)
    runners.push(
      new EventSourceRunner({
        sqs,
        queueUrl: queues.copy.url,
        queueArn: queues.copy.arn,
        handler: createCopyHandler(deps),
        // Each invocation slot is an instance of its own, with its own limiter, as each Lambda instance is.
        instance: () => createCopyHandler(deps),
        functionName: `${name}-copy`,
        batchSize: s.copyBatchSize ?? 10,
        concurrency: s.copyInvocations ?? 4,
        timeoutMs: s.copyTimeoutMs ?? 60_000,
        waitTimeSeconds: POLL_WAIT_SECONDS,
        heartbeat,
        onError,
      }),
    );
  for (const r of runners) r.start();
  return { runners, stop: async () => void (await Promise.all(runners.map((r) => r.stop()))) };
}
