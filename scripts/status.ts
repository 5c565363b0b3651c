/**
 * npm run status -- --job ID [--watch] [--outputs FILE] [--json]
 * A job's progress from its ledger (listed, copied, failed, bytes, rate, ETA) and the queue depths.
 */
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { connect, DEPLOYMENT_OPTIONS, DEPLOYMENT_USAGE, type JobStatus, jobStatus } from "./lib/operator.ts";
import { jobProgress } from "./lib/progress.ts";

const USAGE = `usage: npm run status -- --job ID [--watch] [options]
  --job ID          the job id kickoff printed
  --watch           refresh until the job is complete or halted; exit 0 only if nothing failed
  --interval S      seconds between refreshes (default 5)
${DEPLOYMENT_USAGE}`;

function describe(s: JobStatus): string {
  const eta = s.etaSeconds === undefined ? "unknown" : `${Math.ceil(s.etaSeconds)} s`;
  return [
    `job ${s.jobId}: ${s.state}${s.haltMarked && s.state !== "halted" ? " (halt marked)" : ""}`,
    `  listed   ${s.listed}${s.rangesCovered ? "" : "+ (still listing)"} keys, ${s.listedBytes} bytes, in ${s.portions} range portions`,
    `  copied   ${s.copied} (${s.bytes} bytes), skipped ${s.skipped}, failed ${s.failed}, vanished ${s.vanished}, halted ${s.halted}`,
    `  rate     ${s.rate.toFixed(1)} objects/s over ${s.elapsedSeconds.toFixed(0)} s, ETA ${eta}; ${s.pendingBatches} batches pending`,
    `  queues   list ${s.queues.list}, copy ${s.queues.copy}; DLQs list ${s.queues.listDlq}, copy ${s.queues.copyDlq}`,
  ].join("\n");
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    job: { type: "string" },
    watch: { type: "boolean", default: false },
    interval: { type: "string" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (!args.job) throw new UsageError("--job ID is required (see --help)");
  const intervalMs = positiveInt(args.interval, "interval", 5) * 1000;
  const c = await connect(args);
  let status = await jobStatus(c, args.job);
  if (args.watch) {
    const progress = jobProgress(true);
    while (status.state !== "complete" && status.state !== "halted") {
      progress.update(status);
      await new Promise((r) => setTimeout(r, intervalMs));
      status = await jobStatus(c, args.job);
    }
    progress.stop();
  }
  process.stderr.write(`${describe(status)}\n`);
  if (args.json) {
    const { jobId, state, complete, listed, copied, skipped, vanished, failed, halted, bytes, rate, etaSeconds, pendingBatches, queues } =
      status;
    process.stdout.write(
      `${JSON.stringify({ jobId, state, complete, listed, copied, skipped, vanished, failed, halted, bytes, rate, etaSeconds: etaSeconds ?? null, pendingBatches, queues })}\n`,
    );
  }
  if (!args.watch) return EXIT.ok;
  return status.state === "complete" && status.failed === 0 ? EXIT.ok : EXIT.failed;
}

await runCommand(main);
