/**
 * SQS -> copier. Records are processed in parallel and share one limiter, so
 * an invocation keeps many copies in flight. A record fails only when its
 * retries, DLQ records or outcome could not be written; a malformed record
 * is poison: parked in the copy DLQ with its reason and acknowledged.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { copyTasks } from "../core/copier.ts";
import { MalformedMessageError } from "../core/errors.ts";
import { AdaptiveLimiter } from "../core/limiter.ts";
import { parseCopyBody, poisonBody } from "../core/messages.ts";
import type { Ledger, MessageSink, ObjectStore } from "../core/ports.ts";
import type { PipelineConfig } from "../config.ts";

export interface CopyHandlerDeps {
  readonly store: ObjectStore;
  readonly sink: MessageSink;
  readonly ledger: Ledger;
  readonly config: PipelineConfig;
  readonly logger: Logger;
  /** Shared across invocations of a warm instance, so the learned limit persists. */
  readonly limiter?: AdaptiveLimiter;
}

export function createCopyHandler(deps: CopyHandlerDeps): (event: SQSEvent, context: Context) => Promise<SQSBatchResponse> {
  const { config, logger } = deps;
  const limiter = deps.limiter ?? new AdaptiveLimiter({ max: config.copyConcurrency });
  return async (event, context) => {
    const recordHandler = async (record: SQSRecord) => {
      let task;
      try {
        task = parseCopyBody(record.body);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        logger.error("poison copy message", { messageId: record.messageId, reason: err.message });
        await deps.sink.send("copyDlq", [{ body: poisonBody(err.message, record.body) }]);
        return;
      }
      const [error] = await copyTasks([task], {
        store: deps.store,
        sink: deps.sink,
        ledger: deps.ledger,
        limiter,
        policy: config.copyPolicy,
        limits: config.limits,
        remainingMs: () => context.getRemainingTimeInMillis(),
        safetyMs: config.copySafetyMs,
        onEvent: (e) =>
          logger.warn(e.kind === "retry" ? "copy retry" : "copy failed", {
            messageId: record.messageId,
            jobId: task.job.id,
            batchId: task.batchId,
            key: e.key,
            errorClass: e.errorClass,
            error: e.error,
          }),
      });
      if (error) throw error;
    };
    return processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
  };
}
