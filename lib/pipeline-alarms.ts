/**
 * The alarms that tell a person something failed, within minutes: keys and
 * listings that failed for good, records returned for a retry, functions
 * that crashed or timed out, and any message in a DLQ. With an email address
 * they all notify one SNS topic with that address subscribed.
 */
import { Duration, Stack } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import * as actions from "aws-cdk-lib/aws-cloudwatch-actions";
import * as iam from "aws-cdk-lib/aws-iam";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import * as sns from "aws-cdk-lib/aws-sns";
import * as subscriptions from "aws-cdk-lib/aws-sns-subscriptions";
import { Construct } from "constructs";
import { acknowledge } from "./nag.ts";
import { PipelineMetric, type PipelineMetricName, pipelineMetric } from "./telemetry.ts";
import type { WorkQueue } from "./work-queue.ts";

/** One address: no spaces, one @, a dot in the domain. SNS confirms it by mail. */
const EMAIL = /^[^\s@,;]+@[^\s@,;]+\.[^\s@,;]+$/;

/** Alarms are judged over this period, once: a failure alarms within a minute of its metric arriving. */
const PERIOD = Duration.minutes(1);

export interface PipelineAlarmsProps {
  readonly listFunction: lambda.IFunction;
  readonly copyFunction: lambda.IFunction;
  readonly listWork: WorkQueue;
  readonly copyWork: WorkQueue;
  /** Address every alarm notifies through an SNS topic (it must confirm the subscription). @default none: alarms without actions */
  readonly email?: string;
  /** Alarms of other constructs (a scheduled sync's) that notify the same topic. @default none */
  readonly moreAlarms?: readonly cloudwatch.Alarm[];
}

export class PipelineAlarms extends Construct {
  /** Keys failed for good, listings or poison parked, records returned for a retry: one or more in a minute. */
  public readonly failures: cloudwatch.Alarm;
  /** The list or copy function crashed or timed out (Lambda's Errors metric). */
  public readonly functionErrors: cloudwatch.Alarm;
  /** Every alarm of the pipeline, the DLQ alarms included. */
  public readonly alarms: readonly cloudwatch.Alarm[];
  /** Where the alarms notify, when an email address was given. */
  public readonly topic?: sns.Topic;

  constructor(scope: Construct, id: string, props: PipelineAlarmsProps) {
    super(scope, id);
    const email = props.email?.trim();
    if (email !== undefined && !EMAIL.test(email)) {
      throw new Error(`alarmEmail must be one email address such as ops@example.com, got "${email}"`);
    }
    const custom = (metricName: PipelineMetricName) => pipelineMetric(metricName, PERIOD);
    const atLeastOne = {
      threshold: 1,
      evaluationPeriods: 1,
      comparisonOperator: cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
      // No data means no failure was reported: the handlers emit these only when something failed.
      treatMissingData: cloudwatch.TreatMissingData.NOT_BREACHING,
    };

    this.failures = new cloudwatch.Alarm(this, "Failures", {
      alarmDescription:
        "s3-fanout: keys that failed for good (copy DLQ), listings parked (list DLQ), poison parked, records returned for a retry, " +
        "or a sync's deletions refused (more than --max-delete). " +
        "Logs: level ERROR, messages 'copy failed', 'listing parked', 'poison message parked', 'record failed', 'deletions refused'; FailuresByCode has the error codes.",
      metric: new cloudwatch.MathExpression({
        expression: "FILL(keys, 0) + FILL(listings, 0) + FILL(records, 0) + FILL(poison, 0) + FILL(refused, 0)",
        usingMetrics: {
          keys: custom(PipelineMetric.CopyFailures),
          listings: custom(PipelineMetric.ListFailures),
          records: custom(PipelineMetric.RecordFailures),
          // A DLQ's own depth metric can lag while the queue is idle: poison is counted as it is parked.
          poison: custom(PipelineMetric.PoisonMessages),
          // A person decides: nothing was deleted, and the destination still holds what the source lost.
          refused: custom(PipelineMetric.DeletionsRefused),
        },
        label: "failures",
        period: PERIOD,
      }),
      ...atLeastOne,
    });
    this.functionErrors = new cloudwatch.Alarm(this, "FunctionErrors", {
      alarmDescription:
        "s3-fanout: the list or copy function crashed or timed out; its whole batch comes back after the visibility timeout.",
      metric: new cloudwatch.MathExpression({
        expression: "FILL(list, 0) + FILL(copy, 0)",
        usingMetrics: {
          list: props.listFunction.metricErrors({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
          copy: props.copyFunction.metricErrors({ statistic: cloudwatch.Stats.SUM, period: PERIOD }),
        },
        label: "function errors",
        period: PERIOD,
      }),
      ...atLeastOne,
    });
    this.alarms = [this.failures, this.functionErrors, props.listWork.dlqAlarm, props.copyWork.dlqAlarm, ...(props.moreAlarms ?? [])];

    if (email !== undefined) {
      this.topic = new sns.Topic(this, "Topic", { displayName: "s3-fanout alarms", enforceSSL: true });
      // The topic policy (written for enforceSSL) replaces SNS's default one, whose account-wide Allow is
      // what lets same-account alarms publish; so CloudWatch is allowed here, for this account's alarms only.
      const stack = Stack.of(this);
      this.topic.addToResourcePolicy(
        new iam.PolicyStatement({
          sid: "CloudWatchAlarmsPublish",
          principals: [new iam.ServicePrincipal("cloudwatch.amazonaws.com")],
          actions: ["sns:Publish"],
          resources: [this.topic.topicArn],
          conditions: {
            StringEquals: { "aws:SourceAccount": stack.account },
            ArnLike: { "aws:SourceArn": `arn:${stack.partition}:cloudwatch:${stack.region}:${stack.account}:alarm:*` },
          },
        }),
      );
      this.topic.addSubscription(new subscriptions.EmailSubscription(email));
      acknowledge(
        this.topic,
        "AwsSolutions-SNS2",
        "The topic carries alarm state changes only (alarm names and metric values, no object keys or data); CloudWatch cannot publish to a topic encrypted with the AWS-managed SNS key, and a customer key would need its own policy and cost for no data worth it.",
      );
      const action = new actions.SnsAction(this.topic);
      for (const alarm of this.alarms) {
        alarm.addAlarmAction(action);
        // A person hears when it is over too, not only when it starts.
        alarm.addOkAction(action);
      }
    }
  }
}
