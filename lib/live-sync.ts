/**
 * Live changes: the job's source bucket sends its S3 events to EventBridge, a
 * rule forwards Object Created and Object Deleted of the job's keys to a queue
 * with a DLQ, and the live function brings each named key of the destination
 * up to date (lambdas/live). One concern, one construct; the stack passes the
 * parsed job and the shared pieces in.
 */
import { Duration, Stack, Token } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as events from "aws-cdk-lib/aws-events";
import * as targets from "aws-cdk-lib/aws-events-targets";
import * as iam from "aws-cdk-lib/aws-iam";
import * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import * as s3 from "aws-cdk-lib/aws-s3";
import { Construct } from "constructs";
import type { LiveJob } from "../lambdas/core/converge.ts";
import { LIVE_DETAIL_TYPES } from "../lambdas/core/s3Events.ts";
import { liveJobEnv } from "../lambdas/live/config.ts";
import { BucketSet } from "./bucket-set.ts";
import type { LedgerBucket } from "./ledger-bucket.ts";
import { acknowledge, iam5ResourceId } from "./nag.ts";
import { PipelineFunction } from "./pipeline-function.ts";
import { PipelineMetric, type PipelineMetricName, pipelineMetric } from "./telemetry.ts";
import { WorkQueue } from "./work-queue.ts";

export interface LiveSyncProps {
  /** What to follow and where to write (-c liveJob, else -c scheduledJob). */
  readonly job: LiveJob;
  /** Delete from the destination the keys the source no longer has (-c liveDelete). @default false */
  readonly allowDelete?: boolean;
  /** The configured buckets; the job's must be among them. */
  readonly sources: BucketSet;
  readonly destinations: BucketSet;
  readonly ledger: LedgerBucket;
  /** The pipeline's copy queue: the copier's retries and failed keys go there, as for any job. */
  readonly copyWork: WorkQueue;
  /** The pipeline functions' environment (queue URLs, ledger bucket, copy concurrency). */
  readonly environment: Readonly<Record<string, string>>;
  /** The live handler module (lambdas/live/index.ts). */
  readonly entry: string;
  /** Concurrent live invocations at most (2-1000). @default 10 */
  readonly maxConcurrency?: number;
}

/** Characters S3's URL encoding of event keys may leave as they are, or (`/`) may encode as %2F. */
const PLAIN_PREFIX = /^[A-Za-z0-9._~/-]*$/;

export class LiveSync extends Construct {
  public readonly work: WorkQueue;
  public readonly fn: PipelineFunction;
  public readonly rule: events.Rule;
  /** The live DLQ's alarm, for the pipeline's alarm list (and its topic). */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** A dashboard row: what live changes did, the live queue, the live function. */
  public readonly widgets: readonly cloudwatch.IWidget[];

  constructor(scope: Construct, id: string, props: LiveSyncProps) {
    super(scope, id);
    const { job } = props;
    if (!props.sources.bucketNames.includes(job.source.bucket)) {
      throw new Error(
        `live job source bucket "${job.source.bucket}" is not a source bucket (${props.sources.bucketNames.join(", ")}): add it to -c sourceBucket`,
      );
    }
    if (!props.destinations.bucketNames.includes(job.destination.bucket)) {
      throw new Error(
        `live job destination bucket "${job.destination.bucket}" is not a destination bucket (${props.destinations.bucketNames.join(", ")}): add it to -c destinationBucket`,
      );
    }
    const maxConcurrency = props.maxConcurrency ?? 10;
    if (!Token.isUnresolved(maxConcurrency) && (!Number.isInteger(maxConcurrency) || maxConcurrency < 2 || maxConcurrency > 1000)) {
      throw new Error(`live maxConcurrency must be an integer from 2 to 1000, got ${maxConcurrency}`);
    }
    const allowDelete = props.allowDelete ?? false;
    const timeout = Duration.minutes(5);

    // Grants on the job's two buckets only, not every configured one.
    const source = new BucketSet("source", { bucketNames: [job.source.bucket], kmsKeyArn: props.sources.kmsKeyArn });
    const destination = new BucketSet("destination", { bucketNames: [job.destination.bucket], kmsKeyArn: props.destinations.kmsKeyArn });

    // S3 -> EventBridge on the existing (imported) source bucket. For an imported bucket CDK 2.276
    // adds a Custom::S3BucketNotifications resource with Managed=false (its handler, a singleton
    // Lambda, gets s3:GetBucketNotification and s3:PutBucketNotification on this bucket only): it
    // reads the bucket's notification configuration and writes it back with EventBridgeConfiguration
    // added, keeping every topic, queue and Lambda notification it did not create. On stack deletion
    // it keeps an EventBridge configuration that exists (it cannot tell whose it is), so events keep
    // flowing to the default bus, and to no rule, until someone turns them off.
    s3.Bucket.fromBucketName(this, "SourceBucket", job.source.bucket).enableEventBridgeNotification();
    const notificationsHandler = Stack.of(this).node.children.find((c) => c.node.id.startsWith("BucketNotificationsHandler"));
    if (notificationsHandler !== undefined) {
      acknowledge(
        notificationsHandler,
        "AwsSolutions-IAM4[Policy::arn:<AWS::Partition>:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole]",
        "CDK's own handler of Custom::S3BucketNotifications (enableEventBridgeNotification): it runs at deploy time only, and CDK gives its role the basic execution policy; its S3 permissions are scoped to the source bucket.",
      );
    }

    this.work = new WorkQueue(this, "LiveChanges", { consumerTimeout: timeout, maxReceiveCount: 5, description: "live changes" });
    this.fn = new PipelineFunction(this, "LiveFunction", {
      entry: props.entry,
      timeout,
      environment: {
        ...props.environment,
        LIVE_QUEUE_URL: this.work.queue.queueUrl,
        LIVE_DLQ_URL: this.work.deadLetterQueue.queueUrl,
        LIVE_JOB: liveJobEnv(job),
        LIVE_DELETE: String(allowDelete),
      },
      description: "s3-fanout: brings the destination's copy of keys named by S3 events up to date",
    });

    // The event's key is URL-encoded (a space is "+", and "/" may come as %2F), so a prefix is matched
    // in the rule only when it has no character whose encoding is in doubt; the function checks the
    // decoded key against the prefix in every case.
    const prefix = job.source.prefix;
    const keyPattern =
      prefix !== "" && PLAIN_PREFIX.test(prefix)
        ? { object: { key: [...new Set([prefix, prefix.replace(/\//g, "%2F")])].map((p) => ({ prefix: p })) } }
        : {};
    this.rule = new events.Rule(this, "Rule", {
      description: `s3-fanout live changes: S3 events of s3://${job.source.bucket}/${prefix}`,
      eventPattern: {
        source: ["aws.s3"],
        detailType: [...LIVE_DETAIL_TYPES],
        detail: { bucket: { name: [job.source.bucket] }, ...keyPattern },
      },
    });
    // The queues use SSE-SQS, which EventBridge can send to with the queue policy the target adds
    // (aws:SourceArn = this rule); a customer managed KMS key would need a key policy for it.
    // Events EventBridge could not deliver land in the same DLQ as the ones the function could not handle.
    this.rule.addTarget(new targets.SqsQueue(this.work.queue, { deadLetterQueue: this.work.deadLetterQueue }));

    this.fn.fn.addEventSource(
      new eventsources.SqsEventSource(this.work.queue, {
        batchSize: 10,
        maxBatchingWindow: Duration.seconds(5),
        reportBatchItemFailures: true,
        maxConcurrency,
      }),
    );

    const role = this.fn.role;
    // HEADs of both sides (GetObject); ListBucket so that a missing key answers 404, not 403: "the
    // source lacks it" must be told apart from "access denied".
    source.grantList(role);
    destination.grantList(role);
    // The copier's source reads: CopyObject, UploadPartCopy, a copy by parts' HEAD and tags.
    source.grantObjectActions(role, ["s3:GetObject", "s3:GetObjectTagging"]);
    source.grantKeyActions(role, ["kms:Decrypt"]);
    // HEAD of the destination, and the copier's writes (as the copy function's).
    destination.grantObjectActions(role, [
      "s3:GetObject",
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:PutObjectAcl",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]);
    destination.grantKeyActions(role, ["kms:GenerateDataKey", "kms:Decrypt"]);
    if (allowDelete) {
      // Deletions only with -c liveDelete=true, and only under the job's destination prefix.
      // A prefix holding an IAM wildcard or variable character cannot be written literally: the bucket's keys, then.
      const scoped = /[*?$]/.test(job.destination.prefix) ? "" : job.destination.prefix;
      const arn = `${destination.bucketArns[0]}/${scoped}*`;
      role.addToPrincipalPolicy(new iam.PolicyStatement({ actions: ["s3:DeleteObject"], resources: [arn] }));
      acknowledge(
        role,
        iam5ResourceId(role, arn),
        "DeleteObject on the keys under the live job's destination prefix, in the destination bucket named by the operator: the keys to delete are known only when their events arrive.",
      );
    }
    // The copier's retries and failed keys; poison events to the live DLQ (the event source grants the rest).
    props.copyWork.queue.grantSendMessages(role);
    props.copyWork.deadLetterQueue.grantSendMessages(role);
    this.work.deadLetterQueue.grantSendMessages(role);
    props.ledger.grantReadWrite(role);

    this.alarms = [this.work.dlqAlarm];
    const period = Duration.minutes(1);
    const custom = (metricName: PipelineMetricName, label: string) => pipelineMetric(metricName, period, label);
    const max = { statistic: cloudwatch.Stats.MAXIMUM, period };
    const graph = (title: string, left: cloudwatch.IMetric[]) =>
      new cloudwatch.GraphWidget({ title, left, width: 8, height: 6, leftYAxis: { min: 0 } });
    this.widgets = [
      graph("Live changes", [
        custom(PipelineMetric.LiveEvents, "events"),
        custom(PipelineMetric.LiveCopied, "copied"),
        custom(PipelineMetric.LiveDeleted, "deleted"),
        custom(PipelineMetric.LiveUnchanged, "unchanged"),
        custom(PipelineMetric.LiveIgnored, "ignored"),
      ]),
      graph("Live queue", [
        this.work.queue.metricApproximateNumberOfMessagesVisible({ ...max, label: "waiting" }),
        this.work.queue.metricApproximateAgeOfOldestMessage({ ...max, label: "oldest (s)" }),
        this.work.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...max, label: "DLQ" }),
      ]),
      graph("Live function", [
        this.fn.fn.metricErrors({ statistic: cloudwatch.Stats.SUM, period, label: "errors" }),
        this.fn.fn.metricThrottles({ statistic: cloudwatch.Stats.SUM, period, label: "throttles" }),
        this.fn.fn.metricDuration({ ...max, label: "max duration (ms)" }),
      ]),
    ];
  }
}
