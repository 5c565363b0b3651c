/** A pipeline Lambda with the shared defaults: Node.js 24 on ARM64, esbuild (never Docker), source maps, log retention. */
import { type Duration, Token } from "aws-cdk-lib";
import * as iam from "aws-cdk-lib/aws-iam";
import * as lambda from "aws-cdk-lib/aws-lambda";
import * as nodejs from "aws-cdk-lib/aws-lambda-nodejs";
import * as logs from "aws-cdk-lib/aws-logs";
import { Construct } from "constructs";
import { METRICS_NAMESPACE, SERVICE_NAME } from "./telemetry.ts";

/** Variables this construct sets itself; props.environment may not override them. */
const FIXED_ENVIRONMENT = ["NODE_OPTIONS", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE"] as const;

export interface PipelineFunctionProps {
  /** The handler module, e.g. lambdas/list/index.ts; it exports `handler`. */
  readonly entry: string;
  /** Function timeout, at most 15 minutes. */
  readonly timeout: Duration;
  /** Memory in MiB (ARM64 CPU share grows with it). @default 1024 */
  readonly memorySize?: number;
  /** Extra environment variables (not NODE_OPTIONS or POWERTOOLS_*, which are fixed here). @default none */
  readonly environment?: Readonly<Record<string, string>>;
  /** Retention of the function's log group. @default one month */
  readonly logRetention?: logs.RetentionDays;
  /** Whether Lambda may keep invoking the function in a loop through its own queue. @default lambda.RecursiveLoop.TERMINATE */
  readonly recursiveLoop?: lambda.RecursiveLoop;
  /** Shown in the console. @default none */
  readonly description?: string;
}

export class PipelineFunction extends Construct {
  public readonly fn: nodejs.NodejsFunction;
  /** The execution role: log permissions only, until the stack grants more. */
  public readonly role: iam.Role;
  public readonly logGroup: logs.LogGroup;

  constructor(scope: Construct, id: string, props: PipelineFunctionProps) {
    super(scope, id);
    if (!Token.isUnresolved(props.timeout.toSeconds()) && props.timeout.toSeconds() > 900) {
      throw new Error(`PipelineFunction ${id}: timeout must be at most 15 minutes, got ${props.timeout.toHumanString()}`);
    }
    const overridden = FIXED_ENVIRONMENT.filter((name) => props.environment?.[name] !== undefined);
    if (overridden.length > 0) {
      throw new Error(`PipelineFunction ${id}: environment must not set ${overridden.join(", ")}; the construct fixes them`);
    }

    this.logGroup = new logs.LogGroup(this, "Logs", { retention: props.logRetention ?? logs.RetentionDays.ONE_MONTH });
    // An explicit role instead of the managed AWSLambdaBasicExecutionRole (logs:* on every log group):
    // the function writes to its own log group and nothing else until the stack grants more.
    this.role = new iam.Role(this, "Role", {
      assumedBy: new iam.ServicePrincipal("lambda.amazonaws.com"),
      description: `Execution role of ${this.node.path}`,
    });
    this.logGroup.grantWrite(this.role);

    this.fn = new nodejs.NodejsFunction(this, "Function", {
      entry: props.entry,
      handler: "handler",
      description: props.description,
      runtime: lambda.Runtime.NODEJS_24_X,
      architecture: lambda.Architecture.ARM_64,
      timeout: props.timeout,
      memorySize: props.memorySize ?? 1024,
      role: this.role,
      logGroup: this.logGroup,
      recursiveLoop: props.recursiveLoop ?? lambda.RecursiveLoop.TERMINATE,
      environment: {
        ...props.environment,
        NODE_OPTIONS: "--enable-source-maps",
        POWERTOOLS_SERVICE_NAME: SERVICE_NAME,
        POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
      },
      bundling: {
        forceDockerBundling: false,
        sourceMap: true,
        // Cold start (npm run bench): --enable-source-maps reads and parses the map as the bundle loads, and stack
        // traces need only its mappings, not a copy of every source (3.2 MiB -> 1.2 MiB).
        sourcesContent: false,
        minify: true,
        // The packages' ES module builds, which esbuild tree-shakes: the SDK's CommonJS builds bundle whole (720 -> 540 KiB).
        mainFields: ["module", "main"],
        target: "node24",
        logLevel: nodejs.LogLevel.WARNING,
        // Bundle the pinned SDK instead of the runtime's, so Lambda runs what the tests ran.
        externalModules: [],
      },
    });
  }
}
