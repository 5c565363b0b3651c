/**
 * Typed configuration, read once at cold start. A missing or malformed
 * variable throws ConfigError naming it.
 */
import { type BatchLimits, DEFAULT_BATCH_LIMITS } from "./core/batching.ts";
import { type CopyPolicy, DEFAULT_COPY_POLICY } from "./core/copier.ts";
import { ConfigError } from "./core/errors.ts";
import type { QueueName } from "./core/ports.ts";
import { SQS_MAX_DELAY_SECONDS } from "./core/retry.ts";

type Env = Readonly<Record<string, string | undefined>>;

function required(env: Env, name: string): string {
  const value = env[name];
  if (value === undefined || value === "") throw new ConfigError(`environment variable ${name} is required`);
  return value;
}

function integer(env: Env, name: string, fallback: number, min = 0): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < min)
    throw new ConfigError(`environment variable ${name} must be an integer >= ${min}, got "${raw}"`);
  return value;
}

export interface PipelineConfig {
  readonly queues: Readonly<Record<QueueName, string>>;
  readonly limits: BatchLimits;
  readonly listPageSize: number;
  /** The list handler continues elsewhere when fewer ms than this remain. */
  readonly listSafetyMs: number;
  /** A range whose page comes back full splits into up to this many more (0: never). */
  readonly listSplitParts: number;
  /** A fresh range splits once it has listed this many full pages: it has proved large. @default 3 */
  readonly listSplitAfterPages?: number | undefined;
  /** Pages a split-off range is expected to hold, at least. @default 20 */
  readonly listSplitPartPages?: number | undefined;
  /** The i-th range split off becomes receivable after i x this many seconds (LIST_SPLIT_STAGGER_SECONDS, 3; local runs 0). */
  readonly listSplitStaggerSeconds?: number | undefined;
  readonly copyConcurrency: number;
  readonly copySafetyMs: number;
  /** Parts in flight per object copied by parts. */
  readonly partConcurrency: number;
  readonly copyPolicy: CopyPolicy;
}

export function configFromEnv(env: Env = process.env): PipelineConfig {
  const config = readConfig(env);
  const lastDelay = (config.listSplitStaggerSeconds ?? 0) * config.listSplitParts;
  // The last split-off range must not wait longer than SQS delays a message.
  if (lastDelay > SQS_MAX_DELAY_SECONDS)
    throw new ConfigError(
      `LIST_SPLIT_STAGGER_SECONDS x LIST_SPLIT_PARTS must be at most ${SQS_MAX_DELAY_SECONDS} (SQS's longest delay), got ${lastDelay}`,
    );
  return config;
}

function readConfig(env: Env): PipelineConfig {
  return {
    queues: {
      list: required(env, "LIST_QUEUE_URL"),
      copy: required(env, "COPY_QUEUE_URL"),
      listDlq: required(env, "LIST_DLQ_URL"),
      copyDlq: required(env, "COPY_DLQ_URL"),
    },
    limits: {
      maxKeys: integer(env, "BATCH_MAX_KEYS", DEFAULT_BATCH_LIMITS.maxKeys, 1),
      maxBytes: integer(env, "BATCH_MAX_BYTES", DEFAULT_BATCH_LIMITS.maxBytes, 8 * 1024),
    },
    listPageSize: integer(env, "LIST_PAGE_SIZE", 1000, 1),
    listSafetyMs: integer(env, "LIST_SAFETY_MS", 60_000),
    listSplitParts: integer(env, "LIST_SPLIT_PARTS", 8),
    listSplitAfterPages: integer(env, "LIST_SPLIT_AFTER_PAGES", 3, 1),
    listSplitPartPages: integer(env, "LIST_SPLIT_PART_PAGES", 20, 1),
    listSplitStaggerSeconds: integer(env, "LIST_SPLIT_STAGGER_SECONDS", 3),
    copyConcurrency: integer(env, "COPY_CONCURRENCY", 64, 1),
    // No try starts with less left than a stalled request takes to be cut off (clients.ts: 5 s to connect,
    // 60 s to answer) plus time to record the batch: a stall late in an invocation then ends as a retried key.
    copySafetyMs: integer(env, "COPY_SAFETY_MS", 90_000),
    partConcurrency: integer(env, "PART_CONCURRENCY", 8, 1),
    copyPolicy: {
      triesPerDelivery: integer(env, "COPY_TRIES_PER_DELIVERY", DEFAULT_COPY_POLICY.triesPerDelivery, 1),
      maxDeliveries: integer(env, "COPY_MAX_DELIVERIES", DEFAULT_COPY_POLICY.maxDeliveries, 1),
      maxThrottledDeliveries: integer(env, "COPY_MAX_THROTTLED_DELIVERIES", DEFAULT_COPY_POLICY.maxThrottledDeliveries ?? 20, 1),
      backoff: DEFAULT_COPY_POLICY.backoff,
    },
  };
}
