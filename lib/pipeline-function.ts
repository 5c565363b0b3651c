/** A pipeline Lambda with the shared defaults: Node.js 22 on ARM64, esbuild (never Docker), source maps, log retention. */
import type { Duration } from "aws-cdk-lib";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";

export interface PipelineFunctionProps {
  /** The handler module, e.g. lambdas/list/index.ts. */
  readonly entry: string;
  readonly timeout: Duration;
  /** @default 1024 */
  readonly memorySize?: number;
  readonly environment?: Record<string, string>;
  /** @default one month */
  readonly logRetention?: logs.RetentionDays;
}

export class PipelineFunction extends Construct {
  public readonly fn: nodejs.NodejsFunction;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    this.logGroup = new logs.LogGroup(this, "Logs", { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
    this.fn = new nodejs.NodejsFunction(this, "Function", {
      entry: props.entry,
      handler: "handler",
      runtime: lambda.Runtime.NODEJS_22_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 1024,
      logGroup: this.logGroup,
      environment: {
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_SERVICE_NAME: "s3-fanout",
        ...props.environment,
      },
      bundling: {
        forceDockerBundling: false,
        sourceMap: true,
        minify: true,
        target: "node22",
        // Bundle the pinned SDK instead of the runtime's, so Lambda runs what the tests ran.
        externalModules: [],
      },
    });
  }
}
