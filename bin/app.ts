/** CDK app entry: `cdk synth -c sourceBucket=A -c destinationBucket=B` (comma-separated lists allowed). */
import { App } from "aws-cdk-lib";
import { S3FanoutStack } from "../lib/s3-fanout-stack.ts";

const app = new App();
const list = (name: string): string[] => {
  const value = app.node.tryGetContext(name);
  if (typeof value !== "string" || value.trim() === "") {
    throw new Error(`context "${name}" is required: cdk synth -c sourceBucket=SOURCE -c destinationBucket=DESTINATION`);
  }
  return value
    .split(",")
    .map((b) => b.trim())
    .filter(Boolean);
};

new S3FanoutStack(app, app.node.tryGetContext("stackName") ?? "S3Fanout", {
  sourceBuckets: list("sourceBucket"),
  destinationBuckets: list("destinationBucket"),
  env: { account: process.env.CDK_DEFAULT_ACCOUNT, region: process.env.CDK_DEFAULT_REGION },
});
