/**
 * The stack, locally: the same queues (with DLQs and redrive; a short
 * visibility timeout that a heartbeat renews, see functions.ts), a ledger
 * bucket and the two functions, on any S3/SQS endpoint. Its outputs have the
 * shape `cdk deploy --outputs-file` writes, so the operator commands work
 * against it exactly as against AWS.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import { CachedHaltSignal, HALT_CHECK_TTL_MS } from "../../lambdas/core/halt.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import type { StartHandlerDeps } from "../../lambdas/start/handler.ts";
import type { Deployment } from "../lib/deployment.ts";
import { ensureBucket } from "../lib/seed.ts";
import { type FunctionSettings, pipelineConfig, type RunningFunctions, startFunctions, visibilityTimeoutSeconds } from "./functions.ts";
import { type LiveSettings, type RunningLive, startLive } from "./live.ts";
import { createPipelineQueues, type JobQueues } from "./queues.ts";
import { type LocalSchedule, type LocalScheduleOptions, startLocalSchedule } from "./schedule.ts";

export interface LocalStackOptions extends FunctionSettings {
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  /** @default S3FanoutLocal */
  readonly stackName?: string;
  /** Buckets the outputs name as readable/writable; empty means any. */
  readonly sourceBuckets?: readonly string[];
  readonly destinationBuckets?: readonly string[];
  /** Receives before SQS moves a message to its DLQ, as on the stack; a receive whose answer was lost counts too. @default 5 */
  readonly maxReceiveCount?: number;
  /** How long a "not halted" answer is reused. @default HALT_CHECK_TTL_MS */
  readonly haltTtlMs?: number;
  readonly logLevel?: LogLevel;
  readonly wrapStore?: (store: ObjectStore) => ObjectStore;
  /** A scheduled sync: the start-job function, on a timer for a rate() expression and on demand. @default none */
  readonly schedule?: LocalScheduleOptions;
  /** What counts the start-job function's metrics (Lambda's are EMF lines). @default none */
  readonly scheduleMetrics?: StartHandlerDeps["metrics"];
  /** Live changes: the live function and its queue, following this job. @default none */
  readonly live?: LiveSettings;
}

export interface LocalStack {
  readonly deployment: Deployment;
  readonly queues: JobQueues;
  /** The schedule's target, when the stack has a schedule. */
  readonly schedule?: LocalSchedule | undefined;
  /** The live function's queue and DLQ, when the stack follows a live job. */
  readonly live?: RunningLive | undefined;
  /** The file `cdk deploy --outputs-file` would write for this stack. */
  outputs(): Record<string, Record<string, string>>;
  stop(): Promise<void>;
}

export async function startLocalStack(options: LocalStackOptions): Promise<LocalStack> {
  const stackName = options.stackName ?? "S3FanoutLocal";
  const { s3, sqs } = options;
  const queues = await createPipelineQueues(sqs, stackName, {
    visibilityTimeoutSeconds: visibilityTimeoutSeconds(options),
    maxReceiveCount: options.maxReceiveCount ?? 5,
  });
  const ledgerBucket = `${stackName.toLowerCase()}-ledger`;
  await ensureBucket(s3, ledgerBucket);
  const deployment: Deployment = {
    stackName,
    listQueueUrl: queues.list.url,
    listDlqUrl: queues.listDlq.url,
    copyQueueUrl: queues.copy.url,
    copyDlqUrl: queues.copyDlq.url,
    listFunctionName: `${stackName}-list`,
    copyFunctionName: `${stackName}-copy`,
    ledgerBucket,
    sourceBuckets: options.sourceBuckets ?? [],
    destinationBuckets: options.destinationBuckets ?? [],
  };

  const config = pipelineConfig(queues, options);
  const ledger = new S3Ledger(s3, ledgerBucket);
  const baseStore = new S3ObjectStore(s3);
  const functions: RunningFunctions = startFunctions(
    sqs,
    queues,
    {
      store: options.wrapStore ? options.wrapStore(baseStore) : baseStore,
      multipart: baseStore,
      deleter: baseStore,
      sink: new SqsMessageSink(sqs, config.queues),
      ledger,
      halt: new CachedHaltSignal((jobId) => ledger.isHaltMarked(jobId), options.haltTtlMs ?? HALT_CHECK_TTL_MS),
      config,
      logger: new Logger({ serviceName: "s3-fanout-local-stack", logLevel: options.logLevel ?? "ERROR" }),
    },
    options,
    stackName,
  );

  const live =
    options.live === undefined
      ? undefined
      : await startLive(
          sqs,
          stackName,
          options.live,
          {
            store: baseStore,
            multipart: baseStore,
            sink: new SqsMessageSink(sqs, config.queues),
            ledger,
            halt: new CachedHaltSignal((jobId) => ledger.isHaltMarked(jobId), options.haltTtlMs ?? HALT_CHECK_TTL_MS),
            config,
            logger: new Logger({ serviceName: "s3-fanout-local-stack", logLevel: options.logLevel ?? "ERROR" }),
          },
          {
            visibilityTimeoutSeconds: visibilityTimeoutSeconds(options),
            maxReceiveCount: options.maxReceiveCount ?? 5,
            timeoutMs: options.copyTimeoutMs ?? 60_000,
          },
        );
  const schedule =
    options.schedule === undefined
      ? undefined
      : startLocalSchedule({ deployment, s3, sqs, ledger }, options.schedule, {
          logger: new Logger({ serviceName: "s3-fanout-local-stack", logLevel: options.logLevel ?? "INFO" }),
          metrics: options.scheduleMetrics,
        });
  return {
    deployment: schedule ? { ...deployment, scheduleName: schedule.name, startJobFunctionName: `${stackName}-start` } : deployment,
    queues,
    outputs: () => ({
      [stackName]: {
        ListQueueUrl: deployment.listQueueUrl,
        ListDlqUrl: deployment.listDlqUrl,
        CopyQueueUrl: deployment.copyQueueUrl,
        CopyDlqUrl: deployment.copyDlqUrl,
        ListFunctionName: deployment.listFunctionName,
        CopyFunctionName: deployment.copyFunctionName,
        LedgerBucket: deployment.ledgerBucket,
        SourceBuckets: deployment.sourceBuckets.join(","),
        DestinationBuckets: deployment.destinationBuckets.join(","),
        ...(schedule ? { ScheduleName: schedule.name, StartJobFunctionName: `${stackName}-start` } : {}),
        ...(live ? { LiveQueueUrl: live.queue.url } : {}),
      },
    }),
    schedule,
    live,
    stop: async () => {
      schedule?.stop();
      await live?.stop();
      return functions.stop();
    },
  };
}
