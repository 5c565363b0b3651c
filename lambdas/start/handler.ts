/**
 * EventBridge Scheduler -> a job start. The payload names the schedule, the run's scheduled time and
 * the job (kickoff's options, parsed at synth time). A run starts through kickoff's own code unless
 * the schedule's previous run is unfinished (neither complete nor halted): then it is skipped, said
 * in a WARN line with how to let the schedule go on, and counted. A malformed payload or a failed
 * start throws: the Scheduler invokes asynchronously, so Lambda retries it and then parks it in the
 * schedule's DLQ (a retry of a run whose job has started does nothing, unless the start was cut short
 * before all its seeds were sent: then it sends them again).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import { MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { errorInfo } from "../core/retry.ts";
import {
  parseStartJobPayload,
  type ScheduledStartOutcome,
  type ScheduledStartPorts,
  type StartJobPayload,
  startScheduledRun,
} from "../core/schedule.ts";
import { PipelineMetric } from "../telemetry.ts";

/** What the handler needs of Powertools Metrics. */
export interface MetricsCounter {
  addMetric(name: string, unit: (typeof MetricUnit)[keyof typeof MetricUnit], value: number): unknown;
  publishStoredMetrics(): unknown;
}

export interface StartHandlerDeps {
  readonly ports: ScheduledStartPorts;
  readonly logger: Logger;
  /** CloudWatch metrics (EMF) in Lambda; locally whatever counts them. */
  readonly metrics?: MetricsCounter | undefined;
}

export type StartHandler = (event: unknown, context: Context) => Promise<ScheduledStartOutcome>;

export function createStartHandler(deps: StartHandlerDeps): StartHandler {
  // One logger per handler instance, as for the SQS handlers: its cold start is its first invocation.
  const logger = deps.logger.createChild();
  const { metrics } = deps;
  return async (event, context) => {
    logger.addContext(context);
    let payload: StartJobPayload | undefined;
    try {
      payload = parseStartJobPayload(event);
      const fields = { schedule: payload.schedule, scheduledTime: payload.scheduledTime };
      const outcome = await startScheduledRun(payload, deps.ports);
      switch (outcome.kind) {
        case "started":
          logger.info("scheduled run started", { ...fields, jobId: outcome.jobId, previousJobId: outcome.previous });
          metrics?.addMetric(PipelineMetric.ScheduledRunsStarted, MetricUnit.Count, 1);
          break;
        case "resumed":
          // The first delivery wrote the spec, then failed before every seed was sent (and was counted failed).
          logger.info("scheduled run resumed: its seeds sent again", { ...fields, jobId: outcome.jobId });
          metrics?.addMetric(PipelineMetric.ScheduledRunsStarted, MetricUnit.Count, 1);
          break;
        case "duplicate":
          logger.info("scheduled run already started", { ...fields, jobId: outcome.jobId });
          break;
        case "stale":
          logger.warn("scheduled run skipped: a later run has started", { ...fields, jobId: outcome.jobId, latestJobId: outcome.latest });
          metrics?.addMetric(PipelineMetric.ScheduledRunsSkipped, MetricUnit.Count, 1);
          break;
        case "skipped":
          logger.warn("scheduled run skipped: previous run unfinished", {
            ...fields,
            jobId: outcome.jobId,
            previousJobId: outcome.previous,
            hint: `the schedule goes on once job ${outcome.previous} completes; if it is stuck, see \`npm run status -- --job ${outcome.previous}\`, then \`npm run halt -- --job ${outcome.previous}\``,
          });
          metrics?.addMetric(PipelineMetric.ScheduledRunsSkipped, MetricUnit.Count, 1);
          break;
      }
      return outcome;
    } catch (err) {
      const info = errorInfo(err);
      logger.error("scheduled run failed", {
        schedule: payload?.schedule,
        scheduledTime: payload?.scheduledTime,
        errorCode: info.code,
        errorMessage: info.message,
      });
      metrics?.addMetric(PipelineMetric.ScheduledRunsFailed, MetricUnit.Count, 1);
      throw err;
    } finally {
      metrics?.publishStoredMetrics();
    }
  };
}
