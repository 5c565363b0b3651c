/**
 * npm run verify -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [--endpoint URL] [--json]
 * Compares the two selections (same size and ETag, by listing; no HEAD per key) and lists every
 * missing, extra or different key. Exit 1 when there is any difference.
 */
import { createS3Client } from "../lambdas/aws/clients.ts";
import { EXIT, endpointUrl, parseCommandArgs, runCommand } from "./lib/cli.ts";
import { checkBucket } from "./lib/preflight.ts";
import { formatS3Url, parseJobLocations } from "./lib/s3url.ts";
import { type Difference, s3VerifyDeps, verifySelections } from "./lib/verify.ts";

const USAGE = `usage: npm run verify -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [--endpoint URL] [--json]
  Lists every difference on stdout, one per line: "missing", "extra" or "different <size|etag>",
  a tab, then the key as a JSON string (so that any key fits on one line).
  Same size and ETag count as identical; a multipart copy made by s3-fanout carries its source's
  ETag in x-amz-meta-s3fanout-source-etag and is checked with one HEAD.
  --endpoint URL    S3 endpoint (default AWS_ENDPOINT_URL, else AWS)
  --region REGION   (default AWS_REGION)
  --json            last stdout line: {"differences", "missing", "extra", "different", "compared", "matching", "seconds"}
  --quiet           no difference lines (counts only)`;

function line(d: Difference): string {
  const kind = d.kind === "different" ? `different ${d.reason}` : d.kind;
  return `${kind}\t${JSON.stringify(d.key)}\n`;
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    source: { type: "string" },
    dest: { type: "string" },
    endpoint: { type: "string" },
    region: { type: "string" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { source, destination } = parseJobLocations(args);
  const s3 = createS3Client({ endpoint: endpointUrl(args.endpoint), region: args.region });
  await checkBucket(s3, source.bucket, "source");
  await checkBucket(s3, destination.bucket, "destination");
  const started = performance.now();
  const counts = await verifySelections({
    source,
    destination,
    ...s3VerifyDeps(s3),
    onDifference: args.quiet ? undefined : (d) => process.stdout.write(line(d)),
  });
  const seconds = (performance.now() - started) / 1000;
  process.stderr.write(
    `${counts.differences === 0 ? "identical" : "DIFFERENT"}: ${formatS3Url(source)} vs ${formatS3Url(destination)}: ` +
      `${counts.matching} matching, ${counts.missing} missing, ${counts.extra} extra, ${counts.different} different, in ${seconds.toFixed(1)} s\n`,
  );
  if (args.json) process.stdout.write(`${JSON.stringify({ ...counts, seconds: Number(seconds.toFixed(3)) })}\n`);
  return counts.differences === 0 ? EXIT.ok : EXIT.failed;
}

await runCommand(main);
