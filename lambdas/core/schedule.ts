/**
 * Scheduled runs of one job definition: what the Scheduler sends, each run's job id, and the rule
 * that a run never overlaps an unfinished one. No AWS here: the start-job handler gives the ports.
 *
 * A run's job id comes from the schedule's name and the run's scheduled time, so a delivery retried
 * by the Scheduler or by Lambda's async retries finds that job already started and does nothing.
 * The index entry is the run's "seeded" mark: it is written only once the seed messages are sent,
 * so a retry of a start cut short between the spec and the last seed sends the seeds again.
 * Ids begin with the time stamp, so the ledger's index of runs (`schedules/<name>/runs/<jobId>.json`)
 * lists them in the order they were scheduled.
 */
import { createHash } from "node:crypto";
import * as v from "valibot";
import { MalformedMessageError } from "./errors.ts";
import { JobOptionsSchema } from "./jobOptions.ts";

/** Scheduler's schedule names: up to 64 letters, digits, hyphens, underscores and dots. */
export const SCHEDULE_NAME = /^[A-Za-z0-9._-]{1,64}$/;

const Location = v.object({ bucket: v.pipe(v.string(), v.minLength(1)), prefix: v.string() });

/** The job a schedule starts, as kickoff's option parser read it at synth time. */
export const ScheduledJobSchema = v.object({
  source: Location,
  destination: Location,
  options: v.optional(JobOptionsSchema),
  manifest: v.optional(
    v.object({
      bucket: v.pipe(v.string(), v.minLength(1)),
      key: v.pipe(v.string(), v.minLength(1)),
      chunkBytes: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1))),
    }),
  ),
});

export type ScheduledJob = v.InferOutput<typeof ScheduledJobSchema>;

/**
 * The input the schedule sends its target: the schedule's name, the run's scheduled time (the
 * Scheduler fills in `<aws.scheduler.scheduled-time>`, e.g. 2026-12-03T06:00:00Z) and the job.
 */
export const StartJobPayloadSchema = v.object({
  v: v.literal(1),
  schedule: v.pipe(v.string(), v.regex(SCHEDULE_NAME)),
  scheduledTime: v.pipe(
    v.string(),
    v.check((t) => !Number.isNaN(Date.parse(t)), "scheduledTime is not a time"),
  ),
  job: ScheduledJobSchema,
});

export type StartJobPayload = v.InferOutput<typeof StartJobPayloadSchema>;

/** The Scheduler's context attribute for a run's scheduled time, substituted in the target input. */
export const SCHEDULED_TIME_ATTRIBUTE = "<aws.scheduler.scheduled-time>";

export function parseStartJobPayload(event: unknown): StartJobPayload {
  const raw = typeof event === "string" ? safeJson(event) : event;
  const result = v.safeParse(StartJobPayloadSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".");
    throw new MalformedMessageError(`start-job payload is invalid: ${path ? `${path}: ` : ""}${issue?.message ?? "unknown"}`);
  }
  return result.output;
}

function safeJson(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    throw new MalformedMessageError("start-job payload is not JSON");
  }
}

/**
 * `YYYYMMDD-HHMMSS-s<8 chars of the schedule name's hash>`: time-sortable like newJobId, the same for
 * every delivery of one run, and apart for two schedules on one ledger.
 */
export function scheduledJobId(schedule: string, scheduledTime: string | Date): string {
  const time = typeof scheduledTime === "string" ? new Date(scheduledTime) : scheduledTime;
  const stamp = time.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  const tag = createHash("sha256").update(schedule).digest("hex").slice(0, 8);
  return `${stamp}-s${tag}`;
}

/** A run in the ledger's index of a schedule's runs. */
export interface ScheduledRun {
  readonly v: 1;
  readonly jobId: string;
  readonly schedule: string;
  readonly scheduledTime: string;
  readonly startedAt: string;
}

/** Where a run's job stands: complete or halted is finished; missing never started. */
export type RunState = "complete" | "halted" | "unfinished" | "missing";

/** What the start of a scheduled run needs; the start-job handler supplies them. */
export interface ScheduledStartPorts {
  /** Job ids of the schedule's runs in the index, any order. */
  listRuns(schedule: string): Promise<readonly string[]>;
  recordRun(run: ScheduledRun): Promise<void>;
  /** Whether the job's spec is in the ledger: the run has started. */
  jobExists(jobId: string): Promise<boolean>;
  runState(jobId: string): Promise<RunState>;
  /** Starts the job (kickoff's own code) under this id. */
  start(jobId: string, job: ScheduledJob): Promise<void>;
  /** Sends again the seed messages of a job whose spec is written (listing is idempotent: twice is harmless). */
  reseed(jobId: string, job: ScheduledJob): Promise<void>;
  now(): Date;
}

export type ScheduledStartOutcome =
  | { readonly kind: "started"; readonly jobId: string; readonly previous?: string | undefined }
  /** A retried delivery of a run whose start was cut short after its spec: its seeds sent again. */
  | { readonly kind: "resumed"; readonly jobId: string }
  /** A retried delivery of a run that has started and is indexed: nothing to do. */
  | { readonly kind: "duplicate"; readonly jobId: string }
  /** The previous run is neither complete nor halted. */
  | { readonly kind: "skipped"; readonly jobId: string; readonly previous: string }
  /** A late delivery of a run older than one that has started already. */
  | { readonly kind: "stale"; readonly jobId: string; readonly latest: string };

/**
 * Starts one scheduled run unless the schedule's latest started run is unfinished. The index entry
 * is written after the job's seeds are sent; a delivery that finds the spec but no entry re-sends
 * the seeds (the start was cut short, e.g. SQS failed on a later batch), then writes the entry.
 */
export async function startScheduledRun(payload: StartJobPayload, ports: ScheduledStartPorts): Promise<ScheduledStartOutcome> {
  const jobId = scheduledJobId(payload.schedule, payload.scheduledTime);
  const run: ScheduledRun = {
    v: 1,
    jobId,
    schedule: payload.schedule,
    scheduledTime: new Date(payload.scheduledTime).toISOString(),
    startedAt: ports.now().toISOString(),
  };
  const runs = await ports.listRuns(payload.schedule);
  const others = runs.filter((id) => id !== jobId).sort();
  const latest = others.at(-1);
  if (await ports.jobExists(jobId)) {
    if (runs.includes(jobId)) return { kind: "duplicate", jobId };
    // Its first delivery found the previous run finished; a later run that started since must not overlap it.
    if (latest !== undefined && latest > jobId) return { kind: "stale", jobId, latest };
    await ports.reseed(jobId, payload.job);
    await ports.recordRun(run);
    return { kind: "resumed", jobId };
  }
  if (latest !== undefined && latest > jobId) return { kind: "stale", jobId, latest };
  if (latest !== undefined) {
    const state = await ports.runState(latest);
    if (state === "unfinished") return { kind: "skipped", jobId, previous: latest };
  }
  await ports.start(jobId, payload.job);
  await ports.recordRun(run);
  return { kind: "started", jobId, previous: latest };
}
