/**
 * Metric names shared by the handlers (which emit them as EMF through
 * Powertools Metrics) and the stack (dashboard, alarms). Lambda code only:
 * lib/telemetry.ts re-exports it for the stack.
 */
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";

/** POWERTOOLS_SERVICE_NAME of both functions, and the `service` dimension of the custom metrics. */
export const SERVICE_NAME = "s3-fanout";

/** POWERTOOLS_METRICS_NAMESPACE of both functions. */
export const METRICS_NAMESPACE = "S3Fanout";

/** Custom metrics the handlers emit (all counts or bytes, summed per period). */
export const PipelineMetric = {
  ObjectsCopied: "ObjectsCopied",
  BytesCopied: "BytesCopied",
  /** Keys that failed for good: each is a record in the copy DLQ. */
  CopyFailures: "CopyFailures",
  CopyThrottles: "CopyThrottles",
  ObjectsVanished: "ObjectsVanished",
  /** Destination objects a sync with --delete deleted (only the destination had them). */
  ObjectsDeleted: "ObjectsDeleted",
  /** Sync jobs whose deletions were refused: more than --max-delete. */
  DeletionsRefused: "DeletionsRefused",
  KeysListed: "KeysListed",
  /** Listings parked in the list DLQ on a failure retrying cannot fix. */
  ListFailures: "ListFailures",
  /** Unparseable messages parked in a DLQ. */
  PoisonMessages: "PoisonMessages",
  /** SQS records a handler returned as failed (they come back after a backoff). */
  RecordFailures: "RecordFailures",
  /** Every failure above, with an `errorCode` dimension beside `service`. */
  FailuresByCode: "FailuresByCode",
  /** Live changes: S3 events received, and what converging each named key did. */
  LiveEvents: "LiveEvents",
  LiveCopied: "LiveCopied",
  LiveDeleted: "LiveDeleted",
  LiveUnchanged: "LiveUnchanged",
  /** Keys outside the live job (prefix, --include/--exclude), or deletions it does not allow. */
  LiveIgnored: "LiveIgnored",
  /** Scheduled runs that started a job (lambdas/start). */
  ScheduledRunsStarted: "ScheduledRunsStarted",
  /** Scheduled runs not started because the previous run is neither complete nor halted. */
  ScheduledRunsSkipped: "ScheduledRunsSkipped",
  /** Scheduled runs whose start failed (preflight, ledger, queue): the invocation fails and ends in the schedule's DLQ. */
  ScheduledRunsFailed: "ScheduledRunsFailed",
} as const;

export type PipelineMetricName = (typeof PipelineMetric)[keyof typeof PipelineMetric];

/** The dimension FailuresByCode carries beside `service`. */
export const ERROR_CODE_DIMENSION = "errorCode";

/**
 * Failures of one invocation counted by error code, published as one EMF
 * line per code at the end, not one per key (a batch can fail 1,000 keys).
 */
export class FailureTally {
  private readonly counts = new Map<string, number>();

  add(code: string, n = 1): void {
    this.counts.set(code, (this.counts.get(code) ?? 0) + n);
  }

  publish(metrics: Metrics | undefined): void {
    if (metrics === undefined) return;
    for (const [code, n] of this.counts) {
      // Codes are S3's and SQS's own names: a small, bounded set of dimension values.
      const single = metrics.singleMetric();
      single.addDimension(ERROR_CODE_DIMENSION, code.slice(0, 64));
      single.addMetric(PipelineMetric.FailuresByCode, MetricUnit.Count, n);
    }
    this.counts.clear();
  }
}
