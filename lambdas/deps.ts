/** What both handlers are built from: the ports, the config and the telemetry. */
import type { Logger } from "@aws-lambda-powertools/logger";
import type { Metrics } from "@aws-lambda-powertools/metrics";
import type { PipelineConfig } from "./config.ts";
import type { HaltSignal } from "./core/halt.ts";
import type { Ledger, MessageSink, MultipartStore, ObjectDeleter, ObjectStore, Redelivery } from "./core/ports.ts";

export interface PipelineDeps {
  readonly store: ObjectStore;
  /** Copies by parts what is above a job's multipart threshold. */
  readonly multipart?: MultipartStore;
  /** Deletes what a sync with --delete found only in the destination. */
  readonly deleter?: ObjectDeleter | undefined;
  readonly sink: MessageSink;
  /** Brings failed records back after a backoff instead of the visibility timeout; without it they wait that out. */
  readonly redelivery?: Redelivery | undefined;
  readonly ledger: Ledger;
  /** The job's halt marker, checked before every copy and enqueue. */
  readonly halt: HaltSignal;
  readonly config: PipelineConfig;
  readonly logger: Logger;
  /** CloudWatch metrics (EMF) in Lambda; absent in the local runtime. */
  readonly metrics?: Metrics;
}
