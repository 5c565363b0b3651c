/**
 * npm run kickoff -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [--manifest URL] [--outputs FILE] [--json]
 * Preflights, writes the job spec to the ledger and seeds the listing ranges (or the manifest's chunks); prints the job id.
 */
import { EXIT, JOB_OPTION_USAGE, runCommand } from "./lib/cli.ts";
import { kickoffRequestOf, parseKickoffArgs } from "./lib/kickoffArgs.ts";
import { connect, DEPLOYMENT_USAGE, kickoff, MANIFEST_USAGE } from "./lib/operator.ts";
import { formatS3Url } from "./lib/s3url.ts";

const USAGE = `usage: npm run kickoff -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [options]
  --source URL      what to copy (every key under the prefix)
  --dest URL        where to; the source prefix is replaced by this prefix
  --job-id ID       (default: a new time-sortable id)
${MANIFEST_USAGE}
${JOB_OPTION_USAGE}
${DEPLOYMENT_USAGE}`;

async function main(): Promise<number> {
  const args = parseKickoffArgs(process.argv.slice(2));
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { source, destination, jobId, options, manifest } = kickoffRequestOf(args);
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
