/** The stack composes the queues, functions, ledger and dashboard, and grants least privilege. */

import { fileURLToPath } from "node:url";
import { CfnOutput, Duration, Stack, type StackProps, Token } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import type { Construct } from "constructs";
import { BucketSet } from "./bucket-set.ts";
import { LedgerBucket } from "./ledger-bucket.ts";
import { PipelineDashboard } from "./pipeline-dashboard.ts";
import { PipelineFunction } from "./pipeline-function.ts";
import { WorkQueue } from "./work-queue.ts";

export interface S3FanoutStackProps extends StackProps {
  /** Buckets the pipeline reads from (names, not ARNs); context `sourceBucket`, comma-separated. */
  readonly sourceBuckets: readonly string[];
  /** Buckets the pipeline writes to (names, not ARNs); context `destinationBucket`, comma-separated. */
  readonly destinationBuckets: readonly string[];
  /** Key ARN of the KMS key of the source objects; context `sourceKmsKeyArn`. @default none: no kms permission */
  readonly sourceKmsKeyArn?: string;
  /** Key ARN of the KMS key the destination objects are written with; context `destinationKmsKeyArn`. @default none: no kms permission */
  readonly destinationKmsKeyArn?: string;
  /** Existing bucket for the job ledger (not a source or destination bucket); context `ledgerBucket`. @default a new private bucket */
  readonly ledgerBucket?: string;
  /** Concurrent list invocations at most (2-1000); context `listMaxConcurrency`. @default 10 */
  readonly listMaxConcurrency?: number;
  /** Concurrent copy invocations at most (2-1000); context `copyMaxConcurrency`. @default 50 */
  readonly copyMaxConcurrency?: number;
  /** Copies in flight per copy invocation; context `copyConcurrency`. @default 64 */
  readonly copyConcurrency?: number;
  /** Buckets holding manifests (S3 Inventory, Batch Operations CSV) the list function may read; context `manifestBucket`, comma-separated. @default none */
  readonly manifestBuckets?: readonly string[];
  /** Key ARN of the KMS key of an existing ledger bucket; context `ledgerKmsKeyArn`. @default none: SSE-S3 */
  readonly ledgerKmsKeyArn?: string;
  /** Address every alarm notifies, through an SNS topic; context `alarmEmail`. @default none: alarms without actions */
  readonly alarmEmail?: string;
}

const entry = (path: string) => fileURLToPath(new URL(`../lambdas/${path}`, import.meta.url));

/** Lambda's limits for an SQS event source's maximum concurrency. */
function maxConcurrency(name: string, value: number): number {
  if (!Token.isUnresolved(value) && (!Number.isInteger(value) || value < 2 || value > 1000)) {
    throw new Error(`${name} must be an integer from 2 to 1000 (Lambda's limits for an SQS event source), got ${value}`);
  }
  return value;
}

export class S3FanoutStack extends Stack {
  public readonly sources: BucketSet;
  public readonly destinations: BucketSet;
  public readonly ledger: LedgerBucket;
  public readonly listWork: WorkQueue;
  public readonly copyWork: WorkQueue;
  public readonly lister: PipelineFunction;
  public readonly copier: PipelineFunction;
  public readonly dashboard: PipelineDashboard;

  constructor(scope: Construct, id: string, props: S3FanoutStackProps) {
    super(scope, id, props);
    this.sources = new BucketSet("source", { bucketNames: props.sourceBuckets, kmsKeyArn: props.sourceKmsKeyArn });
    this.destinations = new BucketSet("destination", { bucketNames: props.destinationBuckets, kmsKeyArn: props.destinationKmsKeyArn });
    const ledgerName = props.ledgerBucket?.trim();
    if (ledgerName !== undefined && [...this.sources.bucketNames, ...this.destinations.bucketNames].includes(ledgerName)) {
      throw new Error(
        `ledgerBucket "${ledgerName}" is also a source or destination bucket: a job must not copy or verify its own bookkeeping`,
      );
    }
    const listMaxConcurrency = maxConcurrency("listMaxConcurrency", props.listMaxConcurrency ?? 10);
    const copyMaxConcurrency = maxConcurrency("copyMaxConcurrency", props.copyMaxConcurrency ?? 50);
    const copyConcurrency = props.copyConcurrency ?? 64;
    if (!Token.isUnresolved(copyConcurrency) && (!Number.isInteger(copyConcurrency) || copyConcurrency < 1)) {
      throw new Error(`copyConcurrency must be a positive integer, got ${copyConcurrency}`);
    }
    const listTimeout = Duration.minutes(15);
    const copyTimeout = Duration.minutes(5);

    this.ledger = new LedgerBucket(this, "Ledger", { existingBucketName: ledgerName });
    this.listWork = new WorkQueue(this, "ListObjects", { consumerTimeout: listTimeout, maxReceiveCount: 5, description: "list work" });
    this.copyWork = new WorkQueue(this, "CopyObjects", { consumerTimeout: copyTimeout, maxReceiveCount: 5, description: "copy work" });

    const environment = {
      LIST_QUEUE_URL: this.listWork.queue.queueUrl,
      COPY_QUEUE_URL: this.copyWork.queue.queueUrl,
      LIST_DLQ_URL: this.listWork.deadLetterQueue.queueUrl,
      COPY_DLQ_URL: this.copyWork.deadLetterQueue.queueUrl,
      LEDGER_BUCKET: this.ledger.bucket.bucketName,
      COPY_CONCURRENCY: String(copyConcurrency),
    };
    // Both functions feed their own queue on purpose (list continuations, copy retries and resumed
    // parts), so Lambda's recursive-loop detection must not drop the 16th hop of a long job.
    this.lister = new PipelineFunction(this, "ListFunction", {
      entry: entry("list/index.ts"),
      timeout: listTimeout,
      environment,
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      description: "s3-fanout: lists a source key range and enqueues copy batches",
    });
    this.copier = new PipelineFunction(this, "CopyFunction", {
      entry: entry("copy/index.ts"),
      timeout: copyTimeout,
      environment,
      recursiveLoop: lambda.RecursiveLoop.ALLOW,
      description: "s3-fanout: copies a batch of keys server-side",
    });

    this.lister.fn.addEventSource(
      new eventsources.SqsEventSource(this.listWork.queue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: listMaxConcurrency,
      }),
    );
    this.copier.fn.addEventSource(
      new eventsources.SqsEventSource(this.copyWork.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: copyMaxConcurrency,
      }),
    );

    // List: read the source listing; continue and split on its own queue, emit copy work, park poison.
    this.sources.grantList(this.lister.role);
    // HEAD for manifest rows that carry no size, and reading a manifest kept in a source bucket.
    this.sources.grantReadObjects(this.lister.role);
    // Sync jobs merge-join the destination's listing, and HEAD copies by parts to read the source ETag they record.
    this.destinations.grantList(this.lister.role);
    this.destinations.grantHeadObjects(this.lister.role);
    this.listWork.queue.grantSendMessages(this.lister.role);
    this.listWork.deadLetterQueue.grantSendMessages(this.lister.role);
    this.copyWork.queue.grantSendMessages(this.lister.role);
    this.ledger.grantReadWrite(this.lister.role);

    // Copy: read source objects (ListBucket too, so that a key gone since listing is a 404 NoSuchKey,
    // not a 403), write destination objects (ListBucket there for sync), re-enqueue and park failures.
    this.sources.grantList(this.copier.role);
    this.sources.grantReadObjects(this.copier.role);
    this.destinations.grantList(this.copier.role);
    this.destinations.grantWriteObjects(this.copier.role);
    this.copyWork.queue.grantSendMessages(this.copier.role);
    this.copyWork.deadLetterQueue.grantSendMessages(this.copier.role);
    this.ledger.grantReadWrite(this.copier.role);

    this.dashboard = new PipelineDashboard(this, "Dashboard", {
      listFunction: this.lister.fn,
      copyFunction: this.copier.fn,
      listWork: this.listWork,
      copyWork: this.copyWork,
    });

    // Operator scripts read these names from `cdk deploy --outputs-file`: keep them.
    const outputs: Record<string, string> = {
      ListQueueUrl: this.listWork.queue.queueUrl,
      ListDlqUrl: this.listWork.deadLetterQueue.queueUrl,
      CopyQueueUrl: this.copyWork.queue.queueUrl,
      CopyDlqUrl: this.copyWork.deadLetterQueue.queueUrl,
      ListFunctionName: this.lister.fn.functionName,
      CopyFunctionName: this.copier.fn.functionName,
      LedgerBucket: this.ledger.bucket.bucketName,
      DashboardName: this.dashboard.dashboardName,
      SourceBuckets: this.sources.bucketNames.join(","),
      DestinationBuckets: this.destinations.bucketNames.join(","),
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}
