/** A work queue with its DLQ and an alarm on the DLQ: one concern, one construct. */
import { Duration, RemovalPolicy, Token } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as sqs from "aws-cdk-lib/aws-sqs";
import { Construct } from "constructs";

/** AWS recommends a visibility timeout of at least six times the consuming function's timeout. */
export const VISIBILITY_TIMEOUT_FACTOR = 6;

export interface WorkQueueProps {
  /** Timeout of the function that consumes the queue. */
  readonly consumerTimeout: Duration;
  /** Visibility timeout of the work queue. @default 6 x consumerTimeout */
  readonly visibilityTimeout?: Duration;
  /** Receives of one message before SQS moves it to the DLQ. @default 5 */
  readonly maxReceiveCount?: number;
  /** Retention of the work queue; shorter than the DLQ's. @default 7 days */
  readonly retentionPeriod?: Duration;
  /** Retention of the DLQ, SQS's longest. @default 14 days */
  readonly deadLetterRetentionPeriod?: Duration;
  /** What the queue carries, for the DLQ alarm's description. @default the construct id */
  readonly description?: string;
}

export class WorkQueue extends Construct {
  /** The queue the consumer reads. */
  public readonly queue: sqs.Queue;
  /** Where SQS moves messages received maxReceiveCount times, and where handlers park poison and failed keys. */
  public readonly deadLetterQueue: sqs.Queue;
  /** In alarm while the DLQ holds any message. */
  public readonly dlqAlarm: cloudwatch.Alarm;
  /** Receives before a message moves to the DLQ. */
  public readonly maxReceiveCount: number;

  constructor(scope: Construct, id: string, props: WorkQueueProps) {
    super(scope, id);
    const retentionPeriod = props.retentionPeriod ?? Duration.days(7);
    const deadLetterRetentionPeriod = props.deadLetterRetentionPeriod ?? Duration.days(14);
    // SQS keeps a message's first enqueue time when it moves it to the DLQ: a message that waited its
    // whole retention in the work queue must still have days left in the DLQ for a person to act.
    if (
      !Token.isUnresolved(retentionPeriod.toSeconds()) &&
      !Token.isUnresolved(deadLetterRetentionPeriod.toSeconds()) &&
      retentionPeriod.toSeconds() >= deadLetterRetentionPeriod.toSeconds()
    ) {
      throw new Error(
        `WorkQueue ${id}: retentionPeriod (${retentionPeriod.toHumanString()}) must be shorter than deadLetterRetentionPeriod (${deadLetterRetentionPeriod.toHumanString()})`,
      );
    }
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    const minimumVisibility = props.consumerTimeout.toSeconds() * VISIBILITY_TIMEOUT_FACTOR;
    const visibilityTimeout = props.visibilityTimeout ?? Duration.seconds(minimumVisibility);
    if (!Token.isUnresolved(maxReceiveCount) && (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1)) {
      throw new Error(`WorkQueue ${id}: maxReceiveCount must be a positive integer, got ${maxReceiveCount}`);
    }
    if (visibilityTimeout.toSeconds() < minimumVisibility) {
      throw new Error(
        `WorkQueue ${id}: visibilityTimeout (${visibilityTimeout.toSeconds()} s) must be at least ${VISIBILITY_TIMEOUT_FACTOR} x consumerTimeout (${minimumVisibility} s)`,
      );
    }
    this.maxReceiveCount = maxReceiveCount;

    // Work is transient: the queues go with the stack. The ledger, not the queues, is the record of a job.
    this.deadLetterQueue = new sqs.Queue(this, "Dlq", {
      retentionPeriod: deadLetterRetentionPeriod,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.queue = new sqs.Queue(this, "Queue", {
      retentionPeriod,
      visibilityTimeout,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
      removalPolicy: RemovalPolicy.DESTROY,
    });
    this.dlqAlarm = new cloudwatch.Alarm(this, "DlqAlarm", {
      alarmDescription: `Messages in the DLQ of ${props.description ?? id}: failed keys or poison messages to inspect and redrive`,
      metric: this.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ period: Duration.minutes(1), statistic: "Maximum" }),
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    });
  }
}
