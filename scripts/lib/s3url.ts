/** `s3://bucket/prefix` URLs as operators type them (the prefix is literal, not URL-decoded). */
import { UsageError } from "../../lambdas/core/errors.ts";
import type { S3Location } from "../../lambdas/core/messages.ts";

const BUCKET = /^[a-zA-Z0-9][a-zA-Z0-9._-]{1,253}[a-zA-Z0-9]$/;

export function parseS3Url(url: string, what = "URL"): S3Location {
  const match = /^s3:\/\/([^/]*)(?:\/(.*))?$/s.exec(url);
  if (!match) throw new UsageError(`${what} must look like s3://bucket[/prefix], got "${url}"`);
  const bucket = match[1] ?? "";
  if (!BUCKET.test(bucket)) throw new UsageError(`${what} has an invalid bucket name "${bucket}"`);
  return { bucket, prefix: match[2] ?? "" };
}

export function formatS3Url(location: S3Location): string {
  return `s3://${location.bucket}/${location.prefix}`;
}

/** The --source and --dest of a job command, both required. */
export function parseJobLocations(args: { source?: string | undefined; dest?: string | undefined }): {
  source: S3Location;
  destination: S3Location;
} {
  if (!args.source) throw new UsageError("--source s3://BUCKET[/PREFIX] is required (see --help)");
  if (!args.dest) throw new UsageError("--dest s3://BUCKET[/PREFIX] is required (see --help)");
  return { source: parseS3Url(args.source, "--source"), destination: parseS3Url(args.dest, "--dest") };
}
