import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { S3FanoutStack } from "../../lib/s3-fanout-stack.ts";
const acks: string[] = [];
// biome-ignore lint: scratch
(Validations.prototype as any).acknowledge = function (...r: { id: string }[]) { acks.push(...r.map((x) => x.id)); };
const app = new App({ outdir: "/tmp/scratch/out", context: { "@aws-cdk/aws-s3:serverAccessLogsUseBucketPolicy": true, ...(process.env.LEDGER ? { x: 1 } : {}) } });
Validations.of(app).addPlugins(new AwsSolutionsChecks(app));
new S3FanoutStack(app, "S", { sourceBuckets: ["a", "a2"], destinationBuckets: ["b"], ledgerBucket: process.env.LEDGER, sourceKmsKeyArn: "arn:aws:kms:eu-west-1:123456789012:key/abcd-1234" });
console.log("ACKS", acks);
try { app.synth(); console.log("ok"); } catch (e) { console.log("THROWN"); }
