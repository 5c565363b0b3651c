/**
 * What the operator commands share: finding the deployment and building the
 * clients and ledger for it, and the job-level operations themselves.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { PurgeQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { planManifest } from "../../lambdas/aws/s3Manifest.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import { parseSize } from "../../lambdas/core/copyPlan.ts";
import { S3FanoutError, UsageError } from "../../lambdas/core/errors.ts";
import { HALT_CHECK_TTL_MS } from "../../lambdas/core/halt.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import { type JobSpec, jobRefOf } from "../../lambdas/core/jobSpec.ts";
import { type JobSummary, summarize } from "../../lambdas/core/ledger.ts";
import { type JobRef, type ListTask, listBody, type S3Location } from "../../lambdas/core/messages.ts";
import { DEFAULT_SPLIT_POINTS, seedRanges } from "../../lambdas/core/ranges.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";
import { newJobId } from "../../lambdas/core/selection.ts";
import { queueDepth } from "../local/queues.ts";
import { endpointUrl } from "./cli.ts";
import { type Deployment, loadDeployment } from "./deployment.ts";
import { checkBucket, PreflightError, preflight } from "./preflight.ts";
import { parseS3Url } from "./s3url.ts";

/** Flags every operator command takes to find its deployment. */
export const DEPLOYMENT_OPTIONS = {
  outputs: { type: "string" },
  stack: { type: "string" },
  endpoint: { type: "string" },
  region: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

export const DEPLOYMENT_USAGE = `  --outputs FILE    stack outputs from \`cdk deploy --outputs-file FILE\` (default ./cdk-outputs.json, else CloudFormation)
  --stack NAME      stack name (default S3Fanout)
  --endpoint URL    S3/SQS endpoint (default AWS_ENDPOINT_URL, else AWS)
  --region REGION   (default AWS_REGION)
  --json            last stdout line is one JSON object`;

export interface Connection {
  readonly deployment: Deployment;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly ledger: S3Ledger;
}

export class JobNotFoundError extends S3FanoutError {}

export async function connect(args: { outputs?: string; stack?: string; endpoint?: string; region?: string }): Promise<Connection> {
  const endpoint = endpointUrl(args.endpoint);
  const deployment = await loadDeployment({ outputsFile: args.outputs, stackName: args.stack, region: args.region });
  const s3 = createS3Client({ endpoint, region: args.region });
  const sqs = createSqsClient({ endpoint, region: args.region });
  return { deployment, s3, sqs, ledger: new S3Ledger(s3, deployment.ledgerBucket) };
}

export async function readSpec(c: Pick<Connection, "ledger">, jobId: string): Promise<JobSpec> {
  const spec = await c.ledger.readSpec(jobId);
  if (!spec) throw new JobNotFoundError(`no job "${jobId}" in the ledger s3://${c.ledger.bucket}/${c.ledger.jobPrefix(jobId)}`);
  return spec;
}

export interface KickoffResult {
  readonly spec: JobSpec;
  readonly ledgerUrl: string;
}

/** A job's keys from a manifest instead of a listing of the source. */
export interface ManifestRequest {
  /** The manifest object: a Batch Operations CSV, or an inventory's manifest.json. */
  readonly bucket: string;
  readonly key: string;
  /** Bytes per chunk of a plain CSV file. @default DEFAULT_MANIFEST_CHUNK_BYTES */
  readonly chunkBytes?: number | undefined;
}

/** The flags of a job that takes its keys from a manifest (local, kickoff). */
export const MANIFEST_FLAGS = {
  manifest: { type: "string" },
  "manifest-chunk": { type: "string" },
} as const;

export const MANIFEST_USAGE = `  --manifest URL        copy the keys a manifest names instead of listing the source: an S3 Batch
                        Operations CSV (bucket,key[,versionId], keys URL-encoded; .gz for gzip) or an
                        S3 Inventory manifest.json (CSV data files). Only rows naming the --source bucket
                        under its prefix are copied; the others are counted as skipped
  --manifest-chunk SIZE bytes of a plain CSV manifest per list message (default 64MiB)`;

export function manifestFromArgs(args: {
  manifest?: string | undefined;
  "manifest-chunk"?: string | undefined;
  sync?: boolean | undefined;
}): ManifestRequest | undefined {
  // A sync compares listings; a manifest's keys have no destination listing read in step.
  if (args.manifest !== undefined && args.sync) throw new UsageError("--sync compares listings and cannot take --manifest");
  if (args.manifest === undefined) {
    if (args["manifest-chunk"] !== undefined) throw new UsageError("--manifest-chunk needs --manifest");
    return undefined;
  }
  const { bucket, prefix: key } = parseS3Url(args.manifest, "--manifest");
  if (key === "" || key.endsWith("/")) throw new UsageError(`--manifest must name an object, got "${args.manifest}"`);
  const chunk = args["manifest-chunk"];
  return { bucket, key, chunkBytes: chunk === undefined ? undefined : parseSize(chunk, "--manifest-chunk") };
}

/** The list tasks that start a job: its manifest's chunks, else the seeded key ranges. */
export async function seedTasks(
  s3: S3Client,
  job: JobRef,
  manifest: ManifestRequest | undefined,
  splitPoints: readonly string[] = DEFAULT_SPLIT_POINTS,
): Promise<{ tasks: ListTask[]; manifest?: JobSpec["manifest"] }> {
  if (manifest === undefined) return { tasks: seedRanges(job.source.prefix, splitPoints).map((range) => ({ job, range, hop: 0 })) };
  const plan = await planManifest(s3, manifest, manifest.chunkBytes);
  return {
    tasks: plan.chunks.map((chunk) => ({ job, range: {}, hop: 0, manifest: { ...chunk, row: 0, byte: chunk.start } })),
    manifest: { bucket: manifest.bucket, key: manifest.key, format: plan.format, files: plan.files.length },
  };
}

/** Preflight, write the spec, then seed the listing ranges (or manifest chunks): after this the pipeline runs the job. */
/** How to grant one more bucket: the kept settings' whole list, then a deploy (a one-off -c would be lost on the next). */
function redeployWith(flag: string, current: readonly string[], bucket: string): string {
  return `add it with \`npm run configure -- --${flag} ${[...current, bucket].join(",")}\` and \`npx cdk deploy\``;
}

export async function kickoff(
  c: Connection,
  source: S3Location,
  destination: S3Location,
  jobId = newJobId(),
  options?: JobOptions,
  manifest?: ManifestRequest,
): Promise<KickoffResult> {
  const { deployment } = c;
  if (deployment.sourceBuckets.length > 0 && !deployment.sourceBuckets.includes(source.bucket)) {
    throw new PreflightError(
      `stack ${deployment.stackName} may not read "${source.bucket}" (it may read: ${deployment.sourceBuckets.join(", ")}); ${redeployWith("source-bucket", deployment.sourceBuckets, source.bucket)}`,
    );
  }
  if (deployment.destinationBuckets.length > 0 && !deployment.destinationBuckets.includes(destination.bucket)) {
    throw new PreflightError(
      `stack ${deployment.stackName} may not write "${destination.bucket}" (it may write: ${deployment.destinationBuckets.join(", ")}); ${redeployWith("destination-bucket", deployment.destinationBuckets, destination.bucket)}`,
    );
  }
  const readable = [...deployment.sourceBuckets, ...(deployment.manifestBuckets ?? [])];
  if (manifest !== undefined && deployment.sourceBuckets.length > 0 && !readable.includes(manifest.bucket)) {
    // The list function reads the manifest, not this command: without the grant every chunk is parked AccessDenied.
    throw new PreflightError(
      `stack ${deployment.stackName} may not read the manifest bucket "${manifest.bucket}" (it may read: ${readable.join(", ")}); ${redeployWith("manifest-bucket", deployment.manifestBuckets ?? [], manifest.bucket)}`,
    );
  }
  await preflight(c.s3, source, destination);
  await checkBucket(c.s3, deployment.ledgerBucket, "ledger");
  if (await c.ledger.readSpec(jobId)) throw new PreflightError(`job "${jobId}" already exists in the ledger`);
  const ref: JobRef = options === undefined ? { id: jobId, source, destination } : { id: jobId, source, destination, options };
  const seeds = await seedTasks(c.s3, ref, manifest);
  const base: JobSpec = {
    v: 1,
    id: jobId,
    source,
    destination,
    mode: options?.sync ? "sync" : "copy",
    createdAt: new Date().toISOString(),
    ranges: seeds.tasks.length,
  };
  const withOptions: JobSpec = options === undefined ? base : { ...base, options };
  const spec: JobSpec = seeds.manifest === undefined ? withOptions : { ...withOptions, manifest: seeds.manifest };
  await c.ledger.writeSpec(spec);
  const job = jobRefOf(spec);
  const sink = new SqsMessageSink(c.sqs, {
    list: deployment.listQueueUrl,
    copy: deployment.copyQueueUrl,
    listDlq: deployment.listDlqUrl,
    copyDlq: deployment.copyDlqUrl,
  });
  await sink.send(
    "list",
    seeds.tasks.map((task) => ({ body: listBody({ ...task, job }) })),
  );
  return { spec, ledgerUrl: `s3://${c.ledger.bucket}/${c.ledger.jobPrefix(jobId)}` };
}

export interface QueueDepths {
  readonly list: number;
  readonly copy: number;
  readonly listDlq: number;
  readonly copyDlq: number;
}

export async function queueDepths(c: Connection): Promise<QueueDepths> {
  const d = c.deployment;
  const [list, copy, listDlq, copyDlq] = await Promise.all(
    [d.listQueueUrl, d.copyQueueUrl, d.listDlqUrl, d.copyDlqUrl].map((u) => queueDepth(c.sqs, u)),
  );
  return { list: list ?? 0, copy: copy ?? 0, listDlq: listDlq ?? 0, copyDlq: copyDlq ?? 0 };
}

export type JobState = "listing" | "copying" | "complete" | "halted";

export interface JobStatus extends JobSummary {
  readonly jobId: string;
  readonly state: JobState;
  readonly haltMarked: boolean;
  readonly elapsedSeconds: number;
  /** Objects settled (copied, failed or vanished) per second since kickoff. */
  readonly rate: number;
  /** Seconds to settle what is listed so far at the current rate; undefined while unknown. */
  readonly etaSeconds: number | undefined;
  readonly queues: QueueDepths;
}

/** The job's progress, proven from its ledger; queue depths are shown, never used to decide. */
export async function jobStatus(c: Connection, jobId: string, now: Date = new Date()): Promise<JobStatus> {
  const spec = await readSpec(c, jobId);
  const [records, haltMarked, queues] = await Promise.all([c.ledger.readRecords(jobId), c.ledger.isHaltMarked(jobId), queueDepths(c)]);
  const summary = summarize(records.portions, records.outcomes);
  const elapsedSeconds = Math.max(0.001, (now.getTime() - Date.parse(spec.createdAt)) / 1000);
  const settled = summary.copied + summary.failed + summary.vanished;
  const rate = settled / elapsedSeconds;
  const remaining = summary.listed - settled - summary.halted;
  const state: JobState = summary.complete ? "complete" : haltMarked ? "halted" : summary.rangesCovered ? "copying" : "listing";
  return {
    ...summary,
    jobId,
    state,
    haltMarked,
    elapsedSeconds,
    rate,
    etaSeconds: state === "copying" && rate > 0 ? remaining / rate : state === "complete" ? 0 : undefined,
    queues,
  };
}

export interface HaltResult {
  readonly jobId: string;
  readonly purged: readonly string[];
  readonly waitedMs: number;
}

/**
 * Race-free halt: write the marker, wait until every handler's cached view of
 * it has expired (so none can start a copy or enqueue without seeing it),
 * then purge the work queues.
 */
export async function haltJob(
  c: Connection,
  jobId: string,
  options: { purge: boolean; reason?: string; waitMs?: number; sleep?: (ms: number) => Promise<void>; onMarked?: () => void },
): Promise<HaltResult> {
  await readSpec(c, jobId);
  await c.ledger.writeHalt(jobId, options.reason ?? "halted by operator");
  options.onMarked?.();
  const waitedMs = options.waitMs ?? HALT_CHECK_TTL_MS + 1_000;
  await (options.sleep ?? ((ms) => new Promise((r) => setTimeout(r, ms))))(waitedMs);
  const purged: string[] = [];
  if (options.purge) {
    for (const url of [c.deployment.listQueueUrl, c.deployment.copyQueueUrl]) {
      try {
        await c.sqs.send(new PurgeQueueCommand({ QueueUrl: url }));
      } catch (err) {
        // SQS allows one purge a minute; one in progress empties the queue all the same.
        if (errorInfo(err).code !== "PurgeQueueInProgress" && errorInfo(err).code !== "AWS.SimpleQueueService.PurgeQueueInProgress")
          throw err;
      }
      purged.push(url);
    }
  }
  return { jobId, purged, waitedMs };
}
