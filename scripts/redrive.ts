/**
 * npm run redrive -- [--queue copy|list|both] [--max N] [--manual] [--outputs FILE] [--json]
 * Sends DLQ messages back to their work queue for another try.
 */
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { connect, DEPLOYMENT_OPTIONS, DEPLOYMENT_USAGE } from "./lib/operator.ts";
import { type QueueRedrive, redrive, WORK_QUEUES, type WorkQueue } from "./lib/redrive.ts";

const USAGE = `usage: npm run redrive -- [--queue copy|list|both] [--max N] [--manual] [options]
  --queue Q         which DLQ to send back: copy, list or both (default both)
  --max N           move at most N messages per DLQ (moves by hand: a move task cannot stop at a count)
  --manual          move by hand (receive, send to the work queue, then delete) even where SQS can move them
${DEPLOYMENT_USAGE}

On AWS, SQS moves the messages itself (StartMessageMoveTask, one task per DLQ, to its work queue) and
this command returns once the tasks have started. Where the endpoint lacks or fails that action (unknown
action, 501, a 5xx, an answer that is not SQS's: the embedded emulator, moto) the messages are moved by
hand, and a message leaves the DLQ only once the work queue has it. Where SQS refuses it (AccessDenied)
the error names the --manual command to run instead.

The copy DLQ holds copy batches SQS gave up on (sent back as they are), one failure record per key that
could not be copied (the copy function retries that key on its own) and poison (bodies that cannot be
parsed). Poison cannot be retried: moving by hand leaves it in the DLQ and counts it as skipped; a move
task moves every message, and poison comes straight back to the DLQ as poison on its first receive.
The list DLQ holds listing work and poison, treated the same way. Moving by hand leaves for the next
redrive what reaches the DLQ while it runs (keys that fail again), so it always ends.
Exit codes: 0 done, 1 the work queue refused some messages (they stay in the DLQ), 2 bad usage, 3 could not run.`;

function parseQueues(value: string | undefined): WorkQueue[] {
  if (value === undefined || value === "both") return [...WORK_QUEUES];
  if (value === "copy" || value === "list") return [value];
  throw new UsageError(`--queue must be copy, list or both, got "${value}"`);
}

function describe(r: QueueRedrive): string {
  if (r.mode === "move-task") {
    return `${r.queue} DLQ: move task ${r.taskHandle ?? "(no handle)"} started for about ${r.before} messages; poison comes back as poison`;
  }
  if (r.moved + r.skipped + r.arrived + r.sendFailed === 0) return `${r.queue} DLQ: empty, nothing to move`;
  const parts = [`${r.queue} DLQ: moved ${r.moved}`];
  if (r.skipped > 0) parts.push(`skipped ${r.skipped} (poison, left in the DLQ)`);
  if (r.arrived > 0) parts.push(`left ${r.arrived} that arrived meanwhile`);
  if (r.sendFailed > 0) parts.push(`${r.sendFailed} refused by the work queue (still in the DLQ)`);
  if (r.deleteFailed > 0) parts.push(`${r.deleteFailed} not deleted from the DLQ (will be moved again)`);
  return `${parts.join(", ")}${r.fallback ? ` (by hand: ${r.fallback})` : ""}`;
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    ...DEPLOYMENT_OPTIONS,
    queue: { type: "string" },
    max: { type: "string" },
    manual: { type: "boolean", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const queues = parseQueues(args.queue);
  const max = args.max === undefined ? undefined : positiveInt(args.max, "max", 1);
  const c = await connect(args);
  const reported = new Map<WorkQueue, number>();
  const results = await redrive(c.sqs, c.deployment, queues, {
    manual: args.manual,
    max,
    onProgress: (p) => {
      // A line per thousand moved: long runs show they are alive.
      const thousands = Math.floor(p.moved / 1000);
      if (thousands > (reported.get(p.queue) ?? 0)) {
        reported.set(p.queue, thousands);
        process.stderr.write(`${p.queue} DLQ: moved ${p.moved}, skipped ${p.skipped}...\n`);
      }
    },
  });
  for (const r of results) process.stderr.write(`${describe(r)}\n`);
  if (args.json) {
    const moved = results.reduce((n, r) => n + r.moved, 0);
    const skipped = results.reduce((n, r) => n + r.skipped, 0);
    process.stdout.write(`${JSON.stringify({ moved, skipped, queues: results })}\n`);
  }
  return results.some((r) => r.sendFailed > 0) ? EXIT.failed : EXIT.ok;
}

await runCommand(main);
