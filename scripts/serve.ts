/**
 * npm run serve -- [--endpoint URL] [--outputs FILE] [--stack NAME] [--schedule "rate(N minutes)" --scheduled-job "FLAGS"]
 * The stack on this machine: creates its queues and ledger bucket on the endpoint (the embedded
 * emulator when none is given), writes the outputs file, and runs both functions until Ctrl-C.
 * kickoff, status, halt, redrive and report then work against it as against AWS.
 */
import { writeFileSync } from "node:fs";
import { createS3Client, createSqsClient } from "../lambdas/aws/clients.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, endpointUrl, parseCommandArgs, runCommand } from "./lib/cli.ts";
import { type Emulator, startEmulator } from "./lib/emulator.ts";
import { parseJobDefinition } from "./lib/kickoffArgs.ts";
import { rateMs } from "./local/schedule.ts";
import { startLocalStack } from "./local/stack.ts";

const USAGE = `usage: npm run serve -- [--endpoint URL] [--outputs FILE] [--stack NAME]
  --endpoint URL    S3/SQS endpoint (default AWS_ENDPOINT_URL, else an embedded emulator on --port)
  --port N          port of the embedded emulator (default 4566)
  --outputs FILE    where to write the stack outputs (default cdk-outputs.json)
  --stack NAME      (default S3FanoutLocal)
  --schedule EXPR   run --scheduled-job on this rate(N minutes|hours|days), as -c schedule does on AWS
  --scheduled-job FLAGS  kickoff flags of the scheduled job, e.g. --scheduled-job="--source s3://A/P --dest s3://B/P --sync"
  --live-job FLAGS  run the live function for this job (as -c live=true -c liveJob=...): post S3 events to LiveQueueUrl
  --live-delete     live changes delete keys the source no longer has (as -c liveDelete=true)`;

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    endpoint: { type: "string" },
    port: { type: "string" },
    outputs: { type: "string" },
    stack: { type: "string" },
    schedule: { type: "string" },
    "scheduled-job": { type: "string" },
    "live-job": { type: "string" },
    "live-delete": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  let emulator: Emulator | undefined;
  let endpoint = endpointUrl(args.endpoint);
  if (endpoint === undefined) {
    emulator = await startEmulator(Number(args.port ?? 4566));
    endpoint = emulator.endpoint;
  }
  if ((args.schedule === undefined) !== (args["scheduled-job"] === undefined)) {
    throw new UsageError("--schedule and --scheduled-job go together (see --help)");
  }
  const schedule = args.schedule === undefined ? undefined : { expression: args.schedule, job: args["scheduled-job"] ?? "" };
  if (schedule) rateMs(schedule.expression);
  const liveRequest = args["live-job"] === undefined ? undefined : parseJobDefinition(args["live-job"], "--live-job");
  if (args["live-delete"] && liveRequest === undefined) throw new UsageError("--live-delete needs --live-job (see --help)");
  const live =
    liveRequest === undefined
      ? undefined
      : {
          job: { source: liveRequest.source, destination: liveRequest.destination, options: liveRequest.options },
          allowDelete: args["live-delete"],
        };
  const stack = await startLocalStack({
    s3: createS3Client({ endpoint }),
    sqs: createSqsClient({ endpoint }),
    stackName: args.stack,
    schedule,
    live,
  });
  const outputsFile = args.outputs ?? "cdk-outputs.json";
  writeFileSync(outputsFile, `${JSON.stringify(stack.outputs(), null, 2)}\n`);
  process.stdout.write(
    `stack ${stack.deployment.stackName} serving on ${endpoint}; outputs in ${outputsFile}; Ctrl-C to stop\n` +
      `  export AWS_ENDPOINT_URL=${endpoint}\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await stack.stop();
  await emulator?.stop();
  return EXIT.ok;
}

await runCommand(main);
