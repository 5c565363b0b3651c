/** Builds the live function's dependencies from the Lambda environment, once per cold start. */
import { liveConfigFromEnv } from "../live/config.ts";
import type { LiveHandlerDeps } from "../live/handler.ts";
import { createS3Client, createSqsClient } from "./clients.ts";
import { lambdaDeps } from "./lambdaRuntime.ts";
import { liveQueueSink } from "./liveQueues.ts";
import { S3ObjectStore } from "./s3Store.ts";

export function liveLambdaDeps(): LiveHandlerDeps {
  const base = lambdaDeps();
  const live = liveConfigFromEnv();
  const region = live.job.options?.destinationRegion;
  // HEADs of the destination go to its own region; the source's through the pipeline's client.
  const destinationHeads = region === undefined ? base.store : new S3ObjectStore(createS3Client({ region, maxSockets: 64 }));
  return {
    ...base,
    job: live.job,
    allowDelete: live.allowDelete,
    sourceHeads: base.store,
    destinationHeads,
    deleter: base.store,
    specs: base.ledger,
    liveQueues: liveQueueSink(createSqsClient(), live.queueUrl, live.dlqUrl),
  };
}
