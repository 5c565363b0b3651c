/** The handlers' metric names, for the dashboard and alarms; defined once, next to the code that emits them. */
export {
  ERROR_CODE_DIMENSION,
  METRICS_NAMESPACE,
  PipelineMetric,
  type PipelineMetricName,
  SERVICE_NAME,
} from "../lambdas/telemetry.ts";
