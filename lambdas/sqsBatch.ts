/**
 * SQS plumbing both handlers share: Powertools partial batch responses, and
 * poison handling. Only records that failed come back to the queue; a body
 * that cannot be parsed is certain to fail again, so it is parked in the
 * DLQ with the reason on its first receive instead of being retried.
 */
import { BatchProcessor, EventType, processPartialResponse } from "@aws-lambda-powertools/batch";
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context, SQSBatchResponse, SQSEvent, SQSRecord } from "aws-lambda";
import { MalformedMessageError } from "./core/errors.ts";
import { poisonBody } from "./core/messages.ts";
import type { MessageSink, QueueName } from "./core/ports.ts";

export type SqsBatchHandler = (event: SQSEvent, context: Context) => Promise<SQSBatchResponse>;

export interface RecordHandlerOptions<T> {
  readonly parse: (body: string) => T;
  readonly handle: (task: T, record: SQSRecord) => Promise<void>;
  readonly sink: MessageSink;
  readonly dlq: QueueName;
  readonly logger: Logger;
}

export function sqsBatchHandler<T>(options: RecordHandlerOptions<T>): SqsBatchHandler {
  const recordHandler = async (record: SQSRecord): Promise<void> => {
    let task: T;
    try {
      task = options.parse(record.body);
    } catch (err) {
      if (!(err instanceof MalformedMessageError)) throw err;
      options.logger.error("poison message parked", { messageId: record.messageId, dlq: options.dlq, reason: err.message });
      await options.sink.send(options.dlq, [{ body: poisonBody(err.message, record.body) }]);
      return;
    }
    await options.handle(task, record);
  };
  // A processor per invocation: the local runtime runs invocations concurrently in one process.
  return (event, context) =>
    processPartialResponse(event, recordHandler, new BatchProcessor(EventType.SQS), { context, throwOnFullBatchFailure: false });
}
