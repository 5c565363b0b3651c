/**
 * What the operator commands share: finding the deployment and building the
 * clients and ledger for it, and the job-level operations themselves.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { PurgeQueueCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import type { ManifestRequest } from "../../lambdas/aws/jobStart.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { parseSize } from "../../lambdas/core/copyPlan.ts";
import { S3FanoutError, UsageError } from "../../lambdas/core/errors.ts";
import { HALT_CHECK_TTL_MS } from "../../lambdas/core/halt.ts";
import type { JobSpec } from "../../lambdas/core/jobSpec.ts";
import { type JobSummary, summarize } from "../../lambdas/core/ledger.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";
import { queueDepth } from "../local/queues.ts";
import { endpointUrl } from "./cli.ts";
import { type Deployment, loadDeployment } from "./deployment.ts";
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

// The job start lives in lambdas/aws/jobStart.ts: kickoff and the start-job function of a schedule run the same code.
export { type KickoffResult, kickoff, type ManifestRequest, seedTasks } from "../../lambdas/aws/jobStart.ts";

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
  // Once the marker exists, batches left without an outcome were purged: their keys are halted, not pending.
  const summary = summarize(records.portions, records.outcomes, records.deletion, haltMarked);
  const elapsedSeconds = Math.max(0.001, (now.getTime() - Date.parse(spec.createdAt)) / 1000);
  const settled = summary.copied + summary.failed + summary.vanished;
  const rate = settled / elapsedSeconds;
  const remaining = summary.listed - settled - summary.halted;
  // A halted job is complete only if it finished before the halt left any key uncopied (summary.halted is 0).
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

/** One run of a schedule, from the ledger: `end` is when its ledger was last written, once it is complete or halted. */
export interface ScheduledRunSummary {
  readonly jobId: string;
  readonly start: string;
  readonly end: string | null;
  readonly copied: number;
  readonly deleted: number;
  readonly failed: number;
  readonly complete: boolean;
}

/** A schedule's runs, oldest first, each proven from its job's ledger (the index names them: lambdas/core/schedule.ts). */
export async function scheduleHistory(c: Pick<Connection, "ledger">, schedule: string): Promise<ScheduledRunSummary[]> {
  const runs: ScheduledRunSummary[] = [];
  for (const jobId of await c.ledger.scheduledRunIds(schedule)) {
    const spec = await c.ledger.readSpec(jobId);
    // An index entry is written after the spec; one without a spec names no job to report.
    if (spec === undefined) continue;
    const [records, halted] = await Promise.all([c.ledger.readRecords(jobId), c.ledger.isHaltMarked(jobId)]);
    const summary = summarize(records.portions, records.outcomes, records.deletion, halted);
    const end = summary.complete || halted ? ((await c.ledger.lastWriteAt(jobId))?.toISOString() ?? null) : null;
    runs.push({
      jobId,
      start: spec.createdAt,
      end,
      copied: summary.copied,
      deleted: summary.deleted,
      failed: summary.failed,
      complete: summary.complete,
    });
  }
  return runs;
}
