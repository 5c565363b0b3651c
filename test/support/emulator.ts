/** Test helpers around the embedded emulator: a server per test file, clients pointed at it. */
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { type Emulator, spawnEmulator } from "../../scripts/lib/emulator.ts";

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

let counter = 0;
/** A bucket name unique within the run. */
export function bucketName(what: string): string {
  counter++;
  return `${what}-${process.pid}-${counter}`.toLowerCase();
}
