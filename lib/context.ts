/**
 * Stack props from CDK context: `cdk synth -c sourceBucket=A,B -c destinationBucket=C`.
 * Values come as strings from `-c` and as strings, numbers or arrays from cdk.json.
 */
import type { StackProps } from "aws-cdk-lib";
import type { Construct } from "constructs";
import type { S3FanoutStackProps } from "./s3-fanout-stack.ts";

type ContextProps = Omit<S3FanoutStackProps, keyof StackProps>;

/**
 * Every context key the app reads: those of stackPropsFromContext, and stackName (lib/app.ts).
 * `npm run configure` keeps them in cdk.context.json; a test checks this list against what is read.
 */
export const CONTEXT_KEYS = [
  "sourceBucket",
  "destinationBucket",
  "sourceKmsKeyArn",
  "destinationKmsKeyArn",
  "ledgerBucket",
  "listMaxConcurrency",
  "copyMaxConcurrency",
  "copyConcurrency",
  "manifestBucket",
  "ledgerKmsKeyArn",
  "alarmEmail",
  "schedule",
  "scheduledJob",
  "live",
  "liveDelete",
  "liveJob",
  "allowDelete",
  "stackName",
] as const;

export type ContextKey = (typeof CONTEXT_KEYS)[number];

/** Whether the context holds any s3-fanout setting; with none (a fresh clone) the app defines no stack. */
export function hasDeploymentContext(scope: Construct): boolean {
  return CONTEXT_KEYS.some((key) => scope.node.tryGetContext(key) !== undefined);
}

/** A comma-separated list (or a JSON array in cdk.json); [] when absent. */
function list(scope: Construct, name: string): string[] {
  const value: unknown = scope.node.tryGetContext(name);
  if (value === undefined || value === null) return [];
  const items = Array.isArray(value) ? value : String(value).split(",");
  return items.map((item) => String(item).trim()).filter((item) => item !== "");
}

function text(scope: Construct, name: string): string | undefined {
  const value: unknown = scope.node.tryGetContext(name);
  if (value === undefined || value === null || String(value).trim() === "") return undefined;
  return String(value).trim();
}

function integer(scope: Construct, name: string): number | undefined {
  const raw = text(scope, name);
  if (raw === undefined) return undefined;
  if (!/^\d+$/.test(raw)) throw new Error(`context "${name}" must be a whole number, got "${raw}"`);
  return Number(raw);
}

/** Reads every S3FanoutStack setting the context may hold; the stack validates them. */
export function stackPropsFromContext(scope: Construct): ContextProps {
  return {
    sourceBuckets: list(scope, "sourceBucket"),
    destinationBuckets: list(scope, "destinationBucket"),
    sourceKmsKeyArn: text(scope, "sourceKmsKeyArn"),
    destinationKmsKeyArn: text(scope, "destinationKmsKeyArn"),
    ledgerBucket: text(scope, "ledgerBucket"),
    listMaxConcurrency: integer(scope, "listMaxConcurrency"),
    copyMaxConcurrency: integer(scope, "copyMaxConcurrency"),
    copyConcurrency: integer(scope, "copyConcurrency"),
    manifestBuckets: list(scope, "manifestBucket"),
    ledgerKmsKeyArn: text(scope, "ledgerKmsKeyArn"),
    alarmEmail: text(scope, "alarmEmail"),
    schedule: text(scope, "schedule"),
    scheduledJob: text(scope, "scheduledJob"),
    allowDelete: boolean(scope, "allowDelete"),
    live: boolean(scope, "live"),
    liveDelete: boolean(scope, "liveDelete"),
    liveJob: text(scope, "liveJob"),
  };
}

/** true or false (a string from -c, a boolean from cdk.json); undefined when absent. */
function boolean(scope: Construct, name: string): boolean | undefined {
  const raw = text(scope, name);
  if (raw === undefined) return undefined;
  if (raw !== "true" && raw !== "false") throw new Error(`context "${name}" must be true or false, got "${raw}"`);
  return raw === "true";
}
