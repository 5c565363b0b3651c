/**
 * SQS plumbing both handlers share: Powertools partial batch responses,
 * poison handling, and the log line and metrics of every failed record. Only
 * records that failed come back to the queue; a body that cannot be parsed
 * is certain to fail again, so it is parked in the DLQ with the reason on its
 * first receive instead of being retried.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MalformedMessageError } from "./core/errors.ts";
import { poisonBody } from "./core/messages.ts";
import type { MessageSink, QueueName, Redelivery } from "./core/ports.ts";
import { errorInfo, recordRetrySeconds } from "./core/retry.ts";
import { FailureTally, PipelineMetric } from "./telemetry.ts";

export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

/** What one invocation's record handlers share. */
export interface Invocation {
  /** The handler instance's logger, carrying this invocation's Lambda context (request id, function, cold start). */
  readonly logger: Logger;
  /** Failures of this invocation by error code, published when it ends. */
  readonly failures: FailureTally;
}

export interface RecordHandlerOptions<T> {
  readonly parse: (body: string) => T;
  readonly handle: (task: T, record: SQSRecord, invocation: Invocation) => Promise<void>;
  /** Names a task's work (job, batch, range) in the log line of a failed record. */
  readonly describe: (task: T) => Record<string, unknown>;
  readonly sink: MessageSink;
  /** The queue the records came from, for redelivery. */
  readonly queue: QueueName;
  readonly dlq: QueueName;
  /** Brings failed records back after recordRetrySeconds; without it they wait out the visibility timeout. */
  readonly redelivery?: Redelivery | undefined;
  /** The handler instance's logger (instanceLogger): it carries one invocation's context at a time. */
  readonly logger: Logger;
  readonly metrics?: Metrics | undefined;
}

/**
 * A logger of its own for one handler instance, as each Lambda execution environment has one:
 * its cold start is its first invocation, and concurrent local instances keep their contexts apart.
 */
export function instanceLogger(logger: Logger): Logger {
  return logger.createChild();
}

export function sqsBatchHandler<T>(options: RecordHandlerOptions<T>): SqsBatchHandler {
  const { metrics } = options;
  return async (event, context) => {
    // As injectLambdaContext does: request id, function and cold start (true on this instance's first
    // invocation only) on every line. The logger is the handler instance's own (instanceLogger), so the
    // local runtime's concurrent instances never share a context.
    const { logger } = options;
    logger.addContext(context);
    const invocation: Invocation = { logger, failures: new FailureTally() };
    /** The record comes back after a backoff; say so now, not when it reaches the DLQ. */
    const recordFailed = (record: SQSRecord, err: unknown, work: Record<string, unknown>): never => {
      const info = errorInfo(err);
      logger.error("record failed", {
        messageId: record.messageId,
        receiveCount: Number(record.attributes.ApproximateReceiveCount),
        ...work,
        errorCode: info.code,
        errorMessage: info.message,
      });
      metrics?.addMetric(PipelineMetric.RecordFailures, MetricUnit.Count, 1);
      invocation.failures.add(info.code);
      throw err;
    };
    const recordHandler = async (record: SQSRecord): Promise<void> => {
      let task: T;
      try {
        task = options.parse(record.body);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        logger.error("poison message parked", { messageId: record.messageId, dlq: options.dlq, reason: err.message });
        invocation.failures.add("MalformedMessage");
        metrics?.addMetric(PipelineMetric.PoisonMessages, MetricUnit.Count, 1);
        await options.sink
          .send(options.dlq, [{ body: poisonBody(err.message, record.body) }])
          .catch((sendErr: unknown) => recordFailed(record, sendErr, { poison: true }));
        return;
      }
      try {
        await options.handle(task, record, invocation);
      } catch (err) {
        recordFailed(record, err, options.describe(task));
      }
    };
    try {
      // A processor per invocation: the local runtime runs invocations concurrently in one process.
      const response = await processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
        context,
        throwOnFullBatchFailure: false,
      });
      await redeliverSoon(options, event, response, logger);
      return response;
    } finally {
      invocation.failures.publish(metrics);
    }
  };
}

/**
 * Failed records come back after a backoff by receive count (1, 4, 15, 15 min), not at the end of the
 * visibility timeout (6 x the function timeout). Best effort: if SQS refuses, they wait that out.
 */
async function redeliverSoon<T>(
  options: RecordHandlerOptions<T>,
  event: SQSEvent,
  response: SQSBatchResponse,
  logger: Logger,
): Promise<void> {
  const { redelivery } = options;
  if (redelivery === undefined || response.batchItemFailures.length === 0) return;
  const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  const messages = event.Records.filter((r) => failed.has(r.messageId)).map((r) => ({
    receiptHandle: r.receiptHandle,
    seconds: recordRetrySeconds(Number(r.attributes.ApproximateReceiveCount)),
  }));
  try {
    await redelivery.retryAfter(options.queue, messages);
  } catch (err) {
    const info = errorInfo(err);
    logger.warn("failed records wait out the visibility timeout", {
      records: messages.length,
      errorCode: info.code,
      errorMessage: info.message,
    });
  }
}
