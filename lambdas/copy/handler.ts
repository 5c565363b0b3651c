/**
 * SQS -> copier. Records are processed in parallel and share one limiter, so
 * an invocation keeps many copies in flight. A record fails only when its
 * retries, DLQ records or outcome could not be written; a malformed record
 * is poison, parked in the copy DLQ.
 */
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { type CopyEvent, copyTasks } from "../core/copier.ts";
import { AdaptiveLimiter } from "../core/limiter.ts";
import { parseCopyBody } from "../core/messages.ts";
import type { PipelineDeps } from "../deps.ts";
import { type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";

export interface CopyHandlerDeps extends PipelineDeps {
  /** Shared across invocations of a warm instance, so the learned limit persists. */
  readonly limiter?: AdaptiveLimiter;
}

function recordMetrics(metrics: Metrics, e: CopyEvent): void {
  if (e.kind === "settled") {
    metrics.addMetric("ObjectsCopied", MetricUnit.Count, e.copied);
    metrics.addMetric("BytesCopied", MetricUnit.Bytes, e.bytes);
    metrics.addMetric("CopyFailures", MetricUnit.Count, e.failed);
    metrics.addMetric("ObjectsVanished", MetricUnit.Count, e.vanished);
  } else if (e.kind === "retry" && e.errorClass === "throttle") {
    metrics.addMetric("CopyThrottles", MetricUnit.Count, 1);
  }
}

export function createCopyHandler(deps: CopyHandlerDeps): SqsBatchHandler {
  const { config, logger } = deps;
  const limiter = deps.limiter ?? new AdaptiveLimiter({ max: config.copyConcurrency });
  return (event, context: Context) =>
    sqsBatchHandler({
      parse: parseCopyBody,
      sink: deps.sink,
      dlq: "copyDlq",
      logger,
      handle: async (task, record) => {
        const [error] = await copyTasks([task], {
          store: deps.store,
          sink: deps.sink,
          ledger: deps.ledger,
          halt: deps.halt,
          multipart: deps.multipart,
          partConcurrency: config.partConcurrency,
          limiter,
          policy: config.copyPolicy,
          limits: config.limits,
          remainingMs: () => context.getRemainingTimeInMillis(),
          safetyMs: config.copySafetyMs,
          onEvent: (e) => {
            if (deps.metrics) recordMetrics(deps.metrics, e);
            if (e.kind === "settled") return;
            logger.warn(e.kind === "retry" ? "copy retry" : "copy failed", {
              messageId: record.messageId,
              jobId: task.job.id,
              batchId: task.batchId,
              key: e.key,
              errorClass: e.errorClass,
              error: e.error,
            });
          },
        });
        if (error) throw error;
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
}
