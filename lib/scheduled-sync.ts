/**
 * A job started on a schedule: an EventBridge Scheduler schedule that invokes a start-job function,
 * which starts the job through kickoff's own code (lambdas/start). The job definition is a string of
 * kickoff flags, parsed at synth time by kickoff's own parser, so a schedule never starts a job that
 * kickoff would refuse; its buckets must be among the stack's configured ones, and the function may
 * reach those buckets only.
 */
import { fileURLToPath } from "node:url";
import { Duration, RemovalPolicy, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as iam from "aws-cdk-lib/aws-iam";
import * as destinations from "aws-cdk-lib/aws-lambda-destinations";
import * as scheduler from "aws-cdk-lib/aws-scheduler";
import * as targets from "aws-cdk-lib/aws-scheduler-targets";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";
import type { StartJobPayload } from "../lambdas/core/schedule.ts";
import { parseJobDefinition } from "../scripts/lib/kickoffArgs.ts";
import { BucketSet } from "./bucket-set.ts";
import type { LedgerBucket } from "./ledger-bucket.ts";
import { acknowledge, iam5ResourceId } from "./nag.ts";
import { PipelineFunction } from "./pipeline-function.ts";
import { PipelineMetric, type PipelineMetricName, pipelineMetric } from "./telemetry.ts";
import type { WorkQueue } from "./work-queue.ts";

/** EventBridge Scheduler's expressions: rate(N unit), cron(6 fields), at(yyyy-mm-ddThh:mm:ss). */
const EXPRESSION =
  /^(rate\(\s*[1-9]\d*\s+(minute|minutes|hour|hours|day|days)\s*\)|cron\(\s*\S+(\s+\S+){5}\s*\)|at\(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\))$/;

/** The Scheduler's context attribute for a run's scheduled time (scheduler.ContextAttribute.scheduledTime). */
const SCHEDULED_TIME = scheduler.ContextAttribute.scheduledTime;

export interface ScheduledSyncProps {
  /** When runs start: an EventBridge Scheduler expression, e.g. `rate(1 day)`, `cron(0 3 * * ? *)`, `at(2027-01-01T00:00:00)`; context `schedule`. */
  readonly expression: string;
  /** The job as kickoff flags, e.g. `--source s3://a/p --dest s3://b/p --sync`; context `scheduledJob`. */
  readonly jobDefinition: string;
  /** The stack's configured buckets: the job's must be among them. */
  readonly sources: BucketSet;
  readonly destinations: BucketSet;
  /** @default none */
  readonly manifests?: BucketSet | undefined;
  readonly ledger: LedgerBucket;
  readonly listWork: WorkQueue;
  readonly copyWork: WorkQueue;
  /** Name of the schedule (letters, digits, . _ -, at most 64). @default `<stack name>-scheduled-sync` */
  readonly scheduleName?: string;
}

export class ScheduledSync extends Construct {
  public readonly schedule: scheduler.Schedule;
  public readonly scheduleName: string;
  public readonly starter: PipelineFunction;
  /** Runs the Scheduler could not deliver, and runs whose start failed after Lambda's retries. */
  public readonly deadLetterQueue: sqs.Queue;
  /** A run failed, was skipped (previous run unfinished) or reached the DLQ. */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** Dashboard widgets of the schedule's runs. */
  public readonly widgets: readonly cloudwatch.IWidget[];

  constructor(scope: Construct, id: string, props: ScheduledSyncProps) {
    super(scope, id);
    const expression = props.expression.trim();
    if (!EXPRESSION.test(expression)) {
      throw new Error(
        `schedule must be an EventBridge Scheduler expression such as "rate(1 day)", "cron(0 3 * * ? *)" or "at(2027-01-01T00:00:00)", got "${expression}"`,
      );
    }
    // kickoff's own parser: its one-line UsageError is the synth error.
    const job = parseJobDefinition(props.jobDefinition, "scheduledJob");
    const notAmong = (bucket: string, set: BucketSet, setting: string) => {
      if (!set.bucketNames.includes(bucket)) {
        throw new Error(
          `scheduledJob: "${bucket}" is not a configured ${set.side} bucket (${setting}: ${set.bucketNames.join(", ")}); IAM is scoped to those`,
        );
      }
    };
    notAmong(job.source.bucket, props.sources, "sourceBucket");
    notAmong(job.destination.bucket, props.destinations, "destinationBucket");
    if (job.manifest !== undefined) {
      const readable = [...props.sources.bucketNames, ...(props.manifests?.bucketNames ?? [])];
      if (!readable.includes(job.manifest.bucket)) {
        throw new Error(
          `scheduledJob: manifest bucket "${job.manifest.bucket}" is neither a source nor a manifest bucket (sourceBucket, manifestBucket: ${readable.join(", ")})`,
        );
      }
    }
    const stack = Stack.of(this);
    this.scheduleName = props.scheduleName ?? `${stack.stackName}-scheduled-sync`.replace(/[^A-Za-z0-9._-]/g, "-").slice(0, 64);
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(this.scheduleName)) {
      throw new Error(`scheduleName may hold letters, digits, . _ - (at most 64), got "${this.scheduleName}"`);
    }

    this.starter = new PipelineFunction(this, "StartJobFunction", {
      entry: fileURLToPath(new URL("../lambdas/start/index.ts", import.meta.url)),
      timeout: Duration.minutes(2),
      memorySize: 256,
      environment: {
        LIST_QUEUE_URL: props.listWork.queue.queueUrl,
        COPY_QUEUE_URL: props.copyWork.queue.queueUrl,
        LIST_DLQ_URL: props.listWork.deadLetterQueue.queueUrl,
        COPY_DLQ_URL: props.copyWork.deadLetterQueue.queueUrl,
        LEDGER_BUCKET: props.ledger.bucket.bucketName,
        STACK_NAME: stack.stackName,
        SOURCE_BUCKETS: props.sources.bucketNames.join(","),
        DESTINATION_BUCKETS: props.destinations.bucketNames.join(","),
        MANIFEST_BUCKETS: (props.manifests?.bucketNames ?? []).join(","),
      },
      description: "s3-fanout: starts the scheduled job (preflight, spec, seeding) unless the previous run is unfinished",
    });
    const role = this.starter.role;
    // Preflight HEADs the job's two buckets (HeadBucket is authorized by s3:ListBucket), and the seeding lists the
    // source's top-level prefixes: these two only.
    new BucketSet("source", { bucketNames: [job.source.bucket] }).grantList(role);
    new BucketSet("destination", { bucketNames: [job.destination.bucket] }).grantList(role);
    if (job.manifest !== undefined) {
      // Planning a manifest HEADs a CSV or reads an inventory's manifest.json (and HEADs its data files).
      const manifest = new BucketSet("manifest", { bucketNames: [job.manifest.bucket] });
      manifest.grantObjectActions(role, ["s3:GetObject"]);
      manifest.grantList(role);
      if (props.sources.bucketNames.includes(job.manifest.bucket)) props.sources.grantKeyActions(role, ["kms:Decrypt"]);
    }
    // The spec, the run index and the previous run's records; the seeded ranges go to the list queue.
    props.ledger.grantReadWrite(role);
    props.listWork.queue.grantSendMessages(role);

    this.deadLetterQueue = new sqs.Queue(this, "Dlq", {
      retentionPeriod: Duration.days(14),
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    acknowledge(
      this.deadLetterQueue,
      "AwsSolutions-SQS3",
      "This queue is itself a dead-letter queue: of the schedule's target and of the start-job function's async invocations; nothing consumes it.",
    );
    // The Scheduler invokes Lambda asynchronously: a start that throws is retried twice by Lambda (a
    // retry of a run whose job has started does nothing), then parked here with the error.
    this.starter.fn.configureAsyncInvoke({
      retryAttempts: 2,
      maxEventAge: Duration.hours(1),
      onFailure: new destinations.SqsDestination(this.deadLetterQueue),
    });

    const payload: StartJobPayload = {
      v: 1,
      schedule: this.scheduleName,
      scheduledTime: SCHEDULED_TIME,
      job: {
        source: job.source,
        destination: job.destination,
        ...(job.options === undefined ? {} : { options: job.options }),
        ...(job.manifest === undefined ? {} : { manifest: job.manifest }),
      },
    };
    // The role the Scheduler assumes to invoke the function (the target grants lambda:InvokeFunction on it
    // and its versions) and to park undeliverable runs in the DLQ: for this account's schedules only.
    const schedulerRole = new iam.Role(this, "SchedulerRole", {
      assumedBy: new iam.ServicePrincipal("scheduler.amazonaws.com", {
        conditions: { StringEquals: { "aws:SourceAccount": stack.account } },
      }),
      description: `EventBridge Scheduler's role for ${this.node.path}`,
    });
    acknowledge(
      schedulerRole,
      iam5ResourceId(schedulerRole, `${this.starter.fn.functionArn}:*`),
      "The Scheduler's Lambda target grants InvokeFunction on the start-job function and its versions (ARN:*); no other function.",
    );
    this.schedule = new scheduler.Schedule(this, "Schedule", {
      scheduleName: this.scheduleName,
      schedule: scheduler.ScheduleExpression.expression(expression),
      description: `s3-fanout: ${props.jobDefinition.trim()}`.slice(0, 512),
      target: new targets.LambdaInvoke(this.starter.fn, {
        role: schedulerRole,
        input: scheduler.ScheduleTargetInput.fromObject(payload),
        // Deliveries Lambda refuses (throttling) are retried for up to an hour, then parked in the DLQ.
        retryAttempts: 10,
        maxEventAge: Duration.hours(1),
        deadLetterQueue: this.deadLetterQueue,
      }),
    });

    const metric = (metricName: PipelineMetricName) => pipelineMetric(metricName, Duration.minutes(5));
    const runsAlarm = new cloudwatch.Alarm(this, "RunsAlarm", {
      alarmDescription:
        "s3-fanout: a scheduled run failed to start, or was skipped because the previous run is unfinished. " +
        "Logs of the start-job function: 'scheduled run failed' (ERROR) or 'scheduled run skipped' (WARN, with the job to halt).",
      metric: new cloudwatch.MathExpression({
        expression: "FILL(failed, 0) + FILL(skipped, 0)",
        usingMetrics: { failed: metric(PipelineMetric.ScheduledRunsFailed), skipped: metric(PipelineMetric.ScheduledRunsSkipped) },
        label: "runs failed or skipped",
        period: Duration.minutes(5),
      }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    const dlqAlarm = new cloudwatch.Alarm(this, "DlqAlarm", {
      alarmDescription:
        "s3-fanout: a scheduled run could not be delivered or its start failed after Lambda's retries; the DLQ message has the error",
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
    this.alarms = [runsAlarm, dlqAlarm];
    this.widgets = [
      new cloudwatch.GraphWidget({
        title: "Scheduled runs",
        left: [
          metric(PipelineMetric.ScheduledRunsStarted).with({ label: "started" }),
          metric(PipelineMetric.ScheduledRunsSkipped).with({ label: "skipped (previous unfinished)" }),
          metric(PipelineMetric.ScheduledRunsFailed).with({ label: "failed" }),
          this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ statistic: "Maximum", label: "in the schedule's DLQ" }),
        ],
        width: 12,
        height: 6,
        leftYAxis: { min: 0 },
      }),
    ];
  }
}
