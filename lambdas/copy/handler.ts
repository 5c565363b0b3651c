/**
 * SQS -> copier. Records are processed in parallel and share one limiter, so
 * an invocation keeps many copies in flight. A record fails only when its
 * retries, DLQ records or outcome could not be written; a malformed record
 * is poison, parked in the copy DLQ.
 */
import { type Metrics, MetricUnit } from "@aws-lambda-powertools/metrics";
import type { Context } from "aws-lambda";
import { type CopierDeps, type CopyEvent, copyTasks } from "../core/copier.ts";
import { MalformedMessageError } from "../core/errors.ts";
import { AdaptiveLimiter } from "../core/limiter.ts";
import { type CopyTask, parseCopyBody } from "../core/messages.ts";
import type { PipelineDeps } from "../deps.ts";
import { type Invocation, instanceLogger, type SqsBatchHandler, sqsBatchHandler } from "../sqsBatch.ts";
import { PipelineMetric } from "../telemetry.ts";

export interface CopyHandlerDeps extends PipelineDeps {
  /** Shared across invocations of a warm instance, so the learned limit persists. */
  readonly limiter?: AdaptiveLimiter;
  /** Waits between tries: real timers by default; the simulator passes its virtual clock's. */
  readonly sleep?: (ms: number) => Promise<void>;
  /** Backoff jitter: Math.random by default; the simulator passes a seeded one. */
  readonly random?: () => number;
}

function recordMetrics(metrics: Metrics, e: CopyEvent): void {
  if (e.kind === "settled") {
    metrics.addMetric(PipelineMetric.ObjectsCopied, MetricUnit.Count, e.copied);
    metrics.addMetric(PipelineMetric.BytesCopied, MetricUnit.Bytes, e.bytes);
    metrics.addMetric(PipelineMetric.CopyFailures, MetricUnit.Count, e.failed);
    metrics.addMetric(PipelineMetric.ObjectsVanished, MetricUnit.Count, e.vanished);
    if (e.deleted > 0) metrics.addMetric(PipelineMetric.ObjectsDeleted, MetricUnit.Count, e.deleted);
  } else if (e.kind === "retry" && e.errorClass === "throttle") {
    metrics.addMetric(PipelineMetric.CopyThrottles, MetricUnit.Count, 1);
  }
}

export function createCopyHandler(deps: CopyHandlerDeps): SqsBatchHandler {
  const limiter = deps.limiter ?? new AdaptiveLimiter({ max: deps.config.copyConcurrency });
  const logger = instanceLogger(deps.logger);
  return (event, context: Context) => {
    // Every record's keys are copied together, under one limiter, and their outcomes recorded in one
    // ledger write; each record then stands or falls on its own result.
    const tasks = new Map<string, CopyTask>();
    for (const record of event.Records) {
      const task = tryParse(record.body);
      if (task !== undefined) tasks.set(record.messageId, task);
    }
    const index = new Map([...tasks.keys()].map((id, i) => [id, i]));
    let run: Promise<(Error | undefined)[]> | undefined;
    return sqsBatchHandler<CopyTask>({
      parse: parseCopyBody,
      describe: (task) => ({ jobId: task.job.id, batchId: task.batchId, keys: task.items.length, attempt: task.attempt + 1 }),
      sink: deps.sink,
      queue: "copy",
      redelivery: deps.redelivery,
      dlq: "copyDlq",
      logger,
      metrics: deps.metrics,
      handle: async (_task, record, invocation) => {
        run ??= copyTasks([...tasks.values()], copierDeps(deps, limiter, context, invocation));
        const error = (await run)[index.get(record.messageId) ?? -1];
        if (error) throw error;
      },
    })(event, context).finally(() => deps.metrics?.publishStoredMetrics());
  };
}

/** The task of a body, or undefined for poison (the batch handler parks it). */
function tryParse(body: string): CopyTask | undefined {
  try {
    return parseCopyBody(body);
  } catch (err) {
    if (err instanceof MalformedMessageError) return undefined;
    throw err;
  }
}

/** The copier's ports and policy for one invocation: its deadline, its logger and failure tally, the copy metrics. The live handler copies through it too. */
export function copierDeps(deps: CopyHandlerDeps, limiter: AdaptiveLimiter, context: Context, invocation: Invocation): CopierDeps {
  const { config } = deps;
  const { logger, failures } = invocation;
  return {
    store: deps.store,
    sink: deps.sink,
    ledger: deps.ledger,
    halt: deps.halt,
    multipart: deps.multipart,
    deleter: deps.deleter,
    partConcurrency: config.partConcurrency,
    limiter,
    policy: config.copyPolicy,
    limits: config.limits,
    remainingMs: () => context.getRemainingTimeInMillis(),
    safetyMs: config.copySafetyMs,
    ...(deps.sleep === undefined ? {} : { sleep: deps.sleep }),
    ...(deps.random === undefined ? {} : { random: deps.random }),
    onEvent: (e) => {
      if (deps.metrics) recordMetrics(deps.metrics, e);
      if (e.kind === "settled") return;
      const fields = {
        jobId: e.jobId,
        batchId: e.batchId,
        key: e.key,
        ...(e.versionId === undefined ? {} : { versionId: e.versionId }),
        errorCode: e.error.code,
        errorMessage: e.error.message,
        errorClass: e.errorClass,
        attempt: e.attempt,
      };
      if (e.kind === "retry") {
        logger.warn("copy retry", { ...fields, try: e.tryNo });
        return;
      }
      if (e.kind === "fault") {
        // A defect or a broken port, contained to this key: its retry or DLQ record follows.
        logger.error("copy fault", { ...fields, ...(e.stack === undefined ? {} : { stack: e.stack }) });
        return;
      }
      // The key's record is in the copy DLQ now; this line and FailuresByCode are how a person hears of it.
      logger.error("copy failed", { ...fields, dlq: "copyDlq" });
      failures.add(e.error.code);
    },
  };
}
