/**
 * npm run halt -- --job ID [--no-purge] [--outputs FILE] [--json]
 * Race-free stop: writes the halt marker, waits until every handler must see it, then purges the queues.
 */
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, runCommand } from "./lib/cli.ts";
import { connect, DEPLOYMENT_OPTIONS, DEPLOYMENT_USAGE, haltJob } from "./lib/operator.ts";

const USAGE = `usage: npm run halt -- --job ID [--no-purge] [options]
  --job ID          the job to stop; once halt returns, no copy starts and no listing re-enqueues itself
  --no-purge        keep the queues' messages (other jobs on this stack); the halted job's are dropped as they arrive
  --reason TEXT     recorded in the halt marker
${DEPLOYMENT_USAGE}`;

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    job: { type: "string" },
    "no-purge": { type: "boolean", default: false },
    reason: { type: "string" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (!args.job) throw new UsageError("--job ID is required (see --help)");
  const c = await connect(args);
  const result = await haltJob(c, args.job, {
    purge: !args["no-purge"],
    reason: args.reason,
    onMarked: () => process.stderr.write(`halting job ${args.job}: marker written, waiting for every handler to see it...\n`),
  });
  process.stderr.write(`halted job ${args.job}${result.purged.length > 0 ? `; purged ${result.purged.length} queues` : ""}\n`);
  if (args.json) process.stdout.write(`${JSON.stringify({ jobId: args.job, halted: true, purged: result.purged })}\n`);
  return EXIT.ok;
}

await runCommand(main);
