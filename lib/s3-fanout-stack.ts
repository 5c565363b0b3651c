/** The stack composes the queues, functions, ledger and dashboard, and grants least privilege. */

import { fileURLToPath } from "node:url";
import { CfnOutput, Duration, Stack, type StackProps, Token } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as eventsources from "aws-cdk-lib/aws-lambda-event-sources";
import type { Construct } from "constructs";
import { parseJobDefinition } from "../scripts/lib/kickoffArgs.ts";
import { BucketSet } from "./bucket-set.ts";
import { LedgerBucket } from "./ledger-bucket.ts";
import { LiveSync, type LiveSyncProps } from "./live-sync.ts";
import { PipelineAlarms } from "./pipeline-alarms.ts";
import { PipelineDashboard } from "./pipeline-dashboard.ts";
import { PipelineFunction } from "./pipeline-function.ts";
import { ScheduledSync } from "./scheduled-sync.ts";
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
  /**
   * Concurrent list invocations at most (2-1000); context `listMaxConcurrency`. Keys are listed in order, so
   * the copies reach about one prefix per list invocation at work: 32 lets a job over 16 prefixes write to most
   * of them at once (docs/capacity-and-cost.md, Simulated at scale). @default 32
   */
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
  /** When a scheduled job starts: an EventBridge Scheduler expression such as `rate(1 day)`; context `schedule`, with scheduledJob. @default no schedule */
  readonly schedule?: string;
  /** The scheduled job as kickoff flags (`--source s3://B/P --dest s3://B/P --sync`); context `scheduledJob`, with schedule. @default no schedule */
  readonly scheduledJob?: string;
  /**
   * Let sync jobs started with --delete delete destination objects (s3:DeleteObject for the copy
   * function); context `allowDelete`. A scheduledJob with --delete implies it. @default false
   */
  readonly allowDelete?: boolean;
  /** Keep the destination current from the source's S3 events (EventBridge); context `live`. @default false */
  readonly live?: boolean;
  /** Live changes delete destination keys the source no longer has; context `liveDelete`. @default false */
  readonly liveDelete?: boolean;
  /** The job live changes follow, as kickoff flags (`--source s3://B/P --dest s3://B/Q`); context `liveJob`. @default scheduledJob */
  readonly liveJob?: string;
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
  /** Buckets holding manifests the list function may read, when configured. */
  public readonly manifests?: BucketSet;
  public readonly ledger: LedgerBucket;
  public readonly listWork: WorkQueue;
  public readonly copyWork: WorkQueue;
  public readonly lister: PipelineFunction;
  public readonly copier: PipelineFunction;
  public readonly dashboard: PipelineDashboard;
  public readonly alarms: PipelineAlarms;
  /** The schedule and its start-job function, when `schedule` and `scheduledJob` are set. */
  public readonly scheduledSync?: ScheduledSync;
  /** Whether the copy function may delete destination objects (sync --delete). */
  public readonly deletionsAllowed: boolean;
  /** The rule, queue and function of live changes, when `live` is set. */
  public readonly liveSync?: LiveSync;

  constructor(scope: Construct, id: string, props: S3FanoutStackProps) {
    super(scope, id, props);
    this.sources = new BucketSet("source", { bucketNames: props.sourceBuckets, kmsKeyArn: props.sourceKmsKeyArn });
    this.destinations = new BucketSet("destination", { bucketNames: props.destinationBuckets, kmsKeyArn: props.destinationKmsKeyArn });
    const manifestBuckets = props.manifestBuckets ?? [];
    this.manifests = manifestBuckets.length === 0 ? undefined : new BucketSet("manifest", { bucketNames: manifestBuckets });
    const ledgerName = props.ledgerBucket?.trim();
    if (ledgerName !== undefined && [...this.sources.bucketNames, ...this.destinations.bucketNames].includes(ledgerName)) {
      throw new Error(
        `ledgerBucket "${ledgerName}" is also a source or destination bucket: a job must not copy or verify its own bookkeeping`,
      );
    }
    const listMaxConcurrency = maxConcurrency("listMaxConcurrency", props.listMaxConcurrency ?? 32);
    const copyMaxConcurrency = maxConcurrency("copyMaxConcurrency", props.copyMaxConcurrency ?? 50);
    const copyConcurrency = props.copyConcurrency ?? 64;
    if (!Token.isUnresolved(copyConcurrency) && (!Number.isInteger(copyConcurrency) || copyConcurrency < 1)) {
      throw new Error(`copyConcurrency must be a positive integer, got ${copyConcurrency}`);
    }
    const listTimeout = Duration.minutes(15);
    const copyTimeout = Duration.minutes(5);

    this.ledger = new LedgerBucket(this, "Ledger", { existingBucketName: ledgerName, kmsKeyArn: props.ledgerKmsKeyArn });
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

    // List role, least privilege: each grant is what one code path of the list function calls.
    // Ranges are listed with ListObjectsV2.
    this.sources.grantList(this.lister.role);
    // HEAD of manifest rows without a size (GetObjectVersion: a row naming a version), and reading a
    // manifest kept in a source bucket (Decrypt: such a manifest under SSE-KMS).
    this.sources.grantObjectActions(this.lister.role, ["s3:GetObject", "s3:GetObjectVersion"]);
    this.sources.grantKeyActions(this.lister.role, ["kms:Decrypt"]);
    // Manifests kept in buckets of their own (S3 Inventory writes to one): read only; ListBucket so that a
    // manifest that is not there answers 404 NoSuchKey, not 403 (both park the chunk; the reason differs).
    this.manifests?.grantObjectActions(this.lister.role, ["s3:GetObject"]);
    this.manifests?.grantList(this.lister.role);
    // Sync merge-joins the destination listing, and HEADs a copy by parts for the source ETag it records.
    this.destinations.grantList(this.lister.role);
    this.destinations.grantObjectActions(this.lister.role, ["s3:GetObject"]);
    // Continuations and splits on its own queue, copy batches onward, parked listings and poison to its DLQ.
    this.listWork.queue.grantSendMessages(this.lister.role);
    this.listWork.deadLetterQueue.grantSendMessages(this.lister.role);
    this.copyWork.queue.grantSendMessages(this.lister.role);
    this.ledger.grantReadWrite(this.lister.role);

    // Copy role. ListBucket on the sources so that a key gone since listing answers 404 NoSuchKey
    // (reported vanished), not 403.
    this.sources.grantList(this.copier.role);
    // CopyObject and UploadPartCopy read the source (GetObjectVersion for a named version); a copy by
    // parts HEADs it and reads its tags (GetObjectVersionTagging for a named version).
    this.sources.grantObjectActions(this.copier.role, [
      "s3:GetObject",
      "s3:GetObjectVersion",
      "s3:GetObjectTagging",
      "s3:GetObjectVersionTagging",
    ]);
    this.sources.grantKeyActions(this.copier.role, ["kms:Decrypt"]);
    // CopyObject and the multipart calls write (PutObject), carry or replace tags (PutObjectTagging),
    // apply --acl (PutObjectAcl), abort an upload that will not resume, and list the parts of one that will.
    this.destinations.grantObjectActions(this.copier.role, [
      "s3:PutObject",
      "s3:PutObjectTagging",
      "s3:PutObjectAcl",
      "s3:AbortMultipartUpload",
      "s3:ListMultipartUploadParts",
    ]);
    // SSE-KMS destination: a data key per object, and Decrypt to complete a multipart upload.
    this.destinations.grantKeyActions(this.copier.role, ["kms:GenerateDataKey", "kms:Decrypt"]);
    // Retries and resumed parts on its own queue; failed keys and poison to its DLQ.
    this.copyWork.queue.grantSendMessages(this.copier.role);
    this.copyWork.deadLetterQueue.grantSendMessages(this.copier.role);
    this.ledger.grantReadWrite(this.copier.role);
    // sync --delete: deletion batches delete destination objects. Only when asked for: a stack that
    // cannot delete cannot be made to, whatever job is started on it.
    this.deletionsAllowed = props.allowDelete === true || scheduledJobDeletes(props.scheduledJob);
    if (this.deletionsAllowed) this.destinations.grantObjectActions(this.copier.role, ["s3:DeleteObject"]);

    if ((props.schedule === undefined) !== (props.scheduledJob === undefined)) {
      throw new Error(
        'schedule and scheduledJob go together: pass both, e.g. -c schedule="rate(1 day)" -c scheduledJob="--source s3://SRC/P --dest s3://DST/P --sync"',
      );
    }
    // A job started on a schedule through kickoff's own code (lib/scheduled-sync.ts).
    this.scheduledSync =
      props.schedule === undefined || props.scheduledJob === undefined
        ? undefined
        : new ScheduledSync(this, "ScheduledSync", {
            expression: props.schedule,
            jobDefinition: props.scheduledJob,
            sources: this.sources,
            destinations: this.destinations,
            manifests: this.manifests,
            ledger: this.ledger,
            listWork: this.listWork,
            copyWork: this.copyWork,
          });

    // Live changes (lib/live-sync.ts): the job is parsed here with kickoff's own parser.
    this.liveSync = props.live ? new LiveSync(this, "LiveSync", liveSyncProps(props, this, environment)) : undefined;

    this.alarms = new PipelineAlarms(this, "Alarms", {
      listFunction: this.lister.fn,
      copyFunction: this.copier.fn,
      listWork: this.listWork,
      copyWork: this.copyWork,
      email: props.alarmEmail,
      moreAlarms: [...(this.scheduledSync?.alarms ?? []), ...(this.liveSync?.alarms ?? [])],
    });
    this.dashboard = new PipelineDashboard(this, "Dashboard", {
      listFunction: this.lister.fn,
      copyFunction: this.copier.fn,
      listWork: this.listWork,
      copyWork: this.copyWork,
      alarms: this.alarms.alarms,
      moreWidgets: [...(this.scheduledSync?.widgets ?? []), ...(this.liveSync?.widgets ?? [])],
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
      ...(this.manifests ? { ManifestBuckets: this.manifests.bucketNames.join(",") } : {}),
      ...(this.alarms.topic ? { AlarmTopicArn: this.alarms.topic.topicArn } : {}),
      ...(this.scheduledSync
        ? { ScheduleName: this.scheduledSync.scheduleName, StartJobFunctionName: this.scheduledSync.starter.fn.functionName }
        : {}),
      ...(this.liveSync ? { LiveQueueUrl: this.liveSync.work.queue.queueUrl } : {}),
      ...(this.deletionsAllowed ? { DeletionsAllowed: "true" } : {}),
    };
    for (const [name, value] of Object.entries(outputs)) new CfnOutput(this, name, { value });
  }
}

/** Whether the scheduled job deletes (--delete): then the stack must allow deletions. */
function scheduledJobDeletes(definition: string | undefined): boolean {
  return definition !== undefined && parseJobDefinition(definition, "scheduledJob").options?.delete === true;
}

/** The live job, from -c liveJob or else the scheduled job, parsed as kickoff parses its flags. */
function liveSyncProps(props: S3FanoutStackProps, stack: S3FanoutStack, environment: Record<string, string>): LiveSyncProps {
  const text = props.liveJob ?? props.scheduledJob;
  if (text === undefined) {
    throw new Error('live=true needs the job to follow: pass -c liveJob="--source s3://SRC/P --dest s3://DST/Q" (or -c scheduledJob)');
  }
  const request = parseJobDefinition(text, props.liveJob === undefined ? "scheduledJob" : "liveJob");
  if (request.manifest !== undefined) throw new Error("liveJob: a manifest has no meaning for live changes");
  return {
    job: { source: request.source, destination: request.destination, ...(request.options ? { options: request.options } : {}) },
    allowDelete: props.liveDelete ?? false,
    sources: stack.sources,
    destinations: stack.destinations,
    ledger: stack.ledger,
    copyWork: stack.copyWork,
    environment,
    entry: entry("live/index.ts"),
  };
}
