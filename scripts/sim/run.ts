/**
 * One simulated job: the kickoff's seed ranges on the list queue, the real
 * list and copy handlers (createListHandler, createCopyHandler) run by the
 * modelled event sources against the modelled S3 and SQS, in virtual time,
 * until both queues are empty and no invocation runs. What it returns is
 * read from the models and from the ledger the handlers wrote.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { configFromEnv, type PipelineConfig } from "../../lambdas/config.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { packSendRequests } from "../../lambdas/core/batching.ts";
import { CachedHaltSignal, HALT_CHECK_TTL_MS } from "../../lambdas/core/halt.ts";
import type { JobSummary } from "../../lambdas/core/ledger.ts";
import { type JobRef, listBody } from "../../lambdas/core/messages.ts";
import type { PriceTable } from "../../lambdas/core/plan.ts";
import type { Ledger, MessageSink, MultipartStore, ObjectStore, QueueName, Redelivery } from "../../lambdas/core/ports.ts";
import { seedRanges, seedSplitPoints } from "../../lambdas/core/ranges.ts";
import { createListHandler } from "../../lambdas/list/handler.ts";
import { Random, VirtualClock } from "./clock.ts";
import { billed, type FunctionStats, type Instance, SimFunction } from "./lambda.ts";
import { SimLedger } from "./ledger.ts";
import { LAMBDA_MODEL, S3_MODEL, SIM_DEFAULTS, SQS_MODEL } from "./model.ts";
import { type PrefixLoad, SimS3, SourceKeys } from "./s3.ts";
import { newSqsCounts, SimQueue } from "./sqs.ts";

export interface SimOptions {
  readonly objects: number;
  readonly prefixes: number;
  readonly sizeBytes?: number;
  /** The list event source's maximum concurrency. */
  readonly listConcurrency?: number;
  /** The copy event source's maximum concurrency. */
  readonly copyConcurrency?: number;
  /** Copies in flight per copy invocation (COPY_CONCURRENCY). */
  readonly copiesInFlight?: number;
  readonly seed?: number;
  readonly maxSimulatedSeconds?: number;
  /** The pipeline's settings as its environment would set them (e.g. LIST_SPLIT_PARTS): before/after comparisons. */
  readonly env?: Readonly<Record<string, string>>;
  readonly prices: PriceTable;
  /** Called about every 10 simulated seconds. */
  readonly onProgress?: (sample: Sample) => void;
}

/** The state of the job at one simulated second. */
export interface Sample {
  readonly t: number;
  /** Objects the ledger counts as copied, so far. */
  readonly copied: number;
  readonly copyInvocations: number;
  readonly listInvocations: number;
  readonly copyPollers: number;
  readonly listQueue: number;
  readonly copyQueue: number;
  /** SlowDown answers so far. */
  readonly slowDowns: number;
}

export type SimBottleneck = "s3-write-rate" | "lambda-scaling" | "lambda-concurrency" | "listing" | "copy-invocation" | "none";

export interface SimResult {
  readonly objects: number;
  readonly copied: number;
  readonly simulatedSeconds: number;
  readonly peakCopyInvocations: number;
  readonly peakListInvocations: number;
  readonly requests: {
    readonly s3: Record<string, number>;
    readonly sqs: Record<string, number>;
    readonly lambda: { readonly list: number; readonly copy: number };
  };
  readonly costUsd: number;
  readonly cost: { readonly s3: number; readonly sqs: number; readonly lambda: number; readonly lambdaGbSeconds: number };
  readonly bottleneck: SimBottleneck;
  /** Seconds of the job spent under each bottleneck. */
  readonly bottlenecks: Readonly<Record<SimBottleneck, number>>;
  /** Every object copied exactly once by the ledger's count, the ledger complete, nothing failed. */
  readonly exactlyOnce: boolean;
  readonly ledger: JobSummary;
  /** Copies S3 performed beyond the first of an object (duplicate deliveries, retried batches). */
  readonly extraCopies: number;
  readonly duplicatesDelivered: number;
  readonly coldStarts: number;
  readonly timeouts: number;
  /** The per-prefix rate law: accepted requests never above the rate (cumulative and per second). */
  readonly rateLaw: { readonly ok: boolean; readonly worstSecondRatio: number; readonly worstCumulativeRatio: number };
  readonly peakPrefixWritesPerSecond: number;
  /**
   * Destination prefixes that accepted writes, per second until the last copy, on average: how many of the
   * job's prefixes its copies reached at once (listing in key order reaches a few at a time).
   */
  readonly meanPrefixesWritten: number;
  /** The destination's write partitions at the end (one per prefix until sustained load doubles one). */
  readonly partitions: number;
  readonly outcome: "done" | "timeout" | "idle";
  /** Why a run is not exactly once: keys the ledger records as failed, by error code and by deliveries, and the DLQs. */
  readonly failures: FailureDigest;
  readonly timeline: readonly Sample[];
}

export interface FailureDigest {
  /** Keys failed in the ledger, by error code. */
  readonly byCode: Readonly<Record<string, number>>;
  /** Keys failed in the ledger, by the deliveries they had had. */
  readonly byAttempts: Readonly<Record<string, number>>;
  /** Objects the ledger's tree counts copied, and objects it counts copied twice (see SimLedger.count). */
  readonly copiedOnce: number;
  readonly countedTwice: number;
  /** Outcomes recorded again for a batch id (duplicate deliveries); the last one stands. */
  readonly rerecorded: number;
  /** Messages sent to the copy DLQ by the copier (a record per key) and moved there by SQS (maxReceiveCount). */
  readonly copyDlq: number;
  readonly copyDeadLettered: number;
  readonly listDlq: number;
  /** Keys the copier handed on to a later delivery (retried, or deferred for lack of time). */
  readonly requeuedKeys: number;
}

/**
 * The handlers' logger here: it drops every line before building it. A SILENT powertools Logger still
 * assembles each line before deciding not to print it, and a throttled job logs a "copy retry" per SlowDown
 * (over a million at 1M objects under one prefix). What the handlers do besides logging is unchanged.
 */
class DroppingLogger extends Logger {
  override createChild(): Logger {
    return this;
  }
  override addContext(): void {}
  override trace(): void {}
  override debug(): void {}
  override info(): void {}
  override warn(): void {}
  override error(): void {}
  override critical(): void {}
}

const QUEUE_URLS = { LIST_QUEUE_URL: "list", COPY_QUEUE_URL: "copy", LIST_DLQ_URL: "listDlq", COPY_DLQ_URL: "copyDlq" };

/** The pipeline config the functions get, from the stack's environment, with the run's copies in flight. */
export function simConfig(copiesInFlight: number, env: Readonly<Record<string, string>> = {}): PipelineConfig {
  return configFromEnv({ ...QUEUE_URLS, COPY_CONCURRENCY: String(copiesInFlight), ...env });
}

export async function simulate(options: SimOptions): Promise<SimResult> {
  const objects = options.objects;
  const sizeBytes = options.sizeBytes ?? SIM_DEFAULTS.sizeBytes;
  const clock = new VirtualClock();
  const random = new Random(options.seed ?? SIM_DEFAULTS.seed);
  const keys = new SourceKeys(objects, options.prefixes);
  const s3 = new SimS3(clock, random, keys, "source", sizeBytes);
  const ledger = new SimLedger(clock, s3, keys);
  const sqs = newSqsCounts();
  const listDlq = new SimQueue(clock, random, "listDlq", 30_000);
  const copyDlq = new SimQueue(clock, random, "copyDlq", 30_000);
  const queues: Record<QueueName, SimQueue> = {
    list: new SimQueue(clock, random, "list", SQS_MODEL.visibilityFactor * LAMBDA_MODEL.listTimeoutMs, listDlq),
    copy: new SimQueue(clock, random, "copy", SQS_MODEL.visibilityFactor * LAMBDA_MODEL.copyTimeoutMs, copyDlq),
    listDlq,
    copyDlq,
  };
  const config = simConfig(options.copiesInFlight ?? SIM_DEFAULTS.copiesInFlight, options.env);
  const logger = new DroppingLogger({ serviceName: "s3-fanout-sim", logLevel: "SILENT" });
  const cpuScale = LAMBDA_MODEL.fullVcpuMemoryMb / LAMBDA_MODEL.memoryMb;

  /** The ports of one instance: every call guarded (a frozen instance gets no answers), S3 calls after their CPU. */
  const depsOf = (instance: Instance) => {
    const store: ObjectStore & MultipartStore = {
      listPage: (r) =>
        instance.guard(async () => {
          await instance.cpu(LAMBDA_MODEL.cpuMsPerListPage * cpuScale);
          return s3.listPage(r);
        }),
      copy: (r) =>
        instance.guard(async () => {
          await instance.cpu(LAMBDA_MODEL.cpuMsPerRequest * cpuScale);
          return s3.copy(r);
        }),
      head: (b, k) => instance.guard(() => s3.head(b, k)),
      tagging: (b, k) => instance.guard(() => s3.tagging(b, k)),
      createUpload: (b, k) => instance.guard(() => s3.createUpload(b, k)),
      copyPart: (r) =>
        instance.guard(async () => {
          await instance.cpu(LAMBDA_MODEL.cpuMsPerRequest * cpuScale);
          return s3.copyPart(r);
        }),
      listParts: (b, k, u) => instance.guard(() => s3.listParts(b, k, u)),
      complete: (b, k, u) => instance.guard(() => s3.complete(b, k, u)),
      abort: (b, k, u) => instance.guard(() => s3.abort(b, k, u)),
    };
    const sink: MessageSink & Redelivery = {
      send: (queue, messages) =>
        instance.guard(async () => {
          // As SqsMessageSink: SendMessageBatch requests of 10 messages (and 252 KiB) at most, all at once.
          await Promise.all(
            packSendRequests(messages).map(async (request) => {
              sqs.send++;
              sqs.sendBilled += billed(request.reduce((n, m) => n + Buffer.byteLength(m.body), 0));
              await clock.sleep(random.latency(SQS_MODEL.request));
              for (const m of request) queues[queue].send(m.body, m.delaySeconds);
            }),
          );
        }),
      retryAfter: (queue, messages) =>
        instance.guard(async () => {
          sqs.changeVisibility += Math.ceil(messages.length / 10);
          await clock.sleep(random.latency(SQS_MODEL.request));
          for (const m of messages) queues[queue].changeVisibility(m.receiptHandle, m.seconds);
        }),
    };
    const guardedLedger: Ledger = {
      recordPortion: (r) => instance.guard(() => ledger.recordPortion(r)),
      recordBatch: (o) => instance.guard(() => ledger.recordBatch(o)),
      recordBatches: (o) => instance.guard(() => ledger.recordBatches(o)),
    };
    return {
      store,
      multipart: store,
      sink,
      redelivery: sink,
      ledger: guardedLedger,
      halt: new CachedHaltSignal(
        () => instance.guard(() => s3.haltGet()),
        HALT_CHECK_TTL_MS,
        () => clock.now(),
      ),
      config,
      logger,
      sleep: (ms: number) => instance.guard(() => clock.sleep(ms)),
      random: random.next,
    };
  };

  const list = new SimFunction(clock, random, queues.list, sqs, {
    name: "list",
    timeoutMs: LAMBDA_MODEL.listTimeoutMs,
    batchSize: LAMBDA_MODEL.listBatchSize,
    maxConcurrency: options.listConcurrency ?? SIM_DEFAULTS.listConcurrency,
    build: (instance) => createListHandler(depsOf(instance)),
  });
  const copy = new SimFunction(clock, random, queues.copy, sqs, {
    name: "copy",
    timeoutMs: LAMBDA_MODEL.copyTimeoutMs,
    batchSize: LAMBDA_MODEL.copyBatchSize,
    maxConcurrency: options.copyConcurrency ?? SIM_DEFAULTS.copyConcurrency,
    build: (instance) => createCopyHandler(depsOf(instance)),
  });

  // The kickoff: the seed ranges, as jobStart seeds them, on the list queue.
  const job: JobRef = { id: "sim", source: { bucket: "source", prefix: "" }, destination: { bucket: "destination", prefix: "" } };
  // Its top-level prefixes come from one delimited listing (jobStart's topLevelPrefixes), counted as a list request.
  s3.counts.list++;
  const topLevel = keys.names.map((name) => `${name}/`).slice(0, 1000);
  const points = seedSplitPoints(job.source.prefix, topLevel, options.listConcurrency ?? SIM_DEFAULTS.listConcurrency);
  const seeds = seedRanges(job.source.prefix, points).map((range) => ({ body: listBody({ job, range, hop: 0 }) }));
  for (const request of packSendRequests(seeds)) {
    sqs.send++;
    sqs.sendBilled += billed(request.reduce((n, m) => n + Buffer.byteLength(m.body), 0));
    for (const m of request) queues.list.send(m.body);
  }
  list.start();
  copy.start();

  const timeline: Sample[] = [];
  const sampleMs = SIM_DEFAULTS.sampleMs;
  const sample = () => {
    const s: Sample = {
      t: clock.now() / 1000,
      copied: ledger.copiedOnce,
      copyInvocations: copy.stats.inFlight,
      listInvocations: list.stats.inFlight,
      copyPollers: copy.stats.pollers,
      listQueue: queues.list.total,
      copyQueue: queues.copy.total,
      slowDowns: s3.counts.slowDown,
    };
    timeline.push(s);
    if (timeline.length % 10 === 0) options.onProgress?.(s);
    clock.after(sampleMs, sample);
  };
  sample();

  const quiet = () => queues.list.total === 0 && queues.copy.total === 0 && list.stats.inFlight === 0 && copy.stats.inFlight === 0;
  const maxMs = 1000 * (options.maxSimulatedSeconds ?? SIM_DEFAULTS.maxSimulatedSeconds);
  const outcome = await clock.run(quiet, maxMs);
  list.stopped = true;
  copy.stopped = true;
  const endMs = clock.now();
  timeline.push({
    t: endMs / 1000,
    copied: ledger.copiedOnce,
    copyInvocations: copy.stats.inFlight,
    listInvocations: list.stats.inFlight,
    copyPollers: copy.stats.pollers,
    listQueue: queues.list.total,
    copyQueue: queues.copy.total,
    slowDowns: s3.counts.slowDown,
  });

  const summary = ledger.summary();
  const counted = ledger.count();
  const exactlyOnce =
    outcome === "done" &&
    summary.complete &&
    summary.copied === objects &&
    summary.failed === 0 &&
    counted.copiedOnce === objects &&
    counted.countedTwice === 0;
  const simulatedMs = ledger.allCopiedAt ?? endMs;
  let extraCopies = 0;
  for (const n of s3.copies) if (n > 1) extraCopies += n - 1;
  const bottlenecks = classify(timeline, simulatedMs / 1000, copy, list, options.copyConcurrency ?? SIM_DEFAULTS.copyConcurrency);
  const bottleneck = (Object.entries(bottlenecks) as [SimBottleneck, number][]).reduce((a, b) => (b[1] > a[1] ? b : a))[0];
  const cost = costOf(s3.counts, sqs, list.stats, copy.stats, options.prices);
  const law = rateLaw(s3.loads);
  return {
    objects,
    copied: summary.copied,
    simulatedSeconds: round(simulatedMs / 1000, 3),
    peakCopyInvocations: copy.stats.peakInFlight,
    peakListInvocations: list.stats.peakInFlight,
    requests: {
      s3: { ...s3.counts },
      sqs: { ...sqs },
      lambda: { list: list.stats.invocations, copy: copy.stats.invocations },
    },
    costUsd: round(cost.total, 4),
    cost: { s3: round(cost.s3, 4), sqs: round(cost.sqs, 4), lambda: round(cost.lambda, 4), lambdaGbSeconds: round(cost.gbSeconds, 1) },
    bottleneck,
    bottlenecks,
    exactlyOnce,
    ledger: summary,
    extraCopies,
    duplicatesDelivered: queues.list.duplicates + queues.copy.duplicates,
    coldStarts: list.stats.coldStarts + copy.stats.coldStarts,
    timeouts: list.stats.timeouts + copy.stats.timeouts,
    rateLaw: law.law,
    peakPrefixWritesPerSecond: law.peakWrites,
    meanPrefixesWritten: meanPrefixesWritten(s3.loads, simulatedMs / 1000),
    partitions: s3.loads.filter((l) => l.bucket === "destination").reduce((n, l) => n + l.write.partitions, 0),
    outcome,
    failures: {
      ...ledger.failureDigest(),
      ...counted,
      copyDlq: copyDlq.sent,
      copyDeadLettered: queues.copy.deadLettered,
      listDlq: listDlq.sent,
    },
    timeline,
  };
}

function round(x: number, digits: number): number {
  return Math.round(x * 10 ** digits) / 10 ** digits;
}

/**
 * What held the job back in each second until the last copy, read from the timeline: S3 (SlowDowns that
 * second), the copy event source still scaling or at its maximum with messages waiting, listing (copy queue
 * empty while ranges are still listed), or the copy invocations themselves (messages waiting, pollers idle).
 */
function classify(timeline: readonly Sample[], endSeconds: number, copy: SimFunction, _list: SimFunction, maxCopy: number) {
  const seconds: Record<SimBottleneck, number> = {
    "s3-write-rate": 0,
    "lambda-scaling": 0,
    "lambda-concurrency": 0,
    listing: 0,
    "copy-invocation": 0,
    none: 0,
  };
  const ceiling = Math.min(maxCopy, LAMBDA_MODEL.maxConcurrency);
  for (let i = 1; i < timeline.length; i++) {
    const s = timeline[i] as Sample;
    const prev = timeline[i - 1] as Sample;
    if (prev.t >= endSeconds) break;
    let kind: SimBottleneck;
    if (s.slowDowns > prev.slowDowns) kind = "s3-write-rate";
    else if (s.copyQueue > s.copyInvocations * LAMBDA_MODEL.copyBatchSize && s.copyInvocations >= s.copyPollers) {
      kind = s.copyPollers < ceiling ? "lambda-scaling" : "lambda-concurrency";
    } else if (s.copyQueue <= s.copyInvocations * LAMBDA_MODEL.copyBatchSize && s.listQueue > 0) kind = "listing";
    else if (s.copyQueue > 0) kind = "copy-invocation";
    else kind = "none";
    seconds[kind] += Math.min(s.t, endSeconds) - prev.t;
  }
  void copy;
  for (const k of Object.keys(seconds) as SimBottleneck[]) seconds[k] = round(seconds[k], 1);
  return seconds;
}

function costOf(
  s3: SimS3["counts"],
  sqs: ReturnType<typeof newSqsCounts>,
  list: FunctionStats,
  copy: FunctionStats,
  prices: PriceTable,
): { s3: number; sqs: number; lambda: number; gbSeconds: number; total: number } {
  // SlowDown and InternalError answers are counted apart and not billed (S3 bills no 5xx answers to requests).
  const putTier = s3.list + s3.copy + s3.createUpload + s3.uploadPartCopy + s3.completeUpload + s3.listParts + s3.ledgerPut;
  const getTier = s3.head + s3.tagging + s3.haltGet;
  const s3Cost = (putTier * prices.s3.putCopyPostListPer1000 + getTier * prices.s3.getHeadPer1000) / 1000;
  const sqsRequests = sqs.sendBilled + sqs.receiveBilled + sqs.delete + sqs.changeVisibility;
  const sqsCost = (sqsRequests * prices.sqs.perMillionRequests) / 1e6;
  const gbSeconds = ((list.billedMs + copy.billedMs) / 1000) * (LAMBDA_MODEL.memoryMb / 1024);
  const lambda = gbSeconds * prices.lambda.perGbSecond + ((list.invocations + copy.invocations) * prices.lambda.perMillionRequests) / 1e6;
  return { s3: s3Cost, sqs: sqsCost, lambda, gbSeconds, total: s3Cost + sqsCost + lambda };
}

/** The mean, over the whole seconds before `endSeconds`, of destination prefixes that accepted a write. */
function meanPrefixesWritten(loads: readonly PrefixLoad[], endSeconds: number): number {
  const seconds = Math.max(1, Math.floor(endSeconds));
  let written = 0;
  for (const load of loads) {
    if (load.bucket !== "destination") continue;
    for (let s = 0; s < seconds; s++) if ((load.write.accepted[s] ?? 0) > 0) written++;
  }
  return round(written / seconds, 2);
}

/** Checks that no prefix accepted more than its rate allows: per whole second (rate + burst) and since the start. */
function rateLaw(loads: readonly PrefixLoad[]) {
  let worstSecond = 0;
  let worstCumulative = 0;
  let peakWrites = 0;
  for (const load of loads) {
    for (const bucket of [load.read, load.write]) {
      let total = 0;
      bucket.accepted.forEach((n, s) => {
        const partitions = bucket.partitionsAt[s] ?? 1;
        const rate = (bucket === load.write ? S3_MODEL.writesPerSecond : S3_MODEL.readsPerSecond) * partitions;
        worstSecond = Math.max(worstSecond, n / (rate * (1 + S3_MODEL.burstSeconds)));
        if (bucket === load.write) peakWrites = Math.max(peakWrites, n);
        total += n;
        // Tokens accrue from t = 0 at the rate of the time: up to the end of second s at most rate x (s + 1).
        worstCumulative = Math.max(worstCumulative, total / (rate * (s + 1)));
      });
    }
  }
  return {
    law: {
      ok: worstSecond <= 1 && worstCumulative <= 1,
      worstSecondRatio: round(worstSecond, 4),
      worstCumulativeRatio: round(worstCumulative, 4),
    },
    peakWrites,
  };
}
