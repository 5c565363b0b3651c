/** The handlers' metric names, for the dashboard and alarms; defined once, next to the code that emits them. */
import type { Duration } from "aws-cdk-lib";
import * as cloudwatch from "aws-cdk-lib/aws-cloudwatch";
import { METRICS_NAMESPACE, type PipelineMetricName, SERVICE_NAME } from "../lambdas/telemetry.ts";

export {
  ERROR_CODE_DIMENSION,
  METRICS_NAMESPACE,
  PipelineMetric,
  type PipelineMetricName,
  SERVICE_NAME,
} from "../lambdas/telemetry.ts";

/** A handler metric as the handlers emit it (namespace, `service` dimension), summed per period. */
export function pipelineMetric(metricName: PipelineMetricName, period: Duration, label?: string): cloudwatch.Metric {
  return new cloudwatch.Metric({
    namespace: METRICS_NAMESPACE,
    metricName,
    dimensionsMap: { service: SERVICE_NAME },
    statistic: cloudwatch.Stats.SUM,
    period,
    ...(label === undefined ? {} : { label }),
  });
}
