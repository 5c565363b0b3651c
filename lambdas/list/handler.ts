/**
 * SQS -> lister. Each record is one key range. A record fails (and comes
 * back after its visibility timeout) only when listing or enqueueing failed;
 * a malformed record is poison: parked in the list DLQ with its reason and
 * acknowledged, never retried.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MalformedMessageError } from "../core/errors.ts";
import { listRange } from "../core/lister.ts";
import { parseListBody, poisonBody } from "../core/messages.ts";
import type { Ledger, MessageSink, ObjectStore } from "../core/ports.ts";
import type { PipelineConfig } from "../config.ts";

export interface ListHandlerDeps {
  readonly store: ObjectStore;
  readonly sink: MessageSink;
  readonly ledger: Ledger;
  readonly config: PipelineConfig;
  readonly logger: Logger;
}

export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export function createListHandler(deps: ListHandlerDeps): SqsBatchHandler {
  const { config, logger } = deps;
  return async (event, context) => {
    const recordHandler = async (record: SQSRecord) => {
      let task;
      try {
        task = parseListBody(record.body);
      } catch (err) {
        if (!(err instanceof MalformedMessageError)) throw err;
        logger.error("poison list message", { messageId: record.messageId, reason: err.message });
        await deps.sink.send("listDlq", [{ body: poisonBody(err.message, record.body) }]);
        return;
      }
      const result = await listRange(task, {
        store: deps.store,
        sink: deps.sink,
        ledger: deps.ledger,
        limits: config.limits,
        pageSize: config.listPageSize,
        remainingMs: () => context.getRemainingTimeInMillis(),
        safetyMs: config.listSafetyMs,
      });
      logger.info("range listed", { messageId: record.messageId, jobId: task.job.id, hop: task.hop, ...result });
    };
    return processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), {
      context,
      throwOnFullBatchFailure: false,
    });
  };
}
