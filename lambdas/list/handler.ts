/**
 * SQS -> lister. Each record is one key range, or one chunk of a manifest.
 * A record fails (and comes back after its visibility timeout) only when
 * listing, reading or enqueueing failed; a malformed record is poison, and a
 * manifest that cannot be read as one (bad CSV, changed or missing file) is
 * certain to fail again: both are parked in the list DLQ with the reason.
 */
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { ConfigError } from "../core/errors.ts";
import { listRange } from "../core/lister.ts";
import { ManifestError } from "../core/manifest.ts";
import { DEFAULT_HEAD_CONCURRENCY, listManifestChunk } from "../core/manifestLister.ts";
import { parseListBody, poisonBody } from "../core/messages.ts";
import type { ManifestSource } from "../core/ports.ts";
import type { PipelineDeps } from "../deps.ts";
import { type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";

export interface ListHandlerDeps extends PipelineDeps {
  /** Reads manifest chunks; without it a manifest job's chunks fail (and retry) with a clear error. */
  readonly manifests?: ManifestSource | undefined;
  /** HEADs in flight for manifest rows without a size. @default DEFAULT_HEAD_CONCURRENCY */
  readonly headConcurrency?: number | undefined;
}

export function createListHandler(deps: ListHandlerDeps): SqsBatchHandler {
  const { config, logger } = deps;
  return (event, context: Context) =>
    sqsBatchHandler({
      parse: parseListBody,
      sink: deps.sink,
      dlq: "listDlq",
      logger,
      handle: async (task, record) => {
        const common = {
          sink: deps.sink,
          ledger: deps.ledger,
          halt: deps.halt,
          limits: config.limits,
          pageSize: config.listPageSize,
          remainingMs: () => context.getRemainingTimeInMillis(),
          safetyMs: config.listSafetyMs,
        };
        const { manifest } = task;
        if (manifest === undefined) {
          const result = await listRange(task, {
            ...common,
            store: deps.store,
            heads: deps.multipart,
            splitParts: config.listSplitParts,
            splitAfterPages: config.listSplitAfterPages,
            splitPartPages: config.listSplitPartPages,
          });
          deps.metrics?.addMetric("KeysListed", MetricUnit.Count, result.listed);
          logger.info("range listed", { messageId: record.messageId, jobId: task.job.id, hop: task.hop, ...result });
          return;
        }
        const manifests = deps.manifests;
        if (!manifests) throw new ConfigError("this list function has no manifest reader configured");
        const where = { messageId: record.messageId, jobId: task.job.id, chunk: manifest.chunk, of: manifest.of, row: manifest.row };
        try {
          const result = await listManifestChunk(
            { ...task, manifest },
            {
              ...common,
              manifests,
              heads: deps.multipart,
              headConcurrency: deps.headConcurrency ?? DEFAULT_HEAD_CONCURRENCY,
              onNotice: (notice) => logger.warn("manifest notice", { ...where, ...notice }),
            },
          );
          deps.metrics?.addMetric("KeysListed", MetricUnit.Count, result.listed);
          logger.info("manifest chunk read", { ...where, hop: task.hop, ...result });
        } catch (err) {
          // Certain to fail again: park it with the reason rather than retry it to the DLQ.
          if (!(err instanceof ManifestError)) throw err;
          logger.error("manifest chunk parked", { ...where, dlq: "listDlq", reason: err.message });
          await deps.sink.send("listDlq", [{ body: poisonBody(err.message, record.body) }]);
        }
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
}
