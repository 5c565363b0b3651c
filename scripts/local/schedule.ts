/**
 * A schedule, locally: the start-job handler (lambdas/start) given the payload EventBridge Scheduler
 * sends, on a timer for a `rate(...)` expression, and on demand through `invoke` (what a test or an
 * operator uses to run the schedule's target now).
 */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Context } from "aws-lambda";
import { type StartTarget, scheduledStartPorts } from "../../lambdas/aws/jobStart.ts";
import { UsageError } from "../../lambdas/core/errors.ts";
import { SCHEDULE_NAME, type ScheduledJob, type ScheduledStartOutcome, type StartJobPayload } from "../../lambdas/core/schedule.ts";
import { createStartHandler, type StartHandlerDeps } from "../../lambdas/start/handler.ts";
import { parseJobDefinition } from "../lib/kickoffArgs.ts";

export interface LocalScheduleOptions {
  /** The job: kickoff flags (as -c scheduledJob) or already parsed. */
  readonly job: string | ScheduledJob;
  /** @default `<stack name>-scheduled-sync`, as the stack names it */
  readonly name?: string | undefined;
  /** Runs on a timer for `rate(N minutes|hours|days)`; without it, only on `invoke`. @default none */
  readonly expression?: string | undefined;
}

export interface LocalSchedule {
  readonly name: string;
  /** The input the Scheduler would send for a run scheduled at `scheduledTime`. */
  payload(scheduledTime: Date): StartJobPayload;
  /** Runs the schedule's target now, as the Scheduler does at `scheduledTime` (default: now, to the second). */
  invoke(scheduledTime?: Date): Promise<ScheduledStartOutcome>;
  stop(): void;
}

const UNIT_MS = { minute: 60_000, hour: 3_600_000, day: 86_400_000 } as const;

/** Milliseconds between runs of a rate() expression; cron() and at() are the Scheduler's, not run here. */
export function rateMs(expression: string): number {
  const m = /^rate\(\s*([1-9]\d*)\s+(minute|hour|day)s?\s*\)$/.exec(expression.trim());
  if (!m) throw new UsageError(`locally only rate(N minutes|hours|days) runs on a timer, got "${expression}"`);
  return Number(m[1]) * UNIT_MS[m[2] as keyof typeof UNIT_MS];
}

export function startLocalSchedule(
  target: StartTarget,
  options: LocalScheduleOptions,
  telemetry: { readonly logger: Logger; readonly metrics?: StartHandlerDeps["metrics"] },
): LocalSchedule {
  const name = options.name ?? `${target.deployment.stackName}-scheduled-sync`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
  if (!SCHEDULE_NAME.test(name)) throw new UsageError(`schedule name may hold letters, digits, . _ - (at most 64), got "${name}"`);
  const parsed = typeof options.job === "string" ? parseJobDefinition(options.job, "scheduled job") : options.job;
  const job: ScheduledJob = {
    source: parsed.source,
    destination: parsed.destination,
    ...(parsed.options === undefined ? {} : { options: parsed.options }),
    ...(parsed.manifest === undefined ? {} : { manifest: parsed.manifest }),
  };
  const handler = createStartHandler({ ports: scheduledStartPorts(target), ...telemetry });
  const period = options.expression === undefined ? undefined : rateMs(options.expression);
  let runs = 0;
  const payload = (scheduledTime: Date): StartJobPayload => ({
    v: 1,
    schedule: name,
    // The Scheduler's `<aws.scheduler.scheduled-time>`: seconds, UTC, no fraction.
    scheduledTime: scheduledTime.toISOString().replace(/\.\d+Z$/, "Z"),
    job,
  });
  const invoke = (scheduledTime = new Date()) => {
    runs++;
    return handler(payload(scheduledTime), context(`${target.deployment.stackName}-start`, runs));
  };
  const timer =
    period === undefined
      ? undefined
      : setInterval(() => {
          // The handler logged and counted a failed start; the timer goes on, as the Scheduler does.
          invoke().catch(() => undefined);
        }, period);
  timer?.unref();
  return { name, payload, invoke, stop: () => clearInterval(timer) };
}

function context(functionName: string, n: number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${functionName}`,
    memoryLimitInMB: "256",
    awsRequestId: `local-${functionName}-${n}`,
    logGroupName: `/aws/lambda/${functionName}`,
    logStreamName: "local/0",
    getRemainingTimeInMillis: () => 120_000,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
