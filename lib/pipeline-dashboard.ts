/**
 * The operator's CloudWatch dashboard: throughput (objects, bytes and keys per
 * minute), failures and throttles, queue and DLQ depths, function duration and
 * concurrency. Custom metrics come from the handlers as EMF (Powertools
 * Metrics) in namespace S3Fanout with dimension service=s3-fanout.
 */
import { Duration, Stack, Token } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import type * as lambda from "aws-cdk-lib/aws-lambda";
import { Construct } from "constructs";
import {
  ERROR_CODE_DIMENSION,
  METRICS_NAMESPACE,
  PipelineMetric,
  type PipelineMetricName,
  pipelineMetric,
  SERVICE_NAME,
} from "./telemetry.ts";
import type { WorkQueue } from "./work-queue.ts";

const DASHBOARD_NAME = /^[A-Za-z0-9_-]{1,255}$/;

export interface PipelineDashboardProps {
  /** The function that lists source ranges. */
  readonly listFunction: lambda.IFunction;
  /** The function that copies objects. */
  readonly copyFunction: lambda.IFunction;
  /** The list work queue and its DLQ. */
  readonly listWork: WorkQueue;
  /** The copy work queue and its DLQ. */
  readonly copyWork: WorkQueue;
  /** Alarms shown in the alarm status widget. @default the two DLQ alarms */
  readonly alarms?: readonly cloudwatch.IAlarm[];
  /** Dashboard name (letters, digits, - and _); dashboards are account-wide, so it must differ per region. @default `<stack name>-<region>` */
  readonly dashboardName?: string;
  /** Period of every graph, a whole number of minutes. @default 1 minute */
  readonly period?: Duration;
  /** Widgets of other constructs (a scheduled sync's), in a row of their own at the end. @default none */
  readonly moreWidgets?: readonly cloudwatch.IWidget[];
}

export class PipelineDashboard extends Construct {
  public readonly dashboard: cloudwatch.Dashboard;
  /** The dashboard's name, for the DashboardName output. */
  public readonly dashboardName: string;

  constructor(scope: Construct, id: string, props: PipelineDashboardProps) {
    super(scope, id);
    const period = props.period ?? Duration.minutes(1);
    const seconds = period.toSeconds();
    if (!Token.isUnresolved(seconds) && (seconds < 60 || seconds % 60 !== 0)) {
      throw new Error(`PipelineDashboard: period must be a whole number of minutes, got ${period.toHumanString()}`);
    }
    const name = props.dashboardName ?? `${Stack.of(this).stackName}-${Stack.of(this).region}`;
    if (!Token.isUnresolved(name) && !DASHBOARD_NAME.test(name)) {
      throw new Error(`PipelineDashboard: dashboardName may hold only letters, digits, - and _ (at most 255), got "${name}"`);
    }

    const custom = (metricName: PipelineMetricName, label: string) => pipelineMetric(metricName, period, label);
    // Sums per period divided by the period in minutes: a rate per minute whatever period the graph shows.
    // The id is the metric's own name, lower-cased: two rates can share a graph.
    const perMinute = (metricName: PipelineMetricName, label: string, id = metricName.toLowerCase()) =>
      new cloudwatch.MathExpression({
        expression: `${id} / (PERIOD(${id}) / 60)`,
        usingMetrics: { [id]: custom(metricName, label) },
        label,
        period,
      });
    const sum = { statistic: cloudwatch.Stats.SUM, period };
    const max = { statistic: cloudwatch.Stats.MAXIMUM, period };
    const { listFunction: list, copyFunction: copy, listWork, copyWork } = props;
    const graph = (title: string, left: cloudwatch.IMetric[], width = 8, leftYAxis?: cloudwatch.YAxisProps) =>
      new cloudwatch.GraphWidget({ title, left, width, height: 6, leftYAxis: { min: 0, ...leftYAxis } });

    this.dashboard = new cloudwatch.Dashboard(this, "Dashboard", { dashboardName: name, defaultInterval: Duration.hours(3) });
    this.dashboardName = name;
    this.dashboard.addWidgets(
      graph("Objects copied (and deleted, sync --delete) per minute", [
        perMinute(PipelineMetric.ObjectsCopied, "copied/min"),
        perMinute(PipelineMetric.ObjectsDeleted, "deleted/min"),
      ]),
      graph("Bytes copied per minute", [perMinute(PipelineMetric.BytesCopied, "bytes/min")], 8, { label: "bytes" }),
      graph("Keys listed per minute", [perMinute(PipelineMetric.KeysListed, "keys/min")]),
    );
    this.dashboard.addWidgets(
      graph("Copy failures and S3 throttles", [
        custom(PipelineMetric.CopyFailures, "keys failed"),
        custom(PipelineMetric.CopyThrottles, "S3 SlowDown/503 retries"),
        custom(PipelineMetric.ObjectsVanished, "keys gone from the source"),
      ]),
      graph("Lambda errors and throttles", [
        list.metricErrors({ ...sum, label: "list errors" }),
        copy.metricErrors({ ...sum, label: "copy errors" }),
        list.metricThrottles({ ...sum, label: "list throttles" }),
        copy.metricThrottles({ ...sum, label: "copy throttles" }),
      ]),
      new cloudwatch.AlarmStatusWidget({
        title: "Alarms",
        alarms: [...(props.alarms ?? [listWork.dlqAlarm, copyWork.dlqAlarm])],
        width: 8,
        height: 6,
      }),
    );
    this.dashboard.addWidgets(
      graph(
        "Failures by error code",
        [
          new cloudwatch.MathExpression({
            // One line per error code the handlers reported (FailuresByCode carries an errorCode dimension).
            expression: `SEARCH('{${METRICS_NAMESPACE},${ERROR_CODE_DIMENSION},service} MetricName="${PipelineMetric.FailuresByCode}" service="${SERVICE_NAME}"', 'Sum', ${seconds})`,
            label: "",
            period,
          }),
        ],
        12,
      ),
      graph(
        "Listings parked and records returned",
        [custom(PipelineMetric.ListFailures, "listings parked"), custom(PipelineMetric.RecordFailures, "records returned for a retry")],
        12,
      ),
    );
    this.dashboard.addWidgets(
      graph("Queue depth", [
        listWork.queue.metricApproximateNumberOfMessagesVisible({ ...max, label: "list waiting" }),
        listWork.queue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: "list in flight" }),
        copyWork.queue.metricApproximateNumberOfMessagesVisible({ ...max, label: "copy waiting" }),
        copyWork.queue.metricApproximateNumberOfMessagesNotVisible({ ...max, label: "copy in flight" }),
      ]),
      graph("DLQ depth", [
        listWork.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...max, label: "list DLQ" }),
        copyWork.deadLetterQueue.metricApproximateNumberOfMessagesVisible({ ...max, label: "copy DLQ" }),
      ]),
      graph(
        "Age of oldest message",
        [
          listWork.queue.metricApproximateAgeOfOldestMessage({ ...max, label: "list queue" }),
          copyWork.queue.metricApproximateAgeOfOldestMessage({ ...max, label: "copy queue" }),
        ],
        8,
        { label: "seconds" },
      ),
    );
    this.dashboard.addWidgets(
      graph(
        "Function duration",
        [
          list.metricDuration({ statistic: cloudwatch.Stats.AVERAGE, period, label: "list avg" }),
          list.metricDuration({ ...max, label: "list max" }),
          copy.metricDuration({ statistic: cloudwatch.Stats.AVERAGE, period, label: "copy avg" }),
          copy.metricDuration({ statistic: cloudwatch.Stats.p(99), period, label: "copy p99" }),
        ],
        12,
        { label: "ms" },
      ),
      graph(
        "Concurrent executions",
        [list.metric("ConcurrentExecutions", { ...max, label: "list" }), copy.metric("ConcurrentExecutions", { ...max, label: "copy" })],
        12,
      ),
    );
    if (props.moreWidgets && props.moreWidgets.length > 0) this.dashboard.addWidgets(...props.moreWidgets);
  }
}
