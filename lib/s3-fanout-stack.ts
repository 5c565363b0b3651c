/** The stack composes the queues, functions and ledger bucket, and grants least privilege. */

import { fileURLToPath } from "node:url";
import { CfnOutput, Duration, RemovalPolicy, Stack, type StackProps } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import * as s3 from "aws-cdk-lib/aws-s3";
import type { Construct } from "constructs";
import { PipelineFunction } from "./pipeline-function.ts";
import { WorkQueue } from "./work-queue.ts";

export interface S3FanoutStackProps extends StackProps {
  /** Buckets the pipeline may read from. */
  readonly sourceBuckets: readonly string[];
  /** Buckets the pipeline may write to. */
  readonly destinationBuckets: readonly string[];
  /** Concurrent copy invocations at most. @default 50 */
  readonly copyMaxConcurrency?: number;
  /** Concurrent list invocations at most. @default 10 */
  readonly listMaxConcurrency?: number;
  /** Copies in flight per copy invocation. @default 64 */
  readonly copyConcurrency?: number;
}

const entry = (path: string) => fileURLToPath(new URL(`../lambdas/${path}`, import.meta.url));

export class S3FanoutStack extends Stack {
  constructor(scope: Construct, id: string, props: S3FanoutStackProps) {
    super(scope, id, props);
    if (props.sourceBuckets.length === 0 || props.destinationBuckets.length === 0) {
      throw new Error("S3FanoutStack needs at least one source bucket and one destination bucket");
    }
    const listTimeout = Duration.minutes(15);
    const copyTimeout = Duration.minutes(5);

    const ledger = new s3.Bucket(this, "Ledger", {
      blockPublicAccess: s3.BlockPublicAccess.BLOCK_ALL,
      encryption: s3.BucketEncryption.S3_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.RETAIN,
    });
    const listWork = new WorkQueue(this, "ListObjects", { visibilityTimeout: Duration.seconds(listTimeout.toSeconds() * 6) });
    const copyWork = new WorkQueue(this, "CopyObjects", { visibilityTimeout: Duration.seconds(copyTimeout.toSeconds() * 6) });

    const environment = {
      LIST_QUEUE_URL: listWork.queue.queueUrl,
      COPY_QUEUE_URL: copyWork.queue.queueUrl,
      LIST_DLQ_URL: listWork.deadLetterQueue.queueUrl,
      COPY_DLQ_URL: copyWork.deadLetterQueue.queueUrl,
      LEDGER_BUCKET: ledger.bucketName,
      COPY_CONCURRENCY: String(props.copyConcurrency ?? 64),
    };
    const lister = new PipelineFunction(this, "ListFunction", { entry: entry("list/index.ts"), timeout: listTimeout, environment });
    const copier = new PipelineFunction(this, "CopyFunction", { entry: entry("copy/index.ts"), timeout: copyTimeout, environment });

    lister.fn.addEventSource(
      new eventsources.SqsEventSource(listWork.queue, {
        batchSize: 1,
        reportBatchItemFailures: true,
        maxConcurrency: props.listMaxConcurrency ?? 10,
      }),
    );
    copier.fn.addEventSource(
      new eventsources.SqsEventSource(copyWork.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        maxConcurrency: props.copyMaxConcurrency ?? 50,
      }),
    );

    // List: read the source listing, feed both queues and the list DLQ.
    const sourceBucketArns = props.sourceBuckets.map((b) => `arn:${this.partition}:s3:::${b}`);
    const sourceObjectArns = sourceBucketArns.map((arn) => `${arn}/*`);
    const destinationObjectArns = props.destinationBuckets.map((b) => `arn:${this.partition}:s3:::${b}/*`);
    lister.fn.addToRolePolicy(new iam.PolicyStatement({ actions: ["s3:ListBucket"], resources: sourceBucketArns }));
    listWork.queue.grantSendMessages(lister.fn);
    listWork.deadLetterQueue.grantSendMessages(lister.fn);
    copyWork.queue.grantSendMessages(lister.fn);
    ledger.grantPut(lister.fn);

    // Copy: read source objects, write destination objects, re-enqueue and park failures.
    copier.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["s3:GetObject", "s3:GetObjectTagging", "s3:GetObjectVersion"], resources: sourceObjectArns }),
    );
    copier.fn.addToRolePolicy(
      new iam.PolicyStatement({ actions: ["s3:PutObject", "s3:PutObjectTagging"], resources: destinationObjectArns }),
    );
    copyWork.queue.grantSendMessages(copier.fn);
    copyWork.deadLetterQueue.grantSendMessages(copier.fn);
    ledger.grantPut(copier.fn);

    const outputs: Record<string, string> = {
      ListQueueUrl: listWork.queue.queueUrl,
      ListDlqUrl: listWork.deadLetterQueue.queueUrl,
      CopyQueueUrl: copyWork.queue.queueUrl,
      CopyDlqUrl: copyWork.deadLetterQueue.queueUrl,
      ListFunctionName: lister.fn.functionName,
      CopyFunctionName: copier.fn.functionName,
      LedgerBucket: ledger.bucketName,
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}
