/** Test helpers around the embedded emulator: a server per test file, clients pointed at it, seeded buckets. */
import assert from "node:assert/strict";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { type ClientOptions, createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { type Emulator, spawnEmulator } from "../../scripts/lib/emulator.ts";
import { ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { s3VerifyDeps, verifySelections } from "../../scripts/lib/verify.ts";

export interface TestEmulator extends Emulator {
  readonly s3: S3Client;
  readonly sqs: SQSClient;
}

/** The emulator in its own process: the pipeline under test and the emulator each get a core. */
export async function startTestEmulator(): Promise<TestEmulator> {
  const emulator = await spawnEmulator(0);
  return {
    ...emulator,
    s3: createS3Client({ endpoint: emulator.endpoint }),
    sqs: createSqsClient({ endpoint: emulator.endpoint }),
  };
}

/** An S3 client as createS3Client builds it, with a middleware added (as the bench's request counter is): it keeps the SDK path. */
export function sdkPathS3Client(options: ClientOptions): S3Client {
  const client = createS3Client(options);
  client.middlewareStack.add((next) => (args) => next(args), { step: "initialize", name: "testMarker" });
  return client;
}

let counter = 0;
/** A bucket name unique within the run. */
export function bucketName(what: string): string {
  counter++;
  return `${what}-${process.pid}-${counter}`.toLowerCase();
}

/** A source bucket holding a seed object for each of `keys`, and an empty destination bucket. */
export async function seedBuckets(emulator: TestEmulator, what: string, keys: readonly string[]) {
  const source = bucketName(`${what}-src`);
  const destination = bucketName(`${what}-dst`);
  await ensureBucket(emulator.s3, source);
  await ensureBucket(emulator.s3, destination);
  await putObjects(emulator.s3, source, keys.map(seedObject), 64);
  return { source, destination };
}

/** Asserts, by listing both whole, that the destination holds exactly the source's objects (keys, sizes, ETags). */
export async function assertSameObjects(s3: S3Client, source: string, destination: string, expected: number): Promise<void> {
  const counts = await verifySelections({
    source: { bucket: source, prefix: "" },
    destination: { bucket: destination, prefix: "" },
    ...s3VerifyDeps(s3),
  });
  assert.deepEqual({ matching: counts.matching, differences: counts.differences }, { matching: expected, differences: 0 });
}
