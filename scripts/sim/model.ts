/**
 * Every constant of the simulator's models of S3, SQS and Lambda, each with
 * where it comes from. Published limits are cited; where AWS publishes
 * nothing (latencies, burst sizes, when a prefix gains partitions) the value
 * is our assumption and says so. Change a figure here, not in the models.
 */

import { EVENT_SOURCE_SCALING } from "../../lambdas/core/eventSource.ts";
import { S3_SCALING } from "../../lambdas/core/s3Scaling.ts";

/** A latency distribution: lognormal with this median and spread (sigma of the log), plus a floor. */
export interface Latency {
  /** Median in ms. */
  readonly medianMs: number;
  /** Sigma of ln(latency): 0.5 puts p99 at about 3.2 x the median. */
  readonly sigma: number;
  /** Never faster than this, in ms. */
  readonly minMs: number;
}

export const S3_MODEL = {
  /**
   * Requests per second per partitioned prefix: 3,500 PUT/COPY/POST/DELETE and 5,500 GET/HEAD.
   * Source: "Best practices design patterns: optimizing Amazon S3 performance",
   * https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html (also in config/prices.json).
   * A CopyObject is a write on the destination prefix and a read on the source prefix; a ListObjectsV2 page a
   * read on the prefix of its first key. The figures are lambdas/core/s3Scaling.ts's, which `plan` uses too.
   */
  writesPerSecond: S3_SCALING.writesPerSecond,
  readsPerSecond: S3_SCALING.readsPerSecond,
  /**
   * Each partition's rate is a token bucket that starts EMPTY when the simulation starts (a fresh prefix) and
   * holds at most this many seconds of its rate. Starting empty means no prefix ever accepts more than rate x t
   * requests in its first t seconds: the model cannot beat the published rate. AWS publishes no burst size;
   * 0.25 s of the rate is our assumption.
   */
  burstSeconds: 0.25,
  /**
   * When a prefix gains partitions. AWS: "Amazon S3 automatically scales to high request rates ... you might
   * initially see 503 Slow Down responses while S3 scales" (same page); it publishes no timing. Our rule: a
   * prefix whose demand (requests tried, SlowDowns included) was at least `growDemandFraction` of its capacity
   * in each of `growAfterSeconds` consecutive seconds doubles its partitions, up to `maxPartitions`, and the
   * count starts again. 5 minutes is an assumption, deliberately slow: no job is projected faster than S3
   * is known to scale. The rule is lambdas/core/s3Scaling.ts's, which `plan` projects with too.
   */
  growAfterSeconds: S3_SCALING.growAfterSeconds,
  growDemandFraction: S3_SCALING.growDemandFraction,
  maxPartitions: S3_SCALING.maxPartitions,
  /**
   * Latencies, assumptions in the range that public measurements of same-region S3 give (tens of ms for small
   * object requests, 100-300 ms for a 1,000-key listing page). CopyObject adds its bytes at `copyBytesPerSecond`
   * (server-side, same region); config/prices.json's plan model uses 0.1 s and 50 MB/s.
   */
  copy: { medianMs: 60, sigma: 0.45, minMs: 12 } as Latency,
  copyBytesPerSecond: 50_000_000,
  uploadPartCopy: { medianMs: 60, sigma: 0.45, minMs: 12 } as Latency,
  list: { medianMs: 150, sigma: 0.35, minMs: 40 } as Latency,
  /** HEAD, GetObjectTagging, Create/Complete/Abort multipart, ledger PUTs and the halt marker's GET. */
  metadata: { medianMs: 20, sigma: 0.4, minMs: 5 } as Latency,
  /** A 503 SlowDown comes back fast: S3 refuses before doing the work. */
  slowDown: { medianMs: 8, sigma: 0.4, minMs: 2 } as Latency,
  /** 500 InternalError per request: rare on S3. An assumption (the S3 SLA allows far more). */
  internalErrorRate: 1e-5,
} as const;

export const SQS_MODEL = {
  /** SendMessageBatch, ReceiveMessage (when messages wait), DeleteMessageBatch, ChangeMessageVisibilityBatch. Assumed. */
  request: { medianMs: 10, sigma: 0.4, minMs: 3 } as Latency,
  /** Long polling: a receive waits up to 20 s for a message (the maximum WaitTimeSeconds; Lambda's pollers use it). */
  longPollMs: 20_000,
  /**
   * Standard queues deliver at least once: "on rare occasions, one of the servers that stores a copy of a
   * message might be unavailable when you receive or delete a message", https://docs.aws.amazon.com/AWSSimpleQueueService/latest/SQSDeveloperGuide/standard-queues-at-least-once-delivery.html.
   * AWS gives no rate; 1 receive in 10,000 also delivers a twin of one of its messages (same message id) to
   * another poller right away: an assumption, high enough that every 1M-object run sees some.
   */
  duplicateRate: 1e-4,
  /** A payload is billed per started 64 KiB (https://aws.amazon.com/sqs/pricing/). */
  billedChunkBytes: 65_536,
  /** maxReceiveCount of both work queues (lib/s3-fanout-stack.ts). */
  maxReceiveCount: 5,
  /** Visibility timeout: 6 x the function timeout (lib/work-queue.ts, AWS's recommendation). */
  visibilityFactor: 6,
} as const;

export const LAMBDA_MODEL = {
  /**
   * SQS event source scaling, https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html: "Lambda
   * starts processing five batches at a time with five concurrent invocations ... If messages are still
   * available, Lambda increases the number of processes that are reading batches by up to 300 more instances
   * per minute. The maximum number of batches that an event source mapping can process simultaneously is 1,000."
   * We add one poller every 60/300 s while the queue has visible messages, up to min(1,000, maximum concurrency).
   * Scaling back down when traffic is low is not modelled (it changes no request and no invocation).
   * The figures are lambdas/core/eventSource.ts's, which `plan` uses too.
   */
  ...EVENT_SOURCE_SCALING,
  /** Batch sizes and timeouts of the stack (lib/s3-fanout-stack.ts): list 1 message and 15 min, copy 10 and 5 min. */
  listBatchSize: 1,
  copyBatchSize: 10,
  listTimeoutMs: 15 * 60_000,
  copyTimeoutMs: 5 * 60_000,
  /** Memory of both functions (lib/pipeline-function.ts default). */
  memoryMb: 1024,
  /**
   * A cold start: module load and first-invocation setup of the bundles, measured at 175-229 ms (list) and
   * 197-199 ms (copy) by `npm run bench` (README, 2026-12-03). Lambda's own sandbox start is on top; assumed.
   */
  coldStart: { medianMs: 350, sigma: 0.3, minMs: 200 } as Latency,
  /** From a poller's receive to the handler running, warm. Assumed. */
  invokeOverhead: { medianMs: 15, sigma: 0.4, minMs: 3 } as Latency,
  /**
   * Client CPU per S3 request on one full vCPU: 0.24 ms per copied object (0.238 measured for the copy bundle
   * by `npm run bench -- --cold-start-only`, README, 2026-12-03; 0.28 before the lean path). Lambda gives a
   * function memory/1,769 MB of a vCPU (https://docs.aws.amazon.com/lambda/latest/dg/configuration-memory.html),
   * so at 1,024 MB a copy costs 0.24 x 1769/1024 = 0.41 ms of the instance's time, and an instance copies at
   * most ~2,400 objects a second.
   */
  cpuMsPerRequest: 0.24,
  /** A listing page (1,000 keys parsed, decoded, packed into messages): assumed 20 x a copy's CPU. */
  cpuMsPerListPage: 4.8,
  fullVcpuMemoryMb: 1769,
} as const;

/** The defaults of the CLI (scripts/simulate.ts), as the stack deploys. */
export const SIM_DEFAULTS = {
  sizeBytes: 1024,
  /** The stack's listMaxConcurrency / copyMaxConcurrency defaults (lib/s3-fanout-stack.ts; listing 10 before 4a8d9a2). */
  listConcurrency: 32,
  copyConcurrency: 50,
  /** Copies in flight per copy invocation: the stack's COPY_CONCURRENCY. */
  copiesInFlight: 64,
  seed: 1,
  /** A run that has not finished after this much virtual time stops and fails. */
  maxSimulatedSeconds: 6 * 3600,
  /** Resolution of the timeline (chart, peaks). */
  sampleMs: 1000,
} as const;
