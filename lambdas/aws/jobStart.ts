/**
 * Starting a job: preflight, write the spec, seed the listing ranges (or manifest chunks). One
 * function for every way a job starts: `kickoff` (scripts/kickoff.ts, through
 * scripts/lib/operator.ts) and the start-job function a schedule invokes (lambdas/start).
 */
import { HeadBucketCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { ConfigError, S3FanoutError } from "../core/errors.ts";
import type { JobOptions } from "../core/jobOptions.ts";
import { type JobSpec, jobRefOf } from "../core/jobSpec.ts";
import { decodeS3ListKey } from "../core/keyCodec.ts";
import { summarize } from "../core/ledger.ts";
import { type JobRef, type ListTask, listBody, type S3Location } from "../core/messages.ts";
import { DEFAULT_SPLIT_POINTS, MAX_PREFIX_SEEDS, seedRanges, seedSplitPoints } from "../core/ranges.ts";
import { errorInfo, retrying } from "../core/retry.ts";
import type { RunState, ScheduledStartPorts } from "../core/schedule.ts";
import { newJobId, selectionsOverlap } from "../core/selection.ts";
import type { S3Ledger } from "./s3Ledger.ts";
import { planManifest } from "./s3Manifest.ts";
import { SqsMessageSink } from "./sqsSink.ts";

export class PreflightError extends S3FanoutError {}

const s3Url = (location: S3Location) => `s3://${location.bucket}/${location.prefix}`;

export async function checkBucket(s3: S3Client, bucket: string, role: string): Promise<void> {
  try {
    await retrying(() => s3.send(new HeadBucketCommand({ Bucket: bucket })));
  } catch (err) {
    const info = errorInfo(err);
    if (info.status === 404 || info.code === "NotFound" || info.code === "NoSuchBucket") {
      throw new PreflightError(`${role} bucket "${bucket}" does not exist`);
    }
    if (info.status === 403 || info.code === "Forbidden" || info.code === "AccessDenied") {
      throw new PreflightError(`no access to ${role} bucket "${bucket}" (403 Forbidden)`);
    }
    throw new PreflightError(`cannot reach ${role} bucket "${bucket}": ${info.code} ${info.message}`.trim());
  }
}

/** Checks before a job starts: both buckets reachable, selections apart. */
export async function preflight(s3: S3Client, source: S3Location, destination: S3Location): Promise<void> {
  if (selectionsOverlap(source, destination)) {
    throw new PreflightError(`destination ${s3Url(destination)} overlaps source ${s3Url(source)}: a job must not copy into what it reads`);
  }
  // Both at once; when both fail, the source's error is the one told.
  const checks = await Promise.allSettled([checkBucket(s3, source.bucket, "source"), checkBucket(s3, destination.bucket, "destination")]);
  for (const c of checks) if (c.status === "rejected") throw c.reason;
}

/** What starting a job needs to know of its deployment: a part of scripts/lib/deployment.ts's Deployment. */
export interface StartDeployment {
  readonly stackName: string;
  readonly listQueueUrl: string;
  readonly listDlqUrl: string;
  readonly copyQueueUrl: string;
  readonly copyDlqUrl: string;
  readonly ledgerBucket: string;
  /** Buckets the stack may read; empty means any (the local stack). */
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
  readonly manifestBuckets?: readonly string[] | undefined;
  /** False when the stack may not delete (no -c allowDelete): a job with --delete is refused. */
  readonly deletionsAllowed?: boolean | undefined;
}

/** The clients and ledger a job starts through (scripts/lib/operator.ts's Connection is one). */
export interface StartTarget {
  readonly deployment: StartDeployment;
  readonly s3: S3Client;
  readonly sqs: SQSClient;
  readonly ledger: S3Ledger;
}

type Env = Readonly<Record<string, string | undefined>>;

/** The deployment from the start-job function's environment (lib/scheduled-sync.ts sets it). */
export function startDeploymentFromEnv(env: Env = process.env): StartDeployment {
  const required = (name: string) => {
    const value = env[name];
    if (value === undefined || value === "") throw new ConfigError(`environment variable ${name} is required`);
    return value;
  };
  const names = (name: string) =>
    (env[name] ?? "")
      .split(",")
      .map((b) => b.trim())
      .filter(Boolean);
  return {
    stackName: env.STACK_NAME ?? "S3Fanout",
    listQueueUrl: required("LIST_QUEUE_URL"),
    listDlqUrl: required("LIST_DLQ_URL"),
    copyQueueUrl: required("COPY_QUEUE_URL"),
    copyDlqUrl: required("COPY_DLQ_URL"),
    ledgerBucket: required("LEDGER_BUCKET"),
    sourceBuckets: names("SOURCE_BUCKETS"),
    destinationBuckets: names("DESTINATION_BUCKETS"),
    manifestBuckets: names("MANIFEST_BUCKETS"),
  };
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

/** The list tasks that start a job: its manifest's chunks, else the seeded key ranges. */
export async function seedTasks(
  s3: S3Client,
  job: JobRef,
  manifest: ManifestRequest | undefined,
  splitPoints?: readonly string[],
  /** Top-level prefixes seeded as ranges of their own, at most: the list invocations that run at once. */
  maxPrefixSeeds = MAX_PREFIX_SEEDS,
): Promise<{ tasks: ListTask[]; manifest?: JobSpec["manifest"]; seedPoints?: string[] }> {
  if (manifest === undefined) {
    const points = splitPoints ?? seedSplitPoints(job.source.prefix, await topLevelPrefixes(s3, job.source), maxPrefixSeeds);
    return { tasks: seedRanges(job.source.prefix, points).map((range) => ({ job, range, hop: 0 })), seedPoints: [...points] };
  }
  const plan = await planManifest(s3, manifest, manifest.chunkBytes);
  return {
    tasks: plan.chunks.map((chunk) => ({ job, range: {}, hop: 0, manifest: { ...chunk, row: 0, byte: chunk.start } })),
    manifest: { bucket: manifest.bucket, key: manifest.key, format: plan.format, files: plan.files.length },
  };
}

/** Pages of the delimited listing read for top-level prefixes: objects at the top level share its pages. */
const PREFIX_LISTING_PAGES = 3;

/**
 * The source's top-level prefixes under the job's prefix, from a delimited listing (its first pages: a
 * bucket with more prefixes seeds the first of them, and its ranges split the rest as listed). Only a
 * refinement of the seeds: when the listing fails (no s3:ListBucket for whoever starts the job, an
 * endpoint that does not delimit), the job is seeded at the default points, and its listing, which
 * runs with the list function's own grants, reports any real error.
 */
export async function topLevelPrefixes(s3: S3Client, source: S3Location): Promise<string[]> {
  const found: string[] = [];
  try {
    let token: string | undefined;
    for (let page = 0; page < PREFIX_LISTING_PAGES; page++) {
      const out = await retrying(() =>
        s3.send(
          new ListObjectsV2Command({
            Bucket: source.bucket,
            Prefix: source.prefix || undefined,
            Delimiter: "/",
            EncodingType: "url",
            ContinuationToken: token,
          }),
        ),
      );
      const decode = out.EncodingType === "url" ? decodeS3ListKey : (k: string) => k;
      for (const p of out.CommonPrefixes ?? []) if (p.Prefix !== undefined) found.push(decode(p.Prefix));
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
      if (token === undefined) break;
    }
  } catch {
    return [];
  }
  return found;
}

/** How to grant one more bucket: the kept settings' whole list, then a deploy (a one-off -c would be lost on the next). */
function redeployWith(flag: string, current: readonly string[], bucket: string): string {
  return `add it with \`npm run configure -- --${flag} ${[...current, bucket].join(",")}\` and \`npx cdk deploy\``;
}

/** Preflight, write the spec, then seed the listing ranges (or manifest chunks): after this the pipeline runs the job. */
export async function kickoff(
  c: StartTarget,
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
  if (options?.delete === true && deployment.deletionsAllowed === false) {
    throw new PreflightError(
      `stack ${deployment.stackName} may not delete from "${destination.bucket}": allow it with \`npm run configure -- --allow-delete true\` and \`npx cdk deploy\``,
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
    ...(seeds.seedPoints === undefined ? {} : { seedPoints: seeds.seedPoints }),
  };
  const withOptions: JobSpec = options === undefined ? base : { ...base, options };
  const spec: JobSpec = seeds.manifest === undefined ? withOptions : { ...withOptions, manifest: seeds.manifest };
  await c.ledger.writeSpec(spec);
  await sendSeeds(c, spec, seeds.tasks);
  return { spec, ledgerUrl: `s3://${c.ledger.bucket}/${c.ledger.jobPrefix(jobId)}` };
}

async function sendSeeds(c: StartTarget, spec: JobSpec, tasks: readonly ListTask[]): Promise<void> {
  const { deployment } = c;
  const job = jobRefOf(spec);
  const sink = new SqsMessageSink(c.sqs, {
    list: deployment.listQueueUrl,
    copy: deployment.copyQueueUrl,
    listDlq: deployment.listDlqUrl,
    copyDlq: deployment.copyDlqUrl,
  });
  await sink.send(
    "list",
    tasks.map((task) => ({ body: listBody({ ...task, job }) })),
  );
}

/**
 * Sends a started job's seeds again, from its spec: for a start cut short after the spec was written
 * (a scheduled run's retry). Seeds sent twice are harmless: listing is idempotent and batch ids are
 * deterministic. A manifest job re-plans its manifest; if that no longer gives the chunks the spec
 * counted, the job could never complete, so it throws instead.
 */
export async function reseed(c: StartTarget, jobId: string, manifest?: ManifestRequest): Promise<void> {
  const spec = await c.ledger.readSpec(jobId);
  if (spec === undefined) throw new S3FanoutError(`no job "${jobId}" in the ledger to seed again`);
  const request =
    spec.manifest === undefined ? undefined : { bucket: spec.manifest.bucket, key: spec.manifest.key, chunkBytes: manifest?.chunkBytes };
  // A listed job's ranges come from the points it was seeded at, not from the bucket as it is now.
  const points = spec.manifest === undefined ? (spec.seedPoints ?? DEFAULT_SPLIT_POINTS) : undefined;
  const seeds = await seedTasks(c.s3, jobRefOf(spec), request, points);
  if (seeds.tasks.length !== spec.ranges) {
    throw new S3FanoutError(
      `job "${jobId}" was started with ${spec.ranges} seed(s) but now has ${seeds.tasks.length}: halt it (npm run halt -- --job ${jobId})`,
    );
  }
  await sendSeeds(c, spec, seeds.tasks);
}

/**
 * Where a job stands, proven from its ledger: "finished" is complete or halted. A job with no spec
 * never started (a run whose start failed after its index entry), so it holds nothing up.
 */
export async function runState(ledger: S3Ledger, jobId: string): Promise<RunState> {
  if ((await ledger.readSpec(jobId)) === undefined) return "missing";
  if (await ledger.isHaltMarked(jobId)) return "halted";
  const records = await ledger.readRecords(jobId);
  return summarize(records.portions, records.outcomes, records.deletion).complete ? "complete" : "unfinished";
}

/** The ports of a scheduled run's start, over the ledger and kickoff itself. */
export function scheduledStartPorts(target: StartTarget, now: () => Date = () => new Date()): ScheduledStartPorts {
  const { ledger } = target;
  return {
    listRuns: (schedule) => ledger.scheduledRunIds(schedule),
    recordRun: (run) => ledger.recordScheduledRun(run),
    jobExists: async (jobId) => (await ledger.readSpec(jobId)) !== undefined,
    runState: (jobId) => runState(ledger, jobId),
    start: async (jobId, job) => {
      await kickoff(target, job.source, job.destination, jobId, job.options, job.manifest);
    },
    reseed: (jobId, job) => reseed(target, jobId, job.manifest),
    now,
  };
}
