/**
 * Names shared by the functions' environment and the dashboard. The handlers
 * emit the custom metrics as EMF through Powertools Metrics, which adds the
 * `service` dimension from POWERTOOLS_SERVICE_NAME.
 */

/** POWERTOOLS_SERVICE_NAME of both functions, and the `service` dimension of the custom metrics. */
export const SERVICE_NAME = "s3-fanout";

/** POWERTOOLS_METRICS_NAMESPACE of both functions. */
export const METRICS_NAMESPACE = "S3Fanout";

/** Custom metrics the handlers emit (all counts or bytes, summed per period). */
export const PipelineMetric = {
  ObjectsCopied: "ObjectsCopied",
  BytesCopied: "BytesCopied",
  CopyFailures: "CopyFailures",
  CopyThrottles: "CopyThrottles",
  ObjectsVanished: "ObjectsVanished",
  KeysListed: "KeysListed",
} as const;

export type PipelineMetricName = (typeof PipelineMetric)[keyof typeof PipelineMetric];
