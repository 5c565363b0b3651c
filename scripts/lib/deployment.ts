/**
 * Where a deployed pipeline lives: the stack outputs, read from
 * `cdk deploy --outputs-file` (or the local stack's file of the same shape),
 * or from CloudFormation by stack name.
 */
import { existsSync, readFileSync } from "node:fs";
import { CloudFormationClient, DescribeStacksCommand } from "@aws-sdk/client-cloudformation";
import * as v from "valibot";
import { S3FanoutError, UsageError } from "../../lambdas/core/errors.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";

export const DEFAULT_STACK_NAME = "S3Fanout";
export const DEFAULT_OUTPUTS_FILE = "cdk-outputs.json";

const Outputs = v.object({
  ListQueueUrl: v.string(),
  ListDlqUrl: v.string(),
  CopyQueueUrl: v.string(),
  CopyDlqUrl: v.string(),
  ListFunctionName: v.string(),
  CopyFunctionName: v.string(),
  LedgerBucket: v.pipe(v.string(), v.minLength(1)),
  SourceBuckets: v.optional(v.string(), ""),
  DestinationBuckets: v.optional(v.string(), ""),
  ManifestBuckets: v.optional(v.string(), ""),
  ScheduleName: v.optional(v.string()),
  LiveQueueUrl: v.optional(v.string()),
  StartJobFunctionName: v.optional(v.string()),
  DeletionsAllowed: v.optional(v.string()),
});

export interface Deployment {
  readonly stackName: string;
  readonly listQueueUrl: string;
  readonly listDlqUrl: string;
  readonly copyQueueUrl: string;
  readonly copyDlqUrl: string;
  readonly listFunctionName: string;
  readonly copyFunctionName: string;
  readonly ledgerBucket: string;
  /** Buckets the stack may read; empty means any (the local stack). */
  readonly sourceBuckets: readonly string[];
  readonly destinationBuckets: readonly string[];
  /** Buckets other than the sources whose manifests the list function may read (-c manifestBucket). */
  readonly manifestBuckets?: readonly string[];
  /** The scheduled sync's schedule and its start-job function, when the stack has one (-c schedule). */
  readonly scheduleName?: string | undefined;
  readonly startJobFunctionName?: string | undefined;
  /** Where S3 events of the live job arrive, when the stack follows one (-c live=true). */
  readonly liveQueueUrl?: string | undefined;
  /** Whether sync --delete may delete (-c allowDelete); undefined where any bucket is allowed (the local stack). */
  readonly deletionsAllowed?: boolean | undefined;
}

export class DeploymentError extends S3FanoutError {}

const names = (list: string) =>
  list
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean);

/** The stack's outputs as `cdk deploy --outputs-file` writes them: `{ "<stack>": { "<output>": "<value>" } }`. */
export function deploymentFromOutputs(file: unknown, stackName?: string): Deployment {
  if (typeof file !== "object" || file === null) throw new DeploymentError("outputs file is not a JSON object");
  const stacks = Object.keys(file);
  const name = stackName ?? (stacks.length === 1 ? stacks[0] : stacks.includes(DEFAULT_STACK_NAME) ? DEFAULT_STACK_NAME : undefined);
  if (name === undefined) throw new DeploymentError(`outputs file holds several stacks (${stacks.join(", ")}): pick one with --stack`);
  const outputs = (file as Record<string, unknown>)[name];
  if (outputs === undefined) throw new DeploymentError(`outputs file has no stack "${name}" (it has: ${stacks.join(", ") || "none"})`);
  return fromOutputMap(name, outputs);
}

function fromOutputMap(stackName: string, outputs: unknown): Deployment {
  const parsed = v.safeParse(Outputs, outputs);
  if (!parsed.success) {
    const missing = parsed.issues[0]?.path?.map((p) => String(p.key)).join(".") ?? "?";
    throw new DeploymentError(`stack ${stackName} outputs lack "${missing}": is it an s3-fanout stack, deployed with this version?`);
  }
  const o = parsed.output;
  return {
    stackName,
    listQueueUrl: o.ListQueueUrl,
    listDlqUrl: o.ListDlqUrl,
    copyQueueUrl: o.CopyQueueUrl,
    copyDlqUrl: o.CopyDlqUrl,
    listFunctionName: o.ListFunctionName,
    copyFunctionName: o.CopyFunctionName,
    ledgerBucket: o.LedgerBucket,
    sourceBuckets: names(o.SourceBuckets),
    destinationBuckets: names(o.DestinationBuckets),
    manifestBuckets: names(o.ManifestBuckets),
    scheduleName: o.ScheduleName,
    startJobFunctionName: o.StartJobFunctionName,
    liveQueueUrl: o.LiveQueueUrl,
    // A stack that names its buckets says whether it may delete; one that names none allows anything.
    deletionsAllowed: o.DeletionsAllowed === "true" ? true : names(o.DestinationBuckets).length === 0 ? undefined : false,
  };
}

export interface DeploymentSource {
  /** A `cdk deploy --outputs-file` file. @default ./cdk-outputs.json when it exists */
  readonly outputsFile?: string | undefined;
  /** @default S3Fanout */
  readonly stackName?: string | undefined;
  readonly region?: string | undefined;
}

export async function loadDeployment(source: DeploymentSource): Promise<Deployment> {
  const file = source.outputsFile ?? (existsSync(DEFAULT_OUTPUTS_FILE) ? DEFAULT_OUTPUTS_FILE : undefined);
  if (file !== undefined) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch {
      throw new UsageError(`cannot read outputs file ${file}`);
    }
    let json: unknown;
    try {
      json = JSON.parse(text);
    } catch {
      throw new DeploymentError(`outputs file ${file} is not JSON`);
    }
    return deploymentFromOutputs(json, source.stackName);
  }
  const stackName = source.stackName ?? DEFAULT_STACK_NAME;
  const cfn = new CloudFormationClient({ region: source.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION });
  try {
    const out = await cfn.send(new DescribeStacksCommand({ StackName: stackName }));
    const outputs = Object.fromEntries((out.Stacks?.[0]?.Outputs ?? []).map((o) => [o.OutputKey ?? "", o.OutputValue ?? ""]));
    return fromOutputMap(stackName, outputs);
  } catch (err) {
    if (err instanceof DeploymentError) throw err;
    const info = errorInfo(err);
    throw new DeploymentError(
      `cannot find stack ${stackName} (${info.code}): pass --outputs cdk-outputs.json from \`cdk deploy --outputs-file\`, or --stack NAME`,
    );
  } finally {
    cfn.destroy();
  }
}
