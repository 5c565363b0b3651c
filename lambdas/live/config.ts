/**
 * The live function's own settings, beside PipelineConfig: the job it follows (LIVE_JOB, JSON,
 * prefixes transport-encoded so any key survives the environment), whether it may delete
 * (LIVE_DELETE), and its queue and DLQ (for redelivery and poison).
 */
import * as v from "valibot";
import type { LiveJob } from "../core/converge.ts";
import { ConfigError } from "../core/errors.ts";
import { JobOptionsSchema } from "../core/jobOptions.ts";
import { decodeKey, encodeKey } from "../core/keyCodec.ts";
import { asciiJson } from "../core/messages.ts";

type Env = Readonly<Record<string, string | undefined>>;

const Location = v.object({ bucket: v.pipe(v.string(), v.minLength(1)), prefix: v.string() });
const LiveJobSchema = v.object({ source: Location, destination: Location, options: v.optional(JobOptionsSchema) });

export interface LiveConfig {
  readonly job: LiveJob;
  readonly allowDelete: boolean;
  readonly queueUrl: string;
  readonly dlqUrl: string;
}

/** The LIVE_JOB value of a job: ASCII JSON, prefixes encoded as in queue messages. */
export function liveJobEnv(job: LiveJob): string {
  return asciiJson({
    source: { bucket: job.source.bucket, prefix: encodeKey(job.source.prefix) },
    destination: { bucket: job.destination.bucket, prefix: encodeKey(job.destination.prefix) },
    ...(job.options === undefined ? {} : { options: job.options }),
  });
}

export function parseLiveJob(text: string): LiveJob {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ConfigError("environment variable LIVE_JOB is not JSON");
  }
  const parsed = v.safeParse(LiveJobSchema, raw);
  if (!parsed.success) throw new ConfigError(`environment variable LIVE_JOB is invalid: ${parsed.issues[0]?.message ?? "?"}`);
  const { source, destination, options } = parsed.output;
  const job: LiveJob = {
    source: { bucket: source.bucket, prefix: decodeKey(source.prefix) },
    destination: { bucket: destination.bucket, prefix: decodeKey(destination.prefix) },
  };
  return options === undefined ? job : { ...job, options };
}

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

export function liveConfigFromEnv(env: Env = process.env): LiveConfig {
  const allow = env.LIVE_DELETE ?? "false";
  if (allow !== "true" && allow !== "false")
    throw new ConfigError(`environment variable LIVE_DELETE must be true or false, got "${allow}"`);
  return {
    job: parseLiveJob(required(env, "LIVE_JOB")),
    allowDelete: allow === "true",
    queueUrl: required(env, "LIVE_QUEUE_URL"),
    dlqUrl: required(env, "LIVE_DLQ_URL"),
  };
}
