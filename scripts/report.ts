/**
 * npm run report -- --job ID [--out FILE] [--all] [--outputs FILE] [--json]
 * The job's failed keys with their errors, as CSV in S3 Batch Operations' completion report columns.
 */
import { writeFileSync } from "node:fs";
import { createS3Client } from "../lambdas/aws/clients.ts";
import { S3Ledger } from "../lambdas/aws/s3Ledger.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, endpointUrl, parseCommandArgs, runCommand } from "./lib/cli.ts";
import { connect, DEPLOYMENT_OPTIONS, DEPLOYMENT_USAGE } from "./lib/operator.ts";
import { jobReport, ReportError, toCsv } from "./lib/report.ts";
import { parseS3Url } from "./lib/s3url.ts";

const USAGE = `usage: npm run report -- --job ID [--out FILE] [--all] [options]
  --job ID          the job id kickoff printed
  --out FILE        write the CSV to FILE instead of stdout
  --all             every key's outcome: also the vanished keys (deleted from the source after
                    listing), the copied ones and those a sync found identical (TaskStatus succeeded)
  --ledger URL      read the job from this ledger instead of the deployment's (a job \`npm run local\` ran;
                    it prints its ledger)
${DEPLOYMENT_USAGE}
                    with --json the CSV goes only to --out (without --out it is not written) and the
                    line is {"jobId","failed","vanished","halted","rows","out","complete"}

The CSV has a header line and the columns of an S3 Batch Operations completion report:
  Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage
  Bucket      the source bucket (the destination bucket for a deleted key)
  Key         the source key URL-encoded with JavaScript's encodeURIComponent: UTF-8 percent-encoding
              of every byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ), so "/" is %2F, space %20, "+" %2B
  VersionId   the version a manifest row named, else empty (the current version)
  TaskStatus  failed; succeeded for a copied, identical or deleted key (--all)
  ErrorCode   the last error's code (AccessDenied, ...); NoSuchKey for a vanished key (--all)
  HTTPStatusCode  its HTTP status (404 for a vanished key, 200 for a succeeded one), empty when no HTTP answer came
  ResultMessage   its message; "copied", "skipped: identical ...", or "deleted: only the destination had it ..." for a succeeded key
A key a halt left uncopied has no row (a cancelled Batch Operations job reports only the tasks it ran, and
the ledger does not name keys whose batches the halt purged): stderr and "halted" count them, and
\`kickoff --sync\` (or \`local --sync\`) copies exactly them.
Rows are in key order: failed keys first, then vanished, copied, identical and deleted (--all). Lines end in CRLF; fields holding a comma, quote, CR or LF
are quoted, quotes doubled (RFC 4180). A key that failed and that a redrive copied since is not failed.
Exit codes: 0 the job has no failed keys, 1 it has some, 2 bad usage, 3 no such job or could not run.`;

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    job: { type: "string" },
    out: { type: "string" },
    all: { type: "boolean", default: false },
    ledger: { type: "string" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (!args.job) throw new UsageError("--job ID is required (see --help)");
  if (args.out === "") throw new UsageError("--out needs a file name");
  const c = args.ledger === undefined ? await connect(args) : ledgerAt(args.ledger, args);
  const report = await jobReport(c, args.job, { all: args.all });
  const csv = toCsv(report.rows);
  if (args.out !== undefined) {
    try {
      writeFileSync(args.out, csv);
    } catch (err) {
      throw new ReportError(`cannot write ${args.out}: ${err instanceof Error ? err.message : String(err)}`);
    }
  } else if (!args.json) {
    process.stdout.write(csv);
  }
  const { summary } = report;
  if (report.haltMarked && !summary.complete) {
    process.stderr.write(
      `job ${args.job} was halted: ${summary.halted} keys not copied (no rows name them; a --sync rerun copies them)${summary.rangesCovered ? "" : ", its listing unfinished"}\n`,
    );
  } else if (!summary.complete) {
    process.stderr.write(
      `job ${args.job} is not complete (${summary.pendingBatches} batches pending${summary.rangesCovered ? "" : ", still listing"}): the report covers what has settled so far\n`,
    );
  }
  process.stderr.write(
    `job ${args.job}: ${report.failed} failed, ${report.vanished} vanished, ${summary.copied} copied${summary.halted > 0 ? `, ${summary.halted} halted` : ""}; ${report.rows.length} rows${args.out ? ` written to ${args.out}` : ""}\n`,
  );
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({ jobId: args.job, failed: report.failed, vanished: report.vanished, halted: summary.halted, rows: report.rows.length, out: args.out ?? null, complete: summary.complete })}\n`,
    );
  }
  return report.failed > 0 ? EXIT.failed : EXIT.ok;
}

/** A ledger named by URL, with no deployment behind it. */
function ledgerAt(url: string, args: { endpoint?: string | undefined; region?: string | undefined }): { ledger: S3Ledger } {
  const { bucket, prefix } = parseS3Url(url, "--ledger");
  const s3 = createS3Client({ endpoint: endpointUrl(args.endpoint), region: args.region });
  // `local` prints the job's own prefix (…/jobs/ID/); the ledger's root is above it.
  const root = prefix.replace(/(^|\/)jobs\/[^/]+\/$/, "$1");
  return { ledger: new S3Ledger(s3, bucket, root) };
}

await runCommand(main);
