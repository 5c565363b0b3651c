/**
 * npm run status -- --job ID [--watch] [--outputs FILE] [--json]
 * npm run status -- --history [--schedule NAME] [--json]
 * A job's progress from its ledger (listed, copied, failed, bytes, rate, ETA) and the queue depths;
 * or the runs of the stack's schedule, each proven from its job's ledger.
 */
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import {
  type Connection,
  connect,
  DEPLOYMENT_OPTIONS,
  DEPLOYMENT_USAGE,
  type JobStatus,
  jobStatus,
  type ScheduledRunSummary,
  scheduleHistory,
} from "./lib/operator.ts";
import { jobProgress } from "./lib/progress.ts";

const USAGE = `usage: npm run status -- --job ID [--watch] [options]
       npm run status -- --history [--schedule NAME] [options]
  --job ID          the job id kickoff printed
  --history         the runs of the stack's schedule (-c schedule): job id, start, end, copied, deleted,
                    failed, complete; --json: {"runs":[{jobId,start,end,copied,deleted,failed,complete}]}
  --schedule NAME   whose runs (default: the stack's ScheduleName output)
  --watch           refresh until the job is complete or halted; exit 0 only if nothing failed
  --interval S      seconds between refreshes (default 5)
${DEPLOYMENT_USAGE}

A halted job is "halted", never "complete", once the halt left a key uncopied. Every key it listed is
counted once: copied, skipped (identical), vanished, failed or halted; the keys of batches the halt
purged (purgedBatches) count as halted. A --sync rerun of the job copies exactly the keys not copied.`;

function describe(s: JobStatus): string {
  const eta = s.etaSeconds === undefined ? "unknown" : `${Math.ceil(s.etaSeconds)} s`;
  return [
    `job ${s.jobId}: ${s.state}${s.haltMarked && s.state !== "halted" ? " (halt marked)" : ""}`,
    `  listed   ${s.listed}${s.rangesCovered ? "" : "+ (still listing)"} keys, ${s.listedBytes} bytes, in ${s.portions} range portions`,
    `  copied   ${s.copied} (${s.bytes} bytes), skipped ${s.skipped}, failed ${s.failed}, vanished ${s.vanished}, halted ${s.halted}`,
    ...(s.toDelete > 0 || s.deletionsRefused
      ? [
          s.deletionsRefused
            ? `  deleted  none: ${s.toDelete} keys only in the destination, more than --max-delete`
            : `  deleted  ${s.deleted} of ${s.toDelete} keys only in the destination`,
        ]
      : []),
    `  rate     ${s.rate.toFixed(1)} objects/s over ${s.elapsedSeconds.toFixed(0)} s, ETA ${eta}; ${s.pendingBatches} batches pending` +
      (s.purgedBatches > 0 ? `, ${s.purgedBatches} purged by the halt (their keys counted halted)` : ""),
    `  queues   list ${s.queues.list}, copy ${s.queues.copy}; DLQs list ${s.queues.listDlq}, copy ${s.queues.copyDlq}`,
  ].join("\n");
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    job: { type: "string" },
    watch: { type: "boolean", default: false },
    interval: { type: "string" },
    history: { type: "boolean", default: false },
    schedule: { type: "string" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  if (args.history) {
    if (args.job !== undefined || args.watch) throw new UsageError("--history takes no --job or --watch (see --help)");
    return history(await connect(args), args.schedule, args.json);
  }
  if (args.schedule !== undefined) throw new UsageError("--schedule goes with --history (see --help)");
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
    const { deleted, purgedBatches } = status;
    process.stdout.write(
      `${JSON.stringify({ jobId, state, complete, listed, copied, skipped, vanished, failed, halted, bytes, rate, etaSeconds: etaSeconds ?? null, pendingBatches, purgedBatches, queues, deleted })}\n`,
    );
  }
  if (!args.watch) return EXIT.ok;
  return status.state === "complete" && status.failed === 0 ? EXIT.ok : EXIT.failed;
}

function describeRun(r: ScheduledRunSummary): string {
  const state = r.complete ? "complete" : r.end === null ? "unfinished" : "halted";
  return `  ${r.jobId}  ${r.start}  ${r.end ?? "-".padEnd(24)}  ${state.padEnd(10)}  copied ${r.copied}, deleted ${r.deleted}, failed ${r.failed}`;
}

async function history(c: Connection, asked: string | undefined, json: boolean): Promise<number> {
  const schedule = asked ?? c.deployment.scheduleName;
  if (schedule === undefined) {
    throw new UsageError(
      `stack ${c.deployment.stackName} has no schedule (deploy with -c schedule and -c scheduledJob), or pass --schedule NAME`,
    );
  }
  const runs = await scheduleHistory(c, schedule);
  process.stderr.write(
    runs.length === 0
      ? `schedule ${schedule}: no runs yet\n`
      : `schedule ${schedule}: ${runs.length} runs\n${runs.map(describeRun).join("\n")}\n`,
  );
  if (json) process.stdout.write(`${JSON.stringify({ runs })}\n`);
  return EXIT.ok;
}

await runCommand(main);
