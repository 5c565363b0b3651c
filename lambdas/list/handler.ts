/**
 * SQS -> lister. Each record is one key range, or one chunk of a manifest.
 * A record fails (and comes back after its visibility timeout) only when
 * listing, reading or enqueueing failed for a reason that may pass (throttling,
 * a network error). A malformed record is poison; a listing that failed for
 * a reason retrying cannot fix (AccessDenied, NoSuchBucket, a manifest that is
 * missing, changed or not a manifest) is parked in the list DLQ with its error
 * on its first failure, and lists again when redriven.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { finishListing } from "../core/deletions.ts";
import { ConfigError } from "../core/errors.ts";
import { listRange } from "../core/lister.ts";
import { ManifestError } from "../core/manifest.ts";
import { DEFAULT_HEAD_CONCURRENCY, listManifestChunk } from "../core/manifestLister.ts";
import { type JobRef, type ListQueueTask, type ListTask, listFailureBody, parseListQueueBody } from "../core/messages.ts";
import type { ManifestSource } from "../core/ports.ts";
import { classifyError, type ErrorInfo, errorInfo } from "../core/retry.ts";
import type { PipelineDeps } from "../deps.ts";
import { type Invocation, instanceLogger, type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";
import { PipelineMetric } from "../telemetry.ts";

export interface ListHandlerDeps extends PipelineDeps {
  /** Reads manifest chunks; without it a manifest job's chunks fail (and retry) with a clear error. */
  readonly manifests?: ManifestSource | undefined;
  /** HEADs in flight for manifest rows without a size. @default DEFAULT_HEAD_CONCURRENCY */
  readonly headConcurrency?: number | undefined;
}

export function createListHandler(deps: ListHandlerDeps): SqsBatchHandler {
  const { config } = deps;
  const logger = instanceLogger(deps.logger);
  return (event, context: Context) =>
    sqsBatchHandler<ListQueueTask>({
      parse: parseListQueueBody,
      describe: (t) => (t.kind === "finish" ? { jobId: t.job.id, finish: true } : work(t.task)),
      sink: deps.sink,
      queue: "list",
      redelivery: deps.redelivery,
      dlq: "listDlq",
      logger,
      metrics: deps.metrics,
      handle: async (queued, record, invocation) => {
        if (queued.kind === "finish") return finish(queued.job, deps, invocation);
        const { task } = queued;
        const { logger, failures } = invocation;
        const common = {
          sink: deps.sink,
          ledger: deps.ledger,
          halt: deps.halt,
          limits: config.limits,
          pageSize: config.listPageSize,
          remainingMs: () => context.getRemainingTimeInMillis(),
          safetyMs: config.listSafetyMs,
        };
        const at = { messageId: record.messageId, ...work(task) };
        try {
          const { manifest } = task;
          if (manifest === undefined) {
            const result = await listRange(task, {
              ...common,
              store: deps.store,
              heads: deps.multipart,
              splitParts: config.listSplitParts,
              splitAfterPages: config.listSplitAfterPages,
              splitPartPages: config.listSplitPartPages,
              splitStaggerSeconds: config.listSplitStaggerSeconds,
            });
            deps.metrics?.addMetric(PipelineMetric.KeysListed, MetricUnit.Count, result.listed);
            logger.info("range listed", { ...at, ...result });
            return;
          }
          const manifests = deps.manifests;
          if (!manifests) throw new ConfigError("this list function has no manifest reader configured");
          const result = await listManifestChunk(
            { ...task, manifest },
            {
              ...common,
              manifests,
              heads: deps.multipart,
              headConcurrency: deps.headConcurrency ?? DEFAULT_HEAD_CONCURRENCY,
              onNotice: (notice) => logger.warn("manifest notice", { ...at, ...notice }),
            },
          );
          deps.metrics?.addMetric(PipelineMetric.KeysListed, MetricUnit.Count, result.listed);
          logger.info("manifest chunk read", { ...at, ...result });
        } catch (err) {
          const error = certainFailure(err);
          if (error === undefined) throw err; // transient: the record comes back after its visibility timeout
          // Certain to fail again (no access, no bucket, an unreadable manifest): park it with the reason on
          // its first failure, where the DLQ alarm tells a person, rather than retry it for hours.
          logger.error("listing parked", { ...at, dlq: "listDlq", errorCode: error.code, errorMessage: error.message });
          deps.metrics?.addMetric(PipelineMetric.ListFailures, MetricUnit.Count, 1);
          failures.add(error.code);
          await deps.sink.send("listDlq", [{ body: listFailureBody(record.body, error) }]);
        }
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
}

/** A finish check of a sync --delete job: plans its deletions once its whole listing is recorded. */
async function finish(job: JobRef, deps: ListHandlerDeps, { logger, failures }: Invocation): Promise<void> {
  const result = await finishListing(job, { ledger: deps.ledger, sink: deps.sink, halt: deps.halt, limits: deps.config.limits });
  const at = { jobId: job.id, finish: result.status };
  if (result.status === "planned") {
    const { plan } = result;
    const what = { ...at, keys: plan.count, batches: plan.batches.length, sent: result.sent, protected: plan.protected };
    logger.info(result.decidedHere ? "deletions planned" : "deletions sent again", what);
  } else if (result.status === "refused" && result.decidedHere) {
    // Told once, by the check that decided.
    // The copies stand and nothing is deleted; a person decides (a new job with a higher --max-delete).
    logger.error("deletions refused", {
      ...at,
      errorCode: "MaxDeleteExceeded",
      errorMessage: `${result.plan.count} keys only in the destination, more than --max-delete ${result.plan.maxDelete}: deleted none`,
    });
    deps.metrics?.addMetric(PipelineMetric.DeletionsRefused, MetricUnit.Count, 1);
    failures.add("MaxDeleteExceeded");
  } else logger.info("finish check", at);
}

/** A listing task's job and where in the key space (or the manifest) it works, for log lines. */
function work(task: ListTask): Record<string, unknown> {
  const { manifest } = task;
  const where =
    manifest !== undefined
      ? { chunk: manifest.chunk, of: manifest.of, row: manifest.row }
      : { startAfter: task.range.startAfter, endAt: task.range.endAt };
  return { jobId: task.job.id, hop: task.hop, ...where };
}

/** The error of a listing that retrying cannot fix, or undefined when another try may succeed. */
function certainFailure(err: unknown): ErrorInfo | undefined {
  if (err instanceof ManifestError) return { code: "InvalidManifest", message: err.message };
  const info = errorInfo(err);
  const kind = classifyError(info);
  // A manifest (or its data file) that is not there is as final as AccessDenied.
  return kind === "permanent" || kind === "vanished" ? info : undefined;
}
