/**
 * Runs one whole job in this process: the real handlers, driven from real
 * queues by the local event-source runner, against any S3/SQS endpoint.
 * The job ends when the ledger proves it complete, or when nothing is left
 * in flight that could complete it.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import type { LogLevel } from "@aws-lambda-powertools/logger/types";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { S3ManifestSource } from "../../lambdas/aws/s3Manifest.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import { UsageError } from "../../lambdas/core/errors.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import type { JobSpec } from "../../lambdas/core/jobSpec.ts";
import { account, InMemoryLedger, type JobSummary } from "../../lambdas/core/ledger.ts";
import { type JobRef, listBody, type S3Location } from "../../lambdas/core/messages.ts";
import type { KeyFailure, ObjectStore } from "../../lambdas/core/ports.ts";
import { newJobId, selectionsOverlap } from "../../lambdas/core/selection.ts";
import { type ManifestRequest, seedTasks } from "../lib/operator.ts";
import { checkBucket, PreflightError, preflight } from "../lib/preflight.ts";
import { formatS3Url } from "../lib/s3url.ts";
import { ensureBucket } from "../lib/seed.ts";
import { CopyThreads } from "./copyThreads.ts";
import { type FunctionSettings, POLL_WAIT_SECONDS, pipelineConfig, startFunctions, visibilityTimeoutSeconds } from "./functions.ts";
import { MirroredLedger } from "./mirror.ts";
import { createPipelineQueues, deleteQueues, type JobQueues, queueDepth } from "./queues.ts";

export interface LocalJobOptions extends FunctionSettings {
  readonly source: S3Location;
  readonly destination: S3Location;
  /** @default AWS_ENDPOINT_URL, else real AWS */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  readonly jobId?: string | undefined;
  /** Seed ranges split at these points (relative to the source prefix). @default the default points and the source's top-level prefixes */
  readonly splitPoints?: readonly string[];
  /** Copy options of the job (multipart threshold, part size, ...). */
  readonly jobOptions?: JobOptions;
  /** Take the keys from this manifest (Batch Operations CSV or inventory manifest.json) instead of listing the source. */
  readonly manifest?: ManifestRequest | undefined;
  /** Receives before SQS moves a message to its DLQ; a receive whose answer was lost counts too. @default 5 */
  readonly maxReceiveCount?: number;
  readonly logLevel?: LogLevel;
  /** Called about every pollMs with the ledger's view. */
  readonly onProgress?: (summary: JobSummary) => void;
  readonly pollMs?: number;
  /** Declares the job stuck after this long with no progress and empty queues. @default 10000 */
  readonly stallMs?: number;
  /** Wraps the S3 port, e.g. to inject faults in tests. */
  readonly wrapStore?: (store: ObjectStore) => ObjectStore;
  readonly s3?: S3Client;
  readonly sqs?: SQSClient;
  /** Keep the queues after the job (they are deleted by default unless a DLQ holds messages). */
  readonly keepQueues?: boolean;
  /** Halting it stops the job as `halt` does on AWS: nothing copies or re-enqueues afterwards. */
  readonly halt?: LocalHaltSignal;
  /** Where the job's ledger goes. @default ledgerLocation() */
  readonly ledger?: S3Location | undefined;
}

/** A ledger bucket the local runtime creates on an emulator when the destination bucket cannot hold the ledger. */
export const LOCAL_LEDGER_BUCKET = "s3-fanout-ledger";

/**
 * Where a local job keeps its ledger: the one asked for; else, on a custom
 * endpoint (an emulator), a bucket of its own, created if need be; else (AWS,
 * where this creates no bucket) `.s3-fanout/` in the destination bucket when
 * that lies outside both selections. A job copying into a whole AWS bucket
 * must name its ledger.
 */
export function ledgerLocation(
  source: S3Location,
  destination: S3Location,
  asked: S3Location | undefined,
  customEndpoint: boolean,
): S3Location & { readonly create: boolean } {
  const inSelection = (l: S3Location) => selectionsOverlap(l, source) || selectionsOverlap(l, destination);
  if (asked !== undefined) {
    if (inSelection(asked))
      throw new PreflightError(`ledger ${formatS3Url(asked)} lies inside the job's source or destination selection; put it elsewhere`);
    return { ...asked, create: false };
  }
  if (customEndpoint) {
    const own = { bucket: LOCAL_LEDGER_BUCKET, prefix: "" };
    if (inSelection(own)) throw new PreflightError(`the job copies bucket ${LOCAL_LEDGER_BUCKET} itself: pass --ledger s3://BUCKET/PREFIX`);
    return { ...own, create: true };
  }
  const inDestination = { bucket: destination.bucket, prefix: ".s3-fanout/" };
  if (!inSelection(inDestination)) return { ...inDestination, create: false };
  throw new UsageError(
    `the destination ${formatS3Url(destination)} is the whole bucket, so the ledger cannot live there: pass --ledger s3://BUCKET/PREFIX`,
  );
}

export interface LocalJobResult extends JobSummary {
  readonly jobId: string;
  /** True when the job was halted before it completed. */
  readonly haltedEarly: boolean;
  readonly seconds: number;
  readonly ranges: number;
  readonly failures: readonly KeyFailure[];
  readonly vanishedKeys: readonly string[];
  readonly dlq: { readonly list: number; readonly copy: number };
  /** DLQ URLs kept for inspection when they hold messages. */
  readonly keptQueues: readonly string[];
  /** Where the job's ledger is: its bucket and the job's prefix there. */
  readonly ledger: S3Location;
}

export async function runLocalJob(options: LocalJobOptions): Promise<LocalJobResult> {
  const started = performance.now();
  const jobId = options.jobId ?? newJobId();
  // Copies in flight, a long poll per poller (each holds its socket up to 20 s), and room for the rest.
  const maxSockets =
    (options.copyConcurrency ?? 64) * (options.copyInvocations ?? 4) + (options.listConcurrency ?? 4) + (options.copyInvocations ?? 4) + 32;
  const clientOptions = { endpoint: options.endpoint, region: options.region, maxSockets };
  const s3 = options.s3 ?? createS3Client(clientOptions);
  const sqs = options.sqs ?? createSqsClient(clientOptions);

  await preflight(s3, options.source, options.destination);
  const where = ledgerLocation(
    options.source,
    options.destination,
    options.ledger,
    (options.endpoint ?? process.env.AWS_ENDPOINT_URL) !== undefined,
  );
  const s3Ledger = new S3Ledger(s3, where.bucket, where.prefix, { rememberWrites: true });
  const job: JobRef = { id: jobId, source: options.source, destination: options.destination, options: options.jobOptions };
  // Planning a manifest reads it (HEAD, or the inventory's manifest.json): before any queue exists.
  // Both at once; when both fail, the ledger's error is the one told (it is checked first when run in turn).
  const [planned, ledgerReady] = await Promise.allSettled([
    seedTasks(s3, job, options.manifest, options.splitPoints, options.listConcurrency ?? 4),
    where.create ? ensureBucket(s3, where.bucket) : checkBucket(s3, where.bucket, "ledger"),
  ]);
  if (ledgerReady.status === "rejected") throw ledgerReady.reason;
  if (planned.status === "rejected") throw planned.reason;
  const seeds = planned.value;

  const queues = await createPipelineQueues(sqs, `s3-fanout-${jobId}`, {
    visibilityTimeoutSeconds: visibilityTimeoutSeconds(options),
    maxReceiveCount: options.maxReceiveCount ?? 5,
  });
  const config = pipelineConfig(queues, options);
  await s3Ledger.writeSpec(jobSpec(job, seeds));
  // Handlers write the S3 ledger; the progress display reads counts from a mirror, not by re-listing it.
  const progress = new InMemoryLedger(job.options?.delete === true);
  const ledger = new MirroredLedger(s3Ledger, progress);
  // As in Lambda, copies get one SDK attempt so that the limiter hears every SlowDown; a client handed in is used as it is.
  const copyClient = options.s3 ?? createS3Client({ ...clientOptions, maxAttempts: 1 });
  const baseStore = new S3ObjectStore(
    s3,
    () => s3,
    () => copyClient,
  );
  const store = options.wrapStore ? options.wrapStore(baseStore) : baseStore;
  const sink = new SqsMessageSink(sqs, config.queues);
  const logger = new Logger({ serviceName: "s3-fanout-local", logLevel: options.logLevel ?? "ERROR" });
  const halt = options.halt ?? new LocalHaltSignal();

  await sink.send(
    "list",
    seeds.tasks.map((task) => ({ body: listBody(task) })),
  );
  // Copy threads need clients of their own making: not for a job handed clients or a store wrapper (tests).
  const threaded = (options.copyThreads ?? 0) > 0 && options.s3 === undefined && options.sqs === undefined && !options.wrapStore;
  const logLevel = options.logLevel ?? "ERROR";
  const onError = (where: string, err: unknown) => logger.warn("runner error", { where, error: String(err) });
  const copyThreads = threaded
    ? await CopyThreads.start({
        threads: options.copyThreads ?? 0,
        invocations: options.copyInvocations ?? 4,
        spec: {
          endpoint: options.endpoint,
          region: options.region,
          // A thread's sockets: its copies in flight, its long polls, and room for the rest.
          maxSockets: Math.ceil(maxSockets / Math.min(options.copyThreads ?? 1, options.copyInvocations ?? 4)) + 8,
          queue: queues.copy,
          config,
          ledger: { bucket: where.bucket, prefix: where.prefix },
          functionName: `s3-fanout-${jobId}-copy`,
          batchSize: options.copyBatchSize ?? 10,
          timeoutMs: options.copyTimeoutMs ?? 60_000,
          waitTimeSeconds: POLL_WAIT_SECONDS,
          visibilityTimeoutSeconds: visibilityTimeoutSeconds(options),
          logLevel,
        },
        mirror: progress,
        onError,
      })
    : undefined;
  const functions = startFunctions(
    sqs,
    queues,
    { store, multipart: baseStore, deleter: baseStore, manifests: new S3ManifestSource(s3), sink, ledger, halt, config, logger },
    options,
    `s3-fanout-${jobId}`,
    copyThreads === undefined,
  );

  let summary: JobSummary;
  let dlq = { list: 0, copy: 0 };
  try {
    summary = await waitForCompletion(
      progress,
      async () => {
        if (copyThreads?.error) throw copyThreads.error;
        return halt.isHalted(jobId);
      },
      sqs,
      queues,
      options,
    );
  } finally {
    if (copyThreads !== undefined) {
      if (await halt.isHalted(jobId)) copyThreads.halt(jobId);
      await copyThreads.stop();
    }
    await functions.stop();
  }
  // Halted keys settle their batches, so a job halted mid-way can look complete: its halted count tells.
  const haltedEarly = (await halt.isHalted(jobId)) && (!summary.complete || summary.halted > 0);
  if (haltedEarly) await s3Ledger.writeHalt(jobId, "halted from the local runtime");
  // The final word is the S3 ledger's, read back whole: what status and report will also see.
  const [listDlqDepth, copyDlqDepth, records] = await Promise.all([
    queueDepth(sqs, queues.listDlq.url),
    queueDepth(sqs, queues.copyDlq.url),
    s3Ledger.readRecords(jobId),
  ]);
  dlq = { list: listDlqDepth, copy: copyDlqDepth };
  // A halted job's purged batches count as halted keys, as `status` counts them.
  const accounted = account(records.portions, records.outcomes, { deletion: records.deletion, halted: haltedEarly });
  summary = accounted.summary;
  const keptQueues: string[] = [];
  if (!options.keepQueues) {
    const toDelete = [queues.list, queues.copy];
    if (dlq.list === 0) toDelete.push(queues.listDlq);
    else keptQueues.push(queues.listDlq.url);
    if (dlq.copy === 0) toDelete.push(queues.copyDlq);
    else keptQueues.push(queues.copyDlq.url);
    await deleteQueues(sqs, toDelete);
  }
  return {
    ...summary,
    jobId,
    haltedEarly,
    seconds: (performance.now() - started) / 1000,
    ranges: summary.portions,
    failures: accounted.failures,
    vanishedKeys: accounted.vanishedKeys,
    dlq,
    keptQueues,
    ledger: { bucket: where.bucket, prefix: s3Ledger.jobPrefix(jobId) },
  };
}

function jobSpec(job: JobRef, seeds: { tasks: readonly unknown[]; manifest?: JobSpec["manifest"]; seedPoints?: string[] }): JobSpec {
  const spec: JobSpec = {
    v: 1,
    id: job.id,
    source: job.source,
    destination: job.destination,
    mode: job.options?.sync ? "sync" : "copy",
    createdAt: new Date().toISOString(),
    ranges: seeds.tasks.length,
    ...(seeds.seedPoints === undefined ? {} : { seedPoints: seeds.seedPoints }),
    ...(job.options === undefined ? {} : { options: job.options }),
    ...(seeds.manifest === undefined ? {} : { manifest: seeds.manifest }),
  };
  return spec;
}

/** Polls the ledger until it proves completion, or until the job is stuck. */
async function waitForCompletion(
  ledger: InMemoryLedger,
  halted: () => Promise<boolean>,
  sqs: SQSClient,
  queues: JobQueues,
  options: LocalJobOptions,
): Promise<JobSummary> {
  const pollMs = options.pollMs ?? 50;
  const stallMs = options.stallMs ?? 10_000;
  let lastChange = Date.now();
  let lastKey = "";
  for (;;) {
    const began = performance.now();
    const summary = ledger.summary();
    // The summary walks every batch so far: at millions of keys it is polled less, never over ~2% of a core.
    const wait = Math.max(pollMs, 50 * (performance.now() - began));
    options.onProgress?.(summary);
    if (summary.complete || (await halted())) return summary;
    const key = `${summary.portions}/${summary.copied}/${summary.deleted}/${summary.toDelete}/${summary.failed}/${summary.vanished}/${summary.pendingBatches}`;
    if (key !== lastKey) {
      lastKey = key;
      lastChange = Date.now();
    } else if (Date.now() - lastChange > stallMs) {
      // No progress for a while: if nothing is queued or in flight, nothing can finish the job.
      const inFlight = (await queueDepth(sqs, queues.list.url)) + (await queueDepth(sqs, queues.copy.url));
      if (inFlight === 0) return summary;
      lastChange = Date.now();
    }
    await new Promise((resolve) => setTimeout(resolve, wait));
  }
}
