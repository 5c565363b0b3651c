/** Checks before a job starts: both buckets reachable, selections apart. */
import { HeadBucketCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3FanoutError } from "../../lambdas/core/errors.ts";
import type { S3Location } from "../../lambdas/core/messages.ts";
import { errorInfo, retrying } from "../../lambdas/core/retry.ts";
import { selectionsOverlap } from "../../lambdas/core/selection.ts";
import { formatS3Url } from "./s3url.ts";

export class PreflightError extends S3FanoutError {}

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

export async function preflight(s3: S3Client, source: S3Location, destination: S3Location): Promise<void> {
  if (selectionsOverlap(source, destination)) {
    throw new PreflightError(
      `destination ${formatS3Url(destination)} overlaps source ${formatS3Url(source)}: a job must not copy into what it reads`,
    );
  }
  // Both at once; when both fail, the source's error is the one told.
  const checks = await Promise.allSettled([checkBucket(s3, source.bucket, "source"), checkBucket(s3, destination.bucket, "destination")]);
  for (const c of checks) if (c.status === "rejected") throw c.reason;
}
