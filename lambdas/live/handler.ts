/**
 * SQS (EventBridge S3 events) -> converge. All records of an invocation are
 * converged together: each named key once, from HEADs of both buckets, copies
 * through the copier, one ledger write. A record fails (and comes back after a
 * backoff) when its key's HEAD, delete or outcome could not be done; a body
 * that is not an S3 event is poison, parked in the live DLQ.
 */
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { copierDeps } from "../copy/handler.ts";
import { type ConvergeDeps, type ConvergeResult, convergeKeys, type LiveJob, type SpecStore } from "../core/converge.ts";
import { MalformedMessageError } from "../core/errors.ts";
import { AdaptiveLimiter } from "../core/limiter.ts";
import type { MessageSink, ObjectDeleter, ObjectHeads, Redelivery } from "../core/ports.ts";
import { parseS3Event, type S3ChangeHint } from "../core/s3Events.ts";
import type { PipelineDeps } from "../deps.ts";
import { type Invocation, instanceLogger, type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";
import { PipelineMetric } from "../telemetry.ts";

export interface LiveHandlerDeps extends PipelineDeps {
  readonly job: LiveJob;
  /** Whether a key the source lacks is deleted from the destination (-c liveDelete=true). */
  readonly allowDelete: boolean;
  readonly sourceHeads: ObjectHeads;
  /** HEADs the destination (a client of the destination's region). */
  readonly destinationHeads: ObjectHeads;
  readonly deleter: ObjectDeleter;
  readonly specs: SpecStore;
  /**
   * The live queue and its DLQ, under the names "copy" and "copyDlq" (SqsMessageSink over the live
   * pair): where poison is parked and failed records are redelivered. `sink` stays the pipeline's,
   * for the copier's retries and failure records.
   */
  readonly liveQueues: MessageSink & Partial<Redelivery>;
  /** @default the clock */
  readonly now?: () => Date;
  /** Shared across invocations of a warm instance, so the learned limit persists. */
  readonly limiter?: AdaptiveLimiter;
}

function recordLiveMetrics(metrics: Metrics, events: number, r: ConvergeResult): void {
  metrics.addMetric(PipelineMetric.LiveEvents, MetricUnit.Count, events);
  metrics.addMetric(PipelineMetric.LiveCopied, MetricUnit.Count, r.copied.length);
  metrics.addMetric(PipelineMetric.LiveDeleted, MetricUnit.Count, r.deleted.length);
  metrics.addMetric(PipelineMetric.LiveUnchanged, MetricUnit.Count, r.unchanged.length);
  metrics.addMetric(PipelineMetric.LiveIgnored, MetricUnit.Count, r.ignored.size);
}

export function createLiveHandler(deps: LiveHandlerDeps): SqsBatchHandler {
  const limiter = deps.limiter ?? new AdaptiveLimiter({ max: deps.config.copyConcurrency });
  const logger = instanceLogger(deps.logger);
  const specsSeen = new Set<string>();
  return (event, context: Context) => {
    const hints = new Map<string, S3ChangeHint>();
    for (const record of event.Records) {
      const hint = tryParse(record.body);
      if (hint !== undefined) hints.set(record.messageId, hint);
    }
    const parent = [...hints.keys()].sort().join(",");
    let run: Promise<ConvergeResult> | undefined;
    const converge = (invocation: Invocation) => {
      run ??= convergeKeys([...hints.values()], parent, convergeDeps(deps, limiter, specsSeen, context, invocation)).then((r) => {
        report(r, hints.size, invocation);
        return r;
      });
      return run;
    };
    const report = (r: ConvergeResult, events: number, { logger }: Invocation) => {
      if (deps.metrics) recordLiveMetrics(deps.metrics, events, r);
      for (const key of r.copied) logger.info("live copy", { jobId: r.jobId, batchId: r.batchId, key });
      for (const key of r.deleted) logger.info("live delete", { jobId: r.jobId, batchId: r.batchId, key });
      for (const [key, reason] of r.ignored) logger.debug("live ignored", { jobId: r.jobId, key, reason });
    };
    return sqsBatchHandler<S3ChangeHint>({
      parse: parseS3Event,
      describe: (hint) => ({ bucket: hint.bucket, key: hint.key, detailType: hint.detailType }),
      sink: deps.liveQueues,
      queue: "copy",
      redelivery: deps.liveQueues.retryAfter === undefined ? undefined : (deps.liveQueues as Redelivery),
      dlq: "copyDlq",
      logger,
      metrics: deps.metrics,
      handle: async (hint, _record, invocation) => {
        const error = (await converge(invocation)).unsettled.get(hint.key);
        if (error) throw error;
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
  };
}

/** The hint of a body, or undefined for poison (the batch handler parks it). */
function tryParse(body: string): S3ChangeHint | undefined {
  try {
    return parseS3Event(body);
  } catch (err) {
    if (err instanceof MalformedMessageError) return undefined;
    throw err;
  }
}

function convergeDeps(
  deps: LiveHandlerDeps,
  limiter: AdaptiveLimiter,
  specsSeen: Set<string>,
  context: Context,
  invocation: Invocation,
): ConvergeDeps {
  const copier = copierDeps(deps, limiter, context, invocation);
  return {
    job: deps.job,
    allowDelete: deps.allowDelete,
    sourceHeads: deps.sourceHeads,
    destinationHeads: deps.destinationHeads,
    deleter: deps.deleter,
    specs: deps.specs,
    copier,
    now: deps.now ?? (() => new Date()),
    specsSeen,
  };
}
