/**
 * The ceiling: the same CopyObject requests the pipeline makes (through the
 * same S3 port and client settings), in a tight loop of `concurrency`
 * workers over a known key list: no listing, no queues, no ledger. What
 * the endpoint and the SDK allow, and so the most a copier could get.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { benchKeys } from "./dataset.ts";

export interface CeilingRun {
  readonly copied: number;
  readonly failed: number;
  readonly seconds: number;
}

export async function runCeiling(
  s3: S3Client,
  source: string,
  destination: string,
  objects: number,
  concurrency: number,
): Promise<CeilingRun> {
  const store = new S3ObjectStore(s3);
  const keys = benchKeys(objects);
  let next = 0;
  let copied = 0;
  let failed = 0;
  const started = performance.now();
  const worker = async () => {
    while (next < keys.length) {
      const key = keys[next++] ?? "";
      try {
        await store.copy({ sourceBucket: source, sourceKey: key, destinationBucket: destination, destinationKey: key, size: 0 });
        copied++;
      } catch {
        failed++;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, keys.length) }, worker));
  return { copied, failed, seconds: (performance.now() - started) / 1000 };
}
