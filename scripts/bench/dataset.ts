/**
 * The benchmark's objects: deterministic ASCII keys spread over 62 first
 * characters (so the baseline's per-prefix listing sees its usual fan-out and
 * skips nothing), seeded with bulk PutObject at high concurrency.
 */
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ensureBucket, mapLimit } from "../lib/seed.ts";

const HEADS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/** The i-th key of a data set: `<head>/<7 digits>.dat`, e.g. `k/0000010.dat`. */
export function benchKey(i: number): string {
  return `${HEADS[i % HEADS.length] ?? "x"}/${String(i).padStart(7, "0")}.dat`;
}

export function benchKeys(count: number): string[] {
  return Array.from({ length: count }, (_, i) => benchKey(i));
}

/** Creates `bucket` and puts `count` objects of `size` bytes in it. */
export async function seedBucket(
  s3: S3Client,
  bucket: string,
  count: number,
  size: number,
  concurrency: number,
  onProgress: (done: number) => void = () => undefined,
): Promise<void> {
  await ensureBucket(s3, bucket);
  const body = Buffer.alloc(size, "s3-fanout bench ");
  let done = 0;
  await mapLimit(
    Array.from({ length: count }, (_, i) => i),
    concurrency,
    async (i) => {
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: benchKey(i), Body: body, ContentType: "application/octet-stream" }));
      if (++done % 1000 === 0) onProgress(done);
    },
  );
}

/** A local job's ledger, when it lives in the destination bucket. */
const LEDGER_PREFIX = ".s3-fanout/";

/** Objects in a bucket (a job's ledger aside), counted by listing: the check that a phase copied what it says. */
export async function countObjects(s3: S3Client, bucket: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, ContinuationToken: token }));
    n += (out.Contents ?? []).filter((c) => !c.Key?.startsWith(LEDGER_PREFIX)).length;
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return n;
}
