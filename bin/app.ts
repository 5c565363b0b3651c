/**
 * CDK app entry. The buckets and every other setting come from context: kept in cdk.context.json by
 * `npm run configure -- --source-bucket A --destination-bucket B`, or given as `-c sourceBucket=A
 * -c destinationBucket=B` (comma-separated lists allowed; `-c` wins over the file). Optional context:
 * sourceKmsKeyArn, destinationKmsKeyArn, ledgerBucket, listMaxConcurrency, copyMaxConcurrency,
 * copyConcurrency, manifestBucket, ledgerKmsKeyArn, alarmEmail, stackName (lib/context.ts).
 * With none of them the app says how to configure it and holds only an empty placeholder stack
 * (lib/app.ts), so that a fresh clone's `cdk synth`, `cdk ls` and `cdk bootstrap` succeed while
 * `cdk deploy` and `cdk destroy` still refuse. cdk-nag's AwsSolutions pack validates every synth.
 */
import { App, Validations } from "aws-cdk-lib";
import { AwsSolutionsChecks } from "cdk-nag";
import { addNotConfiguredPlaceholder, stackFromContext } from "../lib/app.ts";

const NOT_CONFIGURED =
  "s3-fanout: not configured, so no pipeline stack: run `npm run configure -- --source-bucket SRC --destination-bucket DST` " +
  "(kept in cdk.context.json), or pass -c sourceBucket=SRC -c destinationBucket=DST";

const app = new App();
Validations.of(app).addPlugins(new AwsSolutionsChecks(app, { verbose: true }));

try {
  if (stackFromContext(app) === undefined) {
    addNotConfiguredPlaceholder(app);
    console.error(NOT_CONFIGURED);
  }
} catch (error) {
  // One clear line for a configuration mistake, not a stack trace.
  console.error(`s3-fanout: ${error instanceof Error ? error.message : String(error)}`);
  process.exit(1);
}
