/** Builds handler dependencies from the Lambda environment, once per cold start. */
import { Logger } from "@aws-lambda-powertools/logger";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { configFromEnv, type PipelineConfig } from "../config.ts";
import { ConfigError } from "../core/errors.ts";
import { CachedHaltSignal } from "../core/halt.ts";
import { createS3Client, createSqsClient } from "./clients.ts";
import { scheduledStartPorts, startDeploymentFromEnv } from "./jobStart.ts";
import { S3Ledger } from "./s3Ledger.ts";
import { S3ManifestSource } from "./s3Manifest.ts";
import { S3ObjectStore } from "./s3Store.ts";
import { SqsMessageSink } from "./sqsSink.ts";

export function lambdaDeps() {
  const config: PipelineConfig = configFromEnv();
  const ledgerBucket = process.env.LEDGER_BUCKET;
  if (!ledgerBucket) throw new ConfigError("environment variable LEDGER_BUCKET is required");
  const s3 = createS3Client({ maxSockets: config.copyConcurrency + 16 });
  const sqs = createSqsClient();
  const ledger = new S3Ledger(s3, ledgerBucket, process.env.LEDGER_PREFIX ?? "");
  const maxSockets = config.copyConcurrency + 16;
  const clients = new Map<string, ReturnType<typeof createS3Client>>();
  /** One client per destination region and purpose, built on first use. */
  const client = (region: string | undefined, maxAttempts: number | undefined) => {
    const key = `${region ?? ""}/${maxAttempts ?? ""}`;
    const c = clients.get(key) ?? createS3Client({ region, maxSockets, maxAttempts });
    clients.set(key, c);
    return c;
  };
  // Copies get one SDK attempt: the copier retries them itself and its limiter must hear every SlowDown.
  const store = new S3ObjectStore(
    s3,
    (region) => client(region, undefined),
    (region) => client(region, 1),
  );
  const sink = new SqsMessageSink(sqs, config.queues);
  return {
    config,
    store,
    multipart: store,
    deleter: store,
    manifests: new S3ManifestSource(s3),
    sink,
    redelivery: sink,
    ledger,
    halt: new CachedHaltSignal((jobId) => ledger.isHaltMarked(jobId)),
    logger: new Logger({ serviceName: "s3-fanout" }),
    metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "S3Fanout", serviceName: "s3-fanout" }),
  };
}

/** The start-job function's dependencies: the deployment it starts jobs on, from its environment (lib/scheduled-sync.ts). */
export function startLambdaDeps() {
  const deployment = startDeploymentFromEnv();
  const s3 = createS3Client();
  const ledger = new S3Ledger(s3, deployment.ledgerBucket, process.env.LEDGER_PREFIX ?? "");
  return {
    ports: scheduledStartPorts({ deployment, s3, sqs: createSqsClient(), ledger }),
    logger: new Logger({ serviceName: "s3-fanout" }),
    metrics: new Metrics({ namespace: process.env.POWERTOOLS_METRICS_NAMESPACE ?? "S3Fanout", serviceName: "s3-fanout" }),
  };
}
