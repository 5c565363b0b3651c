import { LocalHaltSignal } from "../lambdas/core/halt.ts";
import { newJobId } from "../lambdas/core/selection.ts";
import {
  EXIT,
  endpointUrl,
  JOB_OPTION_FLAGS,
  JOB_OPTION_USAGE,
  jobOptionsFromArgs,
  parseCommandArgs,
  positiveInt,
  runCommand,
} from "./lib/cli.ts";
import { MANIFEST_FLAGS, MANIFEST_USAGE, manifestFromArgs } from "./lib/operator.ts";
import { jobProgress } from "./lib/progress.ts";
import { formatS3Url, parseJobLocations, parseS3Url } from "./lib/s3url.ts";
import { runLocalJob } from "./local/job.ts";

const USAGE = `usage: npm run local -- --source s3://BUCKET[/PREFIX] --dest s3://BUCKET[/PREFIX] [--manifest URL] [--endpoint URL] [--json]
  --source URL            what to copy (every key under the prefix)
  --dest URL              where to; the source prefix is replaced by this prefix
${MANIFEST_USAGE}
  --ledger URL            where the job's ledger goes (default: on a custom endpoint a bucket
                          s3-fanout-ledger, created; on AWS s3://DEST-BUCKET/.s3-fanout/ if outside the selection)
  --endpoint URL          S3/SQS endpoint (default: AWS_ENDPOINT_URL, else AWS)
  --region REGION         (default: AWS_REGION, else us-east-1)
  --list-concurrency N    concurrent list invocations (default 4)
  --copy-invocations N    concurrent copy invocations (default 4)
  --copy-concurrency N    copies in flight per copy invocation (default 64)
  --copy-threads N        worker threads the copy invocations are spread over (default 0: this
                          thread; each thread costs CPU per object, README: Hot path)
  --list-timeout-ms N     list invocation timeout; it continues itself before it (default 60000)
  --copy-timeout-ms N     copy invocation timeout (default 60000)
${JOB_OPTION_USAGE}
  --json                  last stdout line is a JSON summary
  --quiet                 no progress display
  --verbose               handler logs (JSON) on stdout`;

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...JOB_OPTION_FLAGS,
    ...MANIFEST_FLAGS,
    source: { type: "string" },
    dest: { type: "string" },
    ledger: { type: "string" },
    endpoint: { type: "string" },
    region: { type: "string" },
    "list-concurrency": { type: "string" },
    "copy-invocations": { type: "string" },
    "copy-concurrency": { type: "string" },
    "copy-threads": { type: "string" },
    "list-timeout-ms": { type: "string" },
    "copy-timeout-ms": { type: "string" },
    json: { type: "boolean", default: false },
    quiet: { type: "boolean", default: false },
    verbose: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { source, destination } = parseJobLocations(args);
  const manifest = manifestFromArgs(args);
  const ledger = args.ledger === undefined ? undefined : parseS3Url(args.ledger, "--ledger");
  const endpoint = endpointUrl(args.endpoint);
  const progress = jobProgress(!args.quiet);
  // Ctrl-C halts the job as `halt` does on AWS: running invocations stop before their next copy or enqueue.
  const halt = new LocalHaltSignal();
  const jobId = newJobId();
  const copyInvocations = positiveInt(args["copy-invocations"], "copy-invocations", 4);
  process.once("SIGINT", () => {
    process.stderr.write(`\nhalting job ${jobId}...\n`);
    halt.halt(jobId);
  });
  const result = await runLocalJob({
    jobId,
    halt,
    jobOptions: jobOptionsFromArgs(args),
    manifest,
    source,
    destination,
    ledger,
    endpoint,
    region: args.region,
    listConcurrency: positiveInt(args["list-concurrency"], "list-concurrency", 4),
    copyInvocations,
    copyConcurrency: positiveInt(args["copy-concurrency"], "copy-concurrency", 64),
    copyThreads: args["copy-threads"] === "0" ? 0 : positiveInt(args["copy-threads"], "copy-threads", 0),
    listTimeoutMs: positiveInt(args["list-timeout-ms"], "list-timeout-ms", 60_000),
    copyTimeoutMs: positiveInt(args["copy-timeout-ms"], "copy-timeout-ms", 60_000),
    logLevel: args.verbose ? "INFO" : "SILENT",
    onProgress: (s) => progress.update(s),
  });
  progress.stop();
  const ok = result.complete && result.failed === 0 && !result.deletionsRefused && !result.haltedEarly;
  process.stderr.write(
    `${ok ? "done" : result.haltedEarly ? "HALTED" : result.deletionsRefused ? "copied, deleted none" : "INCOMPLETE"}: job ${result.jobId} ${formatS3Url(source)} -> ${formatS3Url(destination)}: ` +
      `listed ${result.listed}, copied ${result.copied}, ${result.skipped > 0 ? `skipped ${result.skipped}, ` : ""}` +
      `${result.deleted > 0 || result.toDelete > 0 ? `deleted ${result.deleted}, ` : ""}vanished ${result.vanished}, failed ${result.failed}, ${result.halted > 0 ? `halted ${result.halted}, ` : ""}` +
      `${result.bytes} bytes in ${result.seconds.toFixed(1)} s\n`,
  );
  if (result.deletionsRefused)
    process.stderr.write(
      `deleted none: ${result.toDelete} keys are only in the destination, more than --max-delete ${args["max-delete"]} (the copies stand)\n`,
    );
  for (const f of result.failures.slice(0, 20))
    process.stderr.write(`failed: ${JSON.stringify(f.key)} ${f.error.code}: ${f.error.message}\n`);
  if (!result.complete && !result.haltedEarly)
    process.stderr.write(
      `not proven complete: ${result.pendingBatches} batch(es) without an outcome, ${manifest ? "manifest chunks" : "ranges"} covered: ${result.rangesCovered}\n`,
    );
  for (const url of result.keptQueues) process.stderr.write(`kept DLQ with messages: ${url}\n`);
  process.stderr.write(`ledger: ${formatS3Url(result.ledger)}\n`);
  if (args.json) {
    process.stdout.write(
      `${JSON.stringify({
        jobId: result.jobId,
        complete: result.complete,
        listed: result.listed,
        copied: result.copied,
        skipped: result.skipped,
        vanished: result.vanished,
        deleted: result.deleted,
        failed: result.failed,
        halted: result.haltedEarly,
        bytes: result.bytes,
        seconds: Number(result.seconds.toFixed(3)),
        ranges: result.ranges,
        dlq: result.dlq,
        ledger: formatS3Url(result.ledger),
      })}\n`,
    );
  }
  return ok ? EXIT.ok : EXIT.failed;
}

await runCommand(main);
