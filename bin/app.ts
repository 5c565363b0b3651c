/**
 * CDK app entry: `cdk synth -c sourceBucket=A -c destinationBucket=B` (comma-separated lists allowed).
 * Optional context: sourceKmsKeyArn, destinationKmsKeyArn, ledgerBucket, listMaxConcurrency,
 * copyMaxConcurrency, copyConcurrency, stackName. cdk-nag's AwsSolutions pack validates every synth.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { stackPropsFromContext } from "../lib/context.ts";
import { S3FanoutStack } from "../lib/s3-fanout-stack.ts";

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

try {
  new S3FanoutStack(app, app.node.tryGetContext("stackName") ?? "S3Fanout", {
    ...stackPropsFromContext(app),
    env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
  });
} catch (error) {
  // One clear line for a configuration mistake, not a stack trace.
  console.error(`s3-fanout: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
