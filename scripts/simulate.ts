/**
 * npm run simulate -- --objects N --prefixes P [--size SIZE] [--list-concurrency N] [--copy-concurrency N]
 *                     [--copies-in-flight N] [--seed N] [--json]
 * A job of N objects over P prefixes, simulated in virtual time: the real list and copy handlers run by
 * models of Lambda's SQS event source against models of S3 and SQS (scripts/sim/model.ts holds every
 * constant and its source). Exit 0 only when the ledger counts every object copied exactly once.
 */
import { writeFileSync } from "node:fs";
import { parseSize } from "../lambdas/core/copyPlan.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { DEFAULT_PRICES_FILE, loadPriceTable } from "./lib/plan.ts";
import { timelineSvg } from "./sim/chart.ts";
import { SIM_DEFAULTS } from "./sim/model.ts";
import { type SimResult, simulate } from "./sim/run.ts";

const DEFAULT_CHART = "bench/simulate.svg";

const USAGE = `usage: npm run simulate -- --objects N --prefixes P [--size SIZE] [--list-concurrency N] [--copy-concurrency N] [--copies-in-flight N] [--seed N] [--json]
  Simulates a copy job in virtual time with the real list and copy handlers, against models of S3
  (byte-order listing, 3,500 writes and 5,500 reads a second per prefix, SlowDown above them, partitions
  gained after sustained load, latencies), SQS (visibility, duplicates, long polling) and Lambda's SQS event
  source (5 invocations at first, +300 a minute, 1,000 at most, cold starts, timeouts). Model constants and
  their sources: scripts/sim/model.ts. Figures are a model's, not a measurement on AWS.
  --objects N             objects in the source (required)
  --prefixes P            top-level prefixes the objects spread over evenly, each its own S3 partition (required)
  --size SIZE             bytes per object, e.g. 1KiB, 100MiB (default ${SIM_DEFAULTS.sizeBytes}; above 64MiB copied by parts)
  --list-concurrency N    the list event source's maximum concurrency (default ${SIM_DEFAULTS.listConcurrency}, the stack's)
  --copy-concurrency N    the copy event source's maximum concurrency, 2-1000 (default ${SIM_DEFAULTS.copyConcurrency}, the stack's)
  --copies-in-flight N    copies in flight per copy invocation, COPY_CONCURRENCY (default ${SIM_DEFAULTS.copiesInFlight})
  --seed N                seed of every random draw: the same seed, the same run (default ${SIM_DEFAULTS.seed})
  --chart FILE            where the SVG timeline goes (default ${DEFAULT_CHART})
  --prices FILE           price table for the cost (default config/prices.json)
  --json                  last stdout line: {"objects","copied","simulatedSeconds","peakCopyInvocations",
                          "peakListInvocations","requests":{"s3","sqs","lambda"},"costUsd","bottleneck",...}
  Progress goes to stderr. Exit codes: 0 every object copied exactly once by the ledger's count; 1 not so;
  2 bad arguments.`;

const FLAGS = {
  objects: { type: "string" },
  prefixes: { type: "string" },
  size: { type: "string" },
  "list-concurrency": { type: "string" },
  "copy-concurrency": { type: "string" },
  "copies-in-flight": { type: "string" },
  seed: { type: "string" },
  chart: { type: "string" },
  prices: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
} as const;

function required(value: string | undefined, name: string): number {
  if (value === undefined) throw new UsageError(`--${name} is required (see --help)`);
  return positiveInt(value, name, 0);
}

function sizeOf(value: string | undefined): number {
  if (value === undefined) return SIM_DEFAULTS.sizeBytes;
  try {
    return parseSize(value);
  } catch {
    throw new UsageError(`--size must be a size such as 1KiB or 100MiB, got "${value}"`);
  }
}

const fmt = (n: number) => n.toLocaleString("en-US");

function report(r: SimResult, wallSeconds: number, peakRssMb: number, chart: string): string {
  const s3 = r.requests.s3;
  const lines = [
    `objects        ${fmt(r.copied)} of ${fmt(r.objects)} copied (${r.exactlyOnce ? "each exactly once by the ledger's count" : "NOT each exactly once"})`,
    `simulated      ${r.simulatedSeconds.toFixed(1)} s (${fmt(Math.round(r.objects / Math.max(r.simulatedSeconds, 1e-3)))} objects/s)`,
    `bottleneck     ${r.bottleneck} (${Object.entries(r.bottlenecks)
      .filter(([, v]) => v > 0)
      .map(([k, v]) => `${k} ${v} s`)
      .join(", ")})`,
    `invocations    copy ${fmt(r.requests.lambda.copy)} (peak ${r.peakCopyInvocations} at once), list ${fmt(r.requests.lambda.list)} (peak ${r.peakListInvocations}), ${fmt(r.coldStarts)} cold starts, ${r.timeouts} timeouts`,
    `S3             ${fmt(s3.copy ?? 0)} CopyObject, ${fmt(s3.list ?? 0)} ListObjectsV2, ${fmt(s3.ledgerPut ?? 0)} ledger PUTs, ${fmt(s3.slowDown ?? 0)} SlowDown answers; peak ${fmt(r.peakPrefixWritesPerSecond)} writes/s on one prefix, ${r.partitions} partitions at the end`,
    `at-least-once  ${fmt(r.duplicatesDelivered)} duplicate deliveries, ${fmt(r.extraCopies)} objects copied more than once by S3 (idempotent; counted once)`,
    `cost           $${r.costUsd.toFixed(2)} (S3 $${r.cost.s3.toFixed(2)}, SQS $${r.cost.sqs.toFixed(4)}, Lambda $${r.cost.lambda.toFixed(4)} for ${fmt(r.cost.lambdaGbSeconds)} GB-s)`,
    `failures       ${fmt(r.ledger.failed)} keys failed in the ledger (${
      Object.entries(r.failures.byCode)
        .map(([k, v]) => `${k} ${fmt(v)}`)
        .join(", ") || "none"
    }), ${fmt(r.failures.copyDlq)} copy DLQ messages, ${fmt(r.failures.requeuedKeys)} keys handed to a later delivery`,
    `rates          per-prefix law ${r.rateLaw.ok ? "held" : "BROKEN"} (busiest second at ${(100 * r.rateLaw.worstSecondRatio).toFixed(0)}% of rate + burst)`,
    `this run       ${wallSeconds.toFixed(1)} s wall, peak RSS ${fmt(Math.round(peakRssMb))} MB; chart ${chart}`,
  ];
  return `${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), FLAGS);
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const objects = required(args.objects, "objects");
  const prefixes = required(args.prefixes, "prefixes");
  if (prefixes > 65536) throw new UsageError("--prefixes must be at most 65536");
  if (prefixes > objects) throw new UsageError("--prefixes must not exceed --objects");
  const copyConcurrency = positiveInt(args["copy-concurrency"], "copy-concurrency", SIM_DEFAULTS.copyConcurrency);
  if (copyConcurrency < 2 || copyConcurrency > 1000)
    throw new UsageError("--copy-concurrency must be 2 to 1000 (an event source's maximum concurrency)");
  const listConcurrency = positiveInt(args["list-concurrency"], "list-concurrency", SIM_DEFAULTS.listConcurrency);
  if (listConcurrency < 2 || listConcurrency > 1000)
    throw new UsageError("--list-concurrency must be 2 to 1000 (an event source's maximum concurrency)");
  const options = {
    objects,
    prefixes,
    sizeBytes: sizeOf(args.size),
    listConcurrency,
    copyConcurrency,
    copiesInFlight: positiveInt(args["copies-in-flight"], "copies-in-flight", SIM_DEFAULTS.copiesInFlight),
    seed: positiveInt(args.seed, "seed", SIM_DEFAULTS.seed),
    prices: loadPriceTable(args.prices ?? DEFAULT_PRICES_FILE),
  };
  const started = performance.now();
  const result = await simulate({
    ...options,
    onProgress: (s) => {
      const wall = (performance.now() - started) / 1000;
      process.stderr.write(
        `t=${s.t.toFixed(0)}s copied ${fmt(s.copied)}/${fmt(objects)}  invocations copy ${s.copyInvocations} list ${s.listInvocations}` +
          `  queues copy ${fmt(s.copyQueue)} list ${fmt(s.listQueue)}  SlowDowns ${fmt(s.slowDowns)}  (${wall.toFixed(0)} s wall)\n`,
      );
    },
  });
  const wallSeconds = (performance.now() - started) / 1000;
  const peakRssMb = process.resourceUsage().maxRSS / 1024;
  const chart = args.chart ?? DEFAULT_CHART;
  writeFileSync(
    chart,
    timelineSvg(
      result.timeline,
      `s3-fanout, simulated: ${fmt(objects)} objects over ${fmt(prefixes)} prefix${prefixes === 1 ? "" : "es"}`,
      `copy concurrency ${copyConcurrency}, ${options.copiesInFlight} copies in flight each, list concurrency ${listConcurrency}, seed ${options.seed}: ` +
        `${result.simulatedSeconds.toFixed(1)} simulated s, bottleneck ${result.bottleneck}`,
    ),
  );
  process.stdout.write(report(result, wallSeconds, peakRssMb, chart));
  if (args.json) {
    const {
      timeline: _,
      ledger,
      objects: n,
      copied,
      simulatedSeconds,
      peakCopyInvocations,
      peakListInvocations,
      requests,
      costUsd,
      bottleneck,
      ...rest
    } = result;
    process.stdout.write(
      `${JSON.stringify({
        // The fields issue 14 names first, in its order; then the rest of the run.
        objects: n,
        copied,
        simulatedSeconds,
        peakCopyInvocations,
        peakListInvocations,
        requests,
        costUsd,
        bottleneck,
        ...rest,
        ledger: { complete: ledger.complete, copied: ledger.copied, failed: ledger.failed, portions: ledger.portions },
        options: { ...options, prices: undefined },
        wallSeconds: Math.round(wallSeconds * 10) / 10,
        peakRssMb: Math.round(peakRssMb),
        chart,
      })}\n`,
    );
  }
  return result.exactlyOnce ? EXIT.ok : EXIT.failed;
}

await runCommand(main);
