/**
 * SQS -> lister. Each record is one key range. A record fails (and comes
 * back after its visibility timeout) only when listing or enqueueing failed;
 * a malformed record is poison, parked in the list DLQ.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { listRange } from "../core/lister.ts";
import { parseListBody } from "../core/messages.ts";
import type { PipelineDeps } from "../deps.ts";
import { type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";

export type ListHandlerDeps = PipelineDeps;

export function createListHandler(deps: ListHandlerDeps): SqsBatchHandler {
  const { config, logger } = deps;
  return (event, context: Context) =>
    sqsBatchHandler({
      parse: parseListBody,
      sink: deps.sink,
      dlq: "listDlq",
      logger,
      handle: async (task, record) => {
        const result = await listRange(task, {
          store: deps.store,
          sink: deps.sink,
          ledger: deps.ledger,
          halt: deps.halt,
          limits: config.limits,
          pageSize: config.listPageSize,
          remainingMs: () => context.getRemainingTimeInMillis(),
          safetyMs: config.listSafetyMs,
          splitParts: config.listSplitParts,
        });
        deps.metrics?.addMetric("KeysListed", MetricUnit.Count, result.listed);
        logger.info("range listed", { messageId: record.messageId, jobId: task.job.id, hop: task.hop, ...result });
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
}
