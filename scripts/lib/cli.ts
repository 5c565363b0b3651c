/** Shared plumbing of the operator commands: argument errors, exit codes, output. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import * as v from "valibot";
import { MAX_PART_BYTES, MIN_PART_BYTES, parseSize } from "../../lambdas/core/copyPlan.ts";
import { S3FanoutError, UsageError } from "../../lambdas/core/errors.ts";
import { CHECKSUM_ALGORITHMS, type JobOptions, JobOptionsSchema, optionProblems, STORAGE_CLASSES } from "../../lambdas/core/jobOptions.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";

/** Exit codes: 0 done, 1 the job or check failed, 2 bad usage, 3 could not run (endpoint, access). */
export const EXIT = { ok: 0, failed: 1, usage: 2, error: 3 } as const;

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(`${message} (see --help)`);
  }
}

export function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

export function endpointUrl(value: string | undefined): string | undefined {
  const endpoint = value ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint === undefined || endpoint === "") return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint must be a URL such as http://127.0.0.1:4566, got "${endpoint}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--endpoint must be http(s), got "${endpoint}"`);
  return endpoint;
}

/** Runs a command's main: one clear line on stderr and a non-zero exit on error, never a stack trace. */
export async function runCommand(main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (err instanceof S3FanoutError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = EXIT.error;
    } else {
      const info = errorInfo(err);
      process.stderr.write(`error: ${info.code}: ${info.message}\n`);
      if (process.env.S3_FANOUT_DEBUG) process.stderr.write(`${err instanceof Error ? err.stack : ""}\n`);
      process.exitCode = EXIT.error;
    }
  }
}

/** The job options every job-starting command takes (local, kickoff). */
export const JOB_OPTION_FLAGS = {
  sync: { type: "boolean" },
  delete: { type: "boolean" },
  "max-delete": { type: "string" },
  "multipart-threshold": { type: "string" },
  "part-size": { type: "string" },
  include: { type: "string", multiple: true },
  exclude: { type: "string", multiple: true },
  "storage-class": { type: "string" },
  "metadata-directive": { type: "string" },
  metadata: { type: "string", multiple: true },
  "tagging-directive": { type: "string" },
  tagging: { type: "string" },
  acl: { type: "string" },
  sse: { type: "string" },
  "sse-kms-key-id": { type: "string" },
  "checksum-algorithm": { type: "string" },
  "requester-pays": { type: "boolean" },
  "dest-region": { type: "string" },
} as const;

export const JOB_OPTION_USAGE = `  --sync                      copy only keys missing or different in the destination (same size and ETag: skipped)
  --delete                    with --sync: delete destination keys the source lacks, once the whole source
                              listing is done and none of it failed (ledger records under the job are kept)
  --max-delete N              with --delete: if more than N keys would be deleted, delete none and fail
  --multipart-threshold SIZE  copy objects above SIZE by parts (default 64MiB; always above 5GiB)
  --part-size SIZE            bytes per part, 5MiB-5GiB (default 64MiB; grown to fit 10,000 parts)
  --include GLOB              copy only keys (below the source prefix) matching GLOB; repeatable
  --exclude GLOB              skip keys matching GLOB; repeatable (* within a segment, ** across, ? one char)
  --storage-class CLASS       ${STORAGE_CLASSES.join(", ")}
  --metadata-directive D      COPY (default) or REPLACE (with --metadata; content headers reset)
  --metadata K=V              user metadata for REPLACE; repeatable
  --tagging-directive D       COPY (default) or REPLACE (with --tagging)
  --tagging "K=V&K2=V2"       tags for REPLACE
  --acl ACL                   canned ACL, e.g. bucket-owner-full-control for cross-account copies
  --sse AES256|aws:kms        server-side encryption of the copies
  --sse-kms-key-id ID         KMS key for --sse aws:kms
  --checksum-algorithm A      ${CHECKSUM_ALGORITHMS.join(", ")}
  --requester-pays            the source is a requester-pays bucket
  --dest-region REGION        the destination bucket's region, when not the pipeline's`;

type JobOptionArgs = {
  [K in keyof typeof JOB_OPTION_FLAGS]?: (typeof JOB_OPTION_FLAGS)[K] extends { multiple: true }
    ? string[] | undefined
    : (typeof JOB_OPTION_FLAGS)[K] extends { type: "boolean" }
      ? boolean | undefined
      : string | undefined;
};

export function jobOptionsFromArgs(args: JobOptionArgs): JobOptions | undefined {
  const raw: Record<string, unknown> = {
    sync: args.sync,
    delete: args.delete,
    include: args.include,
    exclude: args.exclude,
    storageClass: args["storage-class"],
    metadataDirective: args["metadata-directive"],
    taggingDirective: args["tagging-directive"],
    tagging: args.tagging,
    acl: args.acl,
    sse: args.sse,
    sseKmsKeyId: args["sse-kms-key-id"],
    checksumAlgorithm: args["checksum-algorithm"],
    requesterPays: args["requester-pays"],
    destinationRegion: args["dest-region"],
  };
  const maxDelete = args["max-delete"];
  if (maxDelete !== undefined) {
    if (!/^\d+$/.test(maxDelete)) throw new UsageError(`--max-delete must be a whole number, got "${maxDelete}"`);
    raw.maxDelete = Number(maxDelete);
  }
  if (args["multipart-threshold"] !== undefined) raw.multipartThreshold = parseSize(args["multipart-threshold"], "--multipart-threshold");
  if (args["part-size"] !== undefined) {
    const partSize = parseSize(args["part-size"], "--part-size");
    if (partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES)
      throw new UsageError(`--part-size must be from 5MiB to 5GiB, got "${args["part-size"]}"`);
    raw.partSize = partSize;
  }
  if (args.metadata !== undefined) {
    raw.metadata = Object.fromEntries(
      args.metadata.map((pair) => {
        const eq = pair.indexOf("=");
        if (eq <= 0) throw new UsageError(`--metadata must be KEY=VALUE, got "${pair}"`);
        return [pair.slice(0, eq).toLowerCase(), pair.slice(eq + 1)];
      }),
    );
  }
  for (const k of Object.keys(raw)) if (raw[k] === undefined) delete raw[k];
  if (Object.keys(raw).length === 0) return undefined;
  const parsed = v.safeParse(JobOptionsSchema, raw);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue?.path?.map((p) => String(p.key)).join(".") ?? "option";
    throw new UsageError(`invalid ${field}: ${issue?.message ?? "?"}`);
  }
  const problem = optionProblems(parsed.output)[0];
  if (problem) throw new UsageError(problem);
  return parsed.output;
}
