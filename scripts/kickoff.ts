/**
 * npm run kickoff -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [--manifest URL] [--outputs FILE] [--json]
 * Preflights, writes the job spec to the ledger and seeds the listing ranges (or the manifest's chunks); prints the job id.
 */
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, JOB_OPTION_FLAGS, JOB_OPTION_USAGE, jobOptionsFromArgs, parseCommandArgs, runCommand } from "./lib/cli.ts";
import {
  connect,
  DEPLOYMENT_OPTIONS,
  DEPLOYMENT_USAGE,
  kickoff,
  MANIFEST_FLAGS,
  MANIFEST_USAGE,
  manifestFromArgs,
} from "./lib/operator.ts";
import { formatS3Url, parseJobLocations } from "./lib/s3url.ts";

const USAGE = `usage: npm run kickoff -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [options]
  --source URL      what to copy (every key under the prefix)
  --dest URL        where to; the source prefix is replaced by this prefix
  --job-id ID       (default: a new time-sortable id)
${MANIFEST_USAGE}
${JOB_OPTION_USAGE}
${DEPLOYMENT_USAGE}`;

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    ...JOB_OPTION_FLAGS,
    ...MANIFEST_FLAGS,
    source: { type: "string" },
    dest: { type: "string" },
    "job-id": { type: "string" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { source, destination } = parseJobLocations(args);
  const jobId = args["job-id"];
  if (jobId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new UsageError("--job-id must be 1-64 of A-Z a-z 0-9 _ -");
  const options = jobOptionsFromArgs(args);
  const manifest = manifestFromArgs(args);
  const c = await connect(args);
  const { spec, ledgerUrl } = await kickoff(c, source, destination, jobId, options, manifest);
  const seeded = spec.manifest
    ? `${spec.ranges} chunks of manifest s3://${spec.manifest.bucket}/${spec.manifest.key} seeded`
    : `${spec.ranges} listing ranges seeded`;
  process.stderr.write(
    `started job ${spec.id}: ${formatS3Url(source)} -> ${formatS3Url(destination)}, ${seeded}; ledger ${ledgerUrl}\n` +
      `watch it:  npm run status -- --job ${spec.id} --watch\n`,
  );
  process.stdout.write(args.json ? `${JSON.stringify({ jobId: spec.id, ranges: spec.ranges, ledger: ledgerUrl })}\n` : `${spec.id}\n`);
  return EXIT.ok;
}

await runCommand(main);
