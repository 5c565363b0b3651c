/**
 * npm run bench: throughput and requests per object of the pipeline against
 * a ceiling (a tight CopyObject loop) and a baseline (the original design),
 * in one run on the embedded emulator. See --help.
 */
import { mkdirSync, writeFileSync } from "node:fs";
import { loadavg } from "node:os";
import { dirname } from "node:path";
import { createS3Client } from "../lambdas/aws/clients.ts";
import { parseSize } from "../lambdas/core/copyPlan.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { throughputSvg } from "./bench/chart.ts";
import type { FunctionColdStart } from "./bench/coldStart.ts";
import { processCpuSeconds } from "./bench/cpu.ts";
import { countObjects, seedBucket } from "./bench/dataset.ts";
import { lambdaJson, measureBundles, reportLambdaCost } from "./bench/lambdaCost.ts";
import { type PeerRun, rcloneCopyArgs, rcloneVersion, runRclone } from "./bench/peer.ts";
import { type PhaseName, type PhaseResult, type PhaseSettings, runPhaseInChild } from "./bench/phase.ts";
import { perObject, type RequestCounts, round } from "./bench/requests.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { spawnEmulator } from "./lib/emulator.ts";
import { ensureBucket } from "./lib/seed.ts";

const USAGE = `usage: npm run bench -- [--objects N] [--size SIZE] [--json] [...]
Runs, on the embedded emulator (started in its own process on a free port):
the pipeline through the local runtime, the ceiling (a tight CopyObject loop at
the same concurrency, no queues) and the baseline (the original design: one
listing per printable-ASCII prefix, 100-key messages, keys copied one at a
time), then a sync of the unchanged bucket and a sweep of copy concurrency.
Then the peer: rclone (from PATH; skipped with a note where it is missing)
copying the same source bucket on the same emulator, with no added latency,
alternated with the pipeline and the ceiling run the same way: objects/s and
CPU ms per object (each one's whole process tree) side by side.
Each phase runs in a process of its own; its requests are counted by operation.
First, the cold start of each bundled function: the app synthesized, each
bundle loaded from cdk.out in a fresh process with the template's environment
(as Lambda loads it) and invoked once with a real message of its queue; then
the copy bundle's CPU ms per copied object, invoked warm with real batches of
its queue (the bundled list function lists a job of --lambda-cost-objects).
  --objects N             objects in the source bucket (default 10000)
  --size SIZE             bytes per object, e.g. 1KiB, 512 (default 1KiB)
  --list-concurrency N    list invocations (default 4)
  --copy-invocations N    copy invocations (default 4)
  --copy-concurrency N    copies in flight per copy invocation (default 64)
  --latency-ms N          hold every S3 and SQS request about N ms (N/2 to 3N/2) before it goes
                          out, as a real service's round trip would (default 100; 0: the
                          emulator as is, which answers in well under a millisecond)
  --repeat N              run the pipeline and the ceiling N times, alternately, and take the
                          median throughput of each (default 3: this machine's speed drifts between runs)
  --sweep LIST            total copies in flight to chart, e.g. 8,16,32 (default 8,16,32,64,128,256)
  --sweep-objects N       objects per sweep run (default: --objects, at most 2000)
  --chart PATH            where the SVG chart goes (default bench/throughput.svg)
  --memory-objects N      also run the pipeline and the sync at N objects (default 10 x --objects):
                          peak memory is compared with the main run's, and the sync's requests
                          per object are judged there (--memory-check, the old switch, is the default)
  --skip-memory           no run at --memory-objects
  --skip-baseline         do not run the baseline
  --skip-sync             do not run the sync of the unchanged bucket
  --skip-sweep            no sweep, no chart
  --skip-peer             no peer phase (nor the runs with no added latency it is compared with)
  --rclone PATH           the rclone to run as the peer (default: rclone on PATH)
  --peer-transfers N      rclone's --transfers and --checkers (default 64)
  --cold-start-only       only the bundles: their cold starts and the Lambda cost (no phases)
  --skip-cold-start       no cold starts, nor the Lambda cost (no synth)
  --skip-lambda-cost      no Lambda cost of a copy
  --lambda-cost-objects N objects the copy bundle copies for the Lambda cost (default: --objects, at most 10000)
  --cold-start-runs N     fresh environments per bundle, the median judged (default 5)
  --cdk-out DIR           measure the bundles of this cloud assembly (cdk synth -o DIR) instead of synthesizing
  --check                 exit 1 when a target is missed
  --json                  last stdout line is one JSON object with every figure`;

/**
 * The round trip the bench models by default. S3 is often quoted at 100-200 ms to the first byte, and
 * AWS puts the median of small requests in the tens of milliseconds; a CopyObject is a read and a write.
 * The baseline's one copy at a time pays it in full, and what the pipeline gains over it grows with it
 * (README, Benchmark, shows the ratio at other latencies).
 */
const DEFAULT_LATENCY_MS = 100;

interface Options {
  readonly objects: number;
  readonly size: number;
  readonly settings: Omit<PhaseSettings, "endpoint" | "source" | "destination" | "objects">;
  readonly repeat: number;
  readonly sweep: readonly number[];
  readonly sweepObjects: number;
  readonly chart: string;
  readonly memoryObjects: number | undefined;
  readonly baseline: boolean;
  readonly sync: boolean;
  readonly peer: boolean;
  readonly rclone: string;
  readonly peerTransfers: number;
  readonly check: boolean;
  readonly json: boolean;
  /** Cold starts: "only" skips everything else. */
  readonly coldStart: "yes" | "no" | "only";
  readonly coldStartRuns: number;
  /** Objects for the Lambda cost of a copy; undefined skips it. */
  readonly lambdaCostObjects: number | undefined;
  readonly cdkOut: string | undefined;
}

function parseOptions(argv: string[]): Options | undefined {
  const args = parseCommandArgs(argv, {
    objects: { type: "string" },
    size: { type: "string" },
    "list-concurrency": { type: "string" },
    "copy-invocations": { type: "string" },
    "copy-concurrency": { type: "string" },
    "latency-ms": { type: "string" },
    repeat: { type: "string" },
    sweep: { type: "string" },
    "sweep-objects": { type: "string" },
    chart: { type: "string" },
    "memory-check": { type: "boolean", default: false },
    "skip-memory": { type: "boolean", default: false },
    "memory-objects": { type: "string" },
    "skip-baseline": { type: "boolean", default: false },
    "skip-sync": { type: "boolean", default: false },
    "skip-sweep": { type: "boolean", default: false },
    "skip-peer": { type: "boolean", default: false },
    rclone: { type: "string" },
    "peer-transfers": { type: "string" },
    "cold-start-only": { type: "boolean", default: false },
    "skip-cold-start": { type: "boolean", default: false },
    "cold-start-runs": { type: "string" },
    "skip-lambda-cost": { type: "boolean", default: false },
    "lambda-cost-objects": { type: "string" },
    "cdk-out": { type: "string" },
    check: { type: "boolean", default: false },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) return undefined;
  if (args["cold-start-only"] && args["skip-cold-start"])
    throw new UsageError("--cold-start-only and --skip-cold-start contradict each other");
  if (args["cdk-out"] === "") throw new UsageError("--cdk-out needs a directory");
  if (args.rclone === "") throw new UsageError("--rclone needs a path");
  const objects = positiveInt(args.objects, "objects", 10_000);
  const size = args.size === undefined ? 1024 : parseSize(args.size, "--size");
  if (size > 5 * 1024 ** 2) throw new UsageError(`--size must be at most 5MiB (objects are seeded in memory), got "${args.size}"`);
  const sweep = (args.sweep ?? "8,16,32,64,128,256").split(",").map((s) => positiveInt(s.trim(), "sweep", 0));
  return {
    objects,
    size,
    settings: {
      listConcurrency: positiveInt(args["list-concurrency"], "list-concurrency", 4),
      copyInvocations: positiveInt(args["copy-invocations"], "copy-invocations", 4),
      copyConcurrency: positiveInt(args["copy-concurrency"], "copy-concurrency", 64),
      latencyMs: args["latency-ms"] === "0" ? 0 : positiveInt(args["latency-ms"], "latency-ms", DEFAULT_LATENCY_MS),
    },
    repeat: positiveInt(args.repeat, "repeat", 3),
    sweep: args["skip-sweep"] ? [] : [...new Set(sweep)].sort((a, b) => a - b),
    // Low concurrencies under latency are slow: a sweep point needs only enough objects to reach its steady rate.
    sweepObjects: positiveInt(args["sweep-objects"], "sweep-objects", Math.min(objects, 2_000)),
    chart: args.chart ?? "bench/throughput.svg",
    // On by default: the memory target and the sync's per-object cost are judged at this size.
    memoryObjects: args["skip-memory"] ? undefined : positiveInt(args["memory-objects"], "memory-objects", objects * 10),
    baseline: !args["skip-baseline"],
    sync: !args["skip-sync"],
    peer: !args["skip-peer"],
    rclone: args.rclone ?? "rclone",
    peerTransfers: positiveInt(args["peer-transfers"], "peer-transfers", 64),
    check: args.check,
    json: args.json,
    coldStart: args["cold-start-only"] ? "only" : args["skip-cold-start"] ? "no" : "yes",
    coldStartRuns: positiveInt(args["cold-start-runs"], "cold-start-runs", 5),
    lambdaCostObjects: args["skip-lambda-cost"]
      ? undefined
      : positiveInt(args["lambda-cost-objects"], "lambda-cost-objects", Math.min(objects, 10_000)),
    cdkOut: args["cdk-out"],
  };
}

const progress = (line: string) => process.stderr.write(`${line}\n`);

/** The pipeline's split of a total concurrency: the configured invocations, copies in flight shared among them. */
function splitConcurrency(total: number, invocations: number): { copyInvocations: number; copyConcurrency: number } {
  const copyInvocations = Math.min(invocations, total);
  return { copyInvocations, copyConcurrency: Math.max(1, Math.round(total / copyInvocations)) };
}

interface PhaseFigures {
  readonly objects: number;
  readonly copied: number;
  readonly skipped: number;
  readonly failed: number;
  readonly complete: boolean;
  readonly seconds: number;
  readonly objectsPerSecond: number;
  /** Copies in flight the phase is configured for, and the most it had out at once. */
  readonly copiesInFlight: number;
  readonly maxCopiesInFlight: number;
  /** Listings made: range portions (pipeline, sync), prefixes (baseline). */
  readonly ranges: number;
  readonly requests: PhaseResult["requests"];
  readonly requestsPerObject: ReturnType<typeof perObject>;
  readonly maxRssMiB: number;
  readonly peakHeapMiB: number;
  /** The largest heap in use right after a full GC (null when none ran). */
  readonly peakLiveHeapMiB: number | null;
  /** Seconds before the first copy request (set-up, listing) and after the last (settling, completion, clean-up). */
  readonly beforeFirstCopySeconds: number;
  readonly afterLastCopySeconds: number;
  /** Objects per second between the first and the last copy request. */
  readonly objectsPerSecondWhileCopying: number;
  /** Where the time went: CPU of the phase's process and of the emulator, per object and as a share of the wall time. */
  readonly cpu: {
    readonly phaseMsPerObject: number;
    readonly emulatorMsPerObject: number | null;
    readonly phaseBusy: number;
    readonly emulatorBusy: number | null;
  };
}

function figures(r: PhaseResult, objects: number, copiesInFlight: number, emulatorCpuSeconds: number | undefined): PhaseFigures {
  const perObjectMs = (seconds: number) => round((seconds * 1000) / objects, 3);
  const busy = (seconds: number) => (r.seconds > 0 ? round(seconds / r.seconds, 2) : 0);
  const copyWindow = r.seconds - r.beforeFirstCopySeconds - r.afterLastCopySeconds;
  return {
    objects,
    copied: r.copied,
    skipped: r.skipped,
    failed: r.failed,
    complete: r.complete,
    seconds: round(r.seconds, 3),
    objectsPerSecond: r.seconds > 0 ? Math.round(objects / r.seconds) : 0,
    copiesInFlight,
    maxCopiesInFlight: r.maxCopiesInFlight,
    ranges: r.ranges,
    requests: r.requests,
    requestsPerObject: perObject(r.requests, objects),
    maxRssMiB: round(r.maxRssBytes / 2 ** 20, 1),
    peakHeapMiB: round(r.peakHeapBytes / 2 ** 20, 1),
    peakLiveHeapMiB: r.peakLiveHeapBytes === null ? null : round(r.peakLiveHeapBytes / 2 ** 20, 1),
    beforeFirstCopySeconds: round(r.beforeFirstCopySeconds, 3),
    afterLastCopySeconds: round(r.afterLastCopySeconds, 3),
    objectsPerSecondWhileCopying: Math.round(copyWindow > 0 ? r.copied / copyWindow : 0),
    cpu: {
      phaseMsPerObject: perObjectMs(r.cpuSeconds),
      emulatorMsPerObject: emulatorCpuSeconds === undefined ? null : perObjectMs(emulatorCpuSeconds),
      phaseBusy: busy(r.cpuSeconds),
      emulatorBusy: emulatorCpuSeconds === undefined ? null : busy(emulatorCpuSeconds),
    },
  };
}

interface PhaseRun {
  readonly figures: PhaseFigures;
  readonly destination: string;
}

interface MemoryCheck {
  readonly objects: number;
  readonly maxRssMiB: number;
  readonly baseObjects: number;
  /** The median peak RSS of the main pipeline runs. */
  readonly baseMaxRssMiB: number;
  readonly ratio: number;
  /** The same for the heap right after full GCs: what the pipeline keeps alive, which the peaks only bound. */
  readonly liveHeapMiB: number | null;
  readonly baseLiveHeapMiB: number | null;
  readonly liveHeapRatio: number | null;
  readonly pipeline: PhaseFigures;
  readonly sync: PhaseFigures | null;
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.floor((sorted.length - 1) / 2)] ?? 0;
}

/** The run of median throughput (the lower middle one of an even count). */
function median<T extends { figures: PhaseFigures }>(runs: readonly T[]): T {
  const sorted = [...runs].sort((a, b) => a.figures.objectsPerSecond - b.figures.objectsPerSecond);
  const mid = sorted[Math.floor((sorted.length - 1) / 2)];
  if (mid === undefined) throw new Error("no runs");
  return mid;
}

interface Target {
  readonly name: string;
  readonly value: number | null;
  readonly limit: number;
  /** "min": value must be at least limit; "max": at most. */
  readonly kind: "min" | "max";
  readonly met: boolean | null;
}

function target(name: string, value: number | undefined, kind: "min" | "max", limit: number): Target {
  if (value === undefined || !Number.isFinite(value)) return { name, value: null, limit, kind, met: null };
  return { name, value: round(value, 4), limit, kind, met: kind === "min" ? value >= limit : value <= limit };
}

async function main(): Promise<number> {
  const options = parseOptions(process.argv.slice(2));
  if (options === undefined) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const { objects, settings } = options;
  const inFlight = settings.copyInvocations * settings.copyConcurrency;
  const loadBefore = loadavg().map((l) => round(l, 2));
  progress(`bench: load average ${loadBefore.join(" ")}; starting the emulator in its own process`);
  const emulator = await spawnEmulator(0);
  const admin = createS3Client({ endpoint: emulator.endpoint, maxSockets: 256 });
  let n = 0;
  const bucket = (what: string) => `bench-${what}-${process.pid}-${++n}`;
  try {
    // First, on a quiet emulator: a cold start is judged in milliseconds.
    const { coldStarts, lambdaCost } =
      options.coldStart === "no"
        ? { coldStarts: undefined, lambdaCost: undefined }
        : await measureBundles({
            endpoint: emulator.endpoint,
            cdkOut: options.cdkOut,
            coldStartRuns: options.coldStartRuns,
            lambdaCostObjects: options.lambdaCostObjects,
            progress,
          });
    const coldStartTarget = coldStartTargetOf(coldStarts);
    if (options.coldStart === "only") {
      reportColdStarts(coldStarts ?? {}, coldStartTarget, options.coldStartRuns);
      if (lambdaCost) reportLambdaCost(lambdaCost);
      if (options.json)
        process.stdout.write(
          `${JSON.stringify({ ...coldStartJson(coldStarts), lambda: lambdaJson(lambdaCost, coldStarts), targets: { coldStart: coldStartTarget } })}\n`,
        );
      return options.check && coldStartTarget.met === false ? EXIT.failed : EXIT.ok;
    }
    const source = bucket("src");
    const seedStarted = performance.now();
    progress(`bench: seeding ${objects} objects of ${options.size} bytes into ${source}`);
    await seedBucket(admin, source, objects, options.size, 256, (done) => {
      if (done % 10_000 === 0) progress(`  seeded ${done}`);
    });
    progress(`bench: seeded in ${((performance.now() - seedStarted) / 1000).toFixed(1)} s`);

    const runs: PhaseRun[] = [];
    const run = async (
      phase: PhaseName,
      src: string,
      count: number,
      s: typeof settings & { countRequests?: boolean },
      destination?: string,
    ): Promise<PhaseRun> => {
      const dest = destination ?? bucket(`${phase}-dst`);
      if (destination === undefined) await ensureBucket(admin, dest);
      progress(`bench: ${phase}: ${count} objects, ${s.copyInvocations} x ${s.copyConcurrency} copies in flight`);
      const emulatorCpu = processCpuSeconds(emulator.pid);
      const result = await runPhaseInChild({ phase, endpoint: emulator.endpoint, source: src, destination: dest, objects: count, ...s });
      const emulatorCpuAfter = processCpuSeconds(emulator.pid);
      // The emulator's CPU over the worker's whole life: it idles while the worker starts.
      const emulatorSeconds = emulatorCpu === undefined || emulatorCpuAfter === undefined ? undefined : emulatorCpuAfter - emulatorCpu;
      // A phase is judged by what its destination holds, not only by what it says it did.
      const found = await countObjects(admin, dest);
      const ok = phase === "sync" || found === count;
      // The baseline keeps one copy in flight per copy worker.
      const copies = phase === "baseline" ? s.copyInvocations : s.copyInvocations * s.copyConcurrency;
      const f = { ...figures(result, count, copies, emulatorSeconds), complete: result.complete && ok };
      const cpu =
        `CPU busy: ${phase} ${f.cpu.phaseBusy}, emulator ${f.cpu.emulatorBusy ?? "?"}` +
        (f.copied > 0
          ? `; copying ${f.objectsPerSecondWhileCopying} objects/s from ${f.beforeFirstCopySeconds} s in to ${f.afterLastCopySeconds} s before the end`
          : "");
      progress(
        `bench: ${phase}: ${f.objectsPerSecond} objects/s (${f.seconds} s), ${found} in the destination, peak RSS ${f.maxRssMiB} MiB, ${cpu}`,
      );
      const done: PhaseRun = { figures: f, destination: dest };
      runs.push(done);
      return done;
    };

    // Alternated, so that a neighbour's load on the machine falls on both alike; the median run of each counts.
    const pipelineRuns: PhaseRun[] = [];
    const ceilingRuns: PhaseRun[] = [];
    for (let i = 0; i < options.repeat; i++) {
      pipelineRuns.push(await run("pipeline", source, objects, settings));
      ceilingRuns.push(await run("ceiling", source, objects, settings));
    }
    const pipeline = median(pipelineRuns);
    const ceiling = median(ceilingRuns);
    const sync = options.sync ? await run("sync", source, objects, settings, pipeline.destination) : undefined;
    const baseline = options.baseline ? await run("baseline", source, objects, settings) : undefined;

    // The peer, and the pipeline and the ceiling beside it with no added latency (issue 13's workload):
    // there each is held back by its own CPU only, which is what a user comparing it with rclone sees.
    let zeroLatency: ZeroLatency | undefined;
    let peer: PeerReport = {
      skipped: "--skip-peer",
      rclone: null,
      command: null,
      transfers: options.peerTransfers,
      serverSideCopy: null,
      requests: null,
      requestsPerObject: null,
      runs: [],
      complete: null,
    };
    if (options.peer) {
      // Uncounted, so that the pipeline and the ceiling send CopyObject the way `npm run local` does: the
      // project's lean path is not taken by a client with the request counter in its middleware.
      const zeroSettings = { ...settings, latencyMs: 0, countRequests: false };
      const rclone = await rcloneVersion(options.rclone);
      const peerSettings = (destination: string) => ({
        rclone: options.rclone,
        endpoint: emulator.endpoint,
        source,
        destination,
        transfers: options.peerTransfers,
      });
      peer = {
        ...peer,
        skipped: "missing" in rclone ? `${rclone.missing}; install it (Debian: apt-get install rclone) to compare` : null,
        rclone: "version" in rclone ? rclone.version : null,
        command: "version" in rclone ? shellLine(["rclone", ...rcloneCopyArgs(peerSettings("DESTINATION"))]) : null,
      };
      if ("missing" in rclone) progress(`bench: peer: skipped: ${peer.skipped}`);
      else {
        // Untimed: with --dump headers rclone logs every request, and counting them shows the copy is server side.
        const dest = bucket("peer-check-dst");
        await ensureBucket(admin, dest);
        progress(`bench: peer: ${rclone.version}: a check run with --dump headers (not timed), its requests counted`);
        const checked = await runRclone(peerSettings(dest), true);
        const counts = checked.requests;
        if (counts) {
          peer = {
            ...peer,
            requests: counts,
            requestsPerObject: perObject(counts, objects),
            serverSideCopy: counts.s3.copy >= objects && counts.s3.get === 0 && counts.s3.put === 0,
          };
          progress(
            `bench: peer: its requests: ${Object.entries(counts.byCommand)
              .map(([c, n]) => `${c.replace(/^s3:/, "")} ${n}`)
              .join(", ")}; server-side copy: ${peer.serverSideCopy ? "yes" : "NO"}${checked.error ? `; ${checked.error}` : ""}`,
          );
        }
      }
      const runPeer = async (): Promise<PeerFigures> => {
        const dest = bucket("peer-dst");
        await ensureBucket(admin, dest);
        progress(`bench: peer: ${objects} objects, rclone with ${options.peerTransfers} transfers and checkers`);
        const emulatorBefore = processCpuSeconds(emulator.pid);
        const r = await runRclone(peerSettings(dest));
        const emulatorAfter = processCpuSeconds(emulator.pid);
        const found = await countObjects(admin, dest);
        const f = peerFigures(
          r,
          objects,
          found,
          emulatorBefore === undefined || emulatorAfter === undefined ? undefined : emulatorAfter - emulatorBefore,
        );
        progress(
          `bench: peer: ${f.objectsPerSecond} objects/s (${f.seconds} s), ${found} in the destination, ` +
            `CPU ${f.cpu.phaseMsPerObject} ms/object (busy ${f.cpu.phaseBusy}), emulator ${f.cpu.emulatorMsPerObject ?? "?"} ms/object` +
            (r.error ? `; rclone failed: ${r.error}` : ""),
        );
        return f;
      };
      // Alternated, as above.
      const zeroPipeline: PhaseRun[] = [];
      const zeroCeiling: PhaseRun[] = [];
      const peerRuns: PeerFigures[] = [];
      for (let i = 0; i < options.repeat; i++) {
        zeroPipeline.push(await run("pipeline", source, objects, zeroSettings));
        zeroCeiling.push(await run("ceiling", source, objects, zeroSettings));
        if (peer.rclone !== null) peerRuns.push(await runPeer());
      }
      const peerComplete = peerRuns.length > 0 ? peerRuns.every((r) => r.complete) : null;
      peer = { ...peer, runs: peerRuns, complete: peerComplete };
      zeroLatency = {
        latencyMs: 0,
        objects,
        pipeline: zeroLatencyRow(zeroPipeline.map((r) => r.figures)),
        ceiling: zeroLatencyRow(zeroCeiling.map((r) => r.figures)),
        // A failed rclone run's figures would flatter or shame nobody: the comparison is then not made.
        peer: peerComplete ? zeroLatencyRow(peerRuns) : null,
      };
    }

    const sweep: { inFlight: number; pipeline: number; ceiling: number; copyInvocations: number; copyConcurrency: number }[] = [];
    if (options.sweep.length > 0) {
      const sweepSource = options.sweepObjects === objects ? source : bucket("sweep-src");
      if (sweepSource !== source) await seedBucket(admin, sweepSource, options.sweepObjects, options.size, 256);
      for (const total of options.sweep) {
        const split = splitConcurrency(total, settings.copyInvocations);
        const s = { ...settings, ...split };
        const p = await run("pipeline", sweepSource, options.sweepObjects, s);
        const c = await run("ceiling", sweepSource, options.sweepObjects, s);
        sweep.push({
          inFlight: split.copyInvocations * split.copyConcurrency,
          ...split,
          pipeline: p.figures.objectsPerSecond,
          ceiling: c.figures.objectsPerSecond,
        });
      }
      mkdirSync(dirname(options.chart), { recursive: true });
      writeFileSync(
        options.chart,
        throughputSvg({
          title: "s3-fanout: copy throughput against copy concurrency",
          subtitle:
            `${options.sweepObjects} objects of ${options.size} B on the embedded emulator, ${settings.copyInvocations} copy invocations` +
            (settings.latencyMs > 0 ? `, ~${settings.latencyMs} ms added per request` : ""),
          xLabel: "copies in flight (copy invocations x copies per invocation)",
          yLabel: "objects per second",
          series: [
            { name: "ceiling: tight CopyObject loop", color: "#888888", points: sweep.map((p) => [p.inFlight, p.ceiling] as const) },
            { name: "pipeline (local runtime)", color: "#1f6fd1", points: sweep.map((p) => [p.inFlight, p.pipeline] as const) },
            ...(baseline
              ? [
                  {
                    name: "baseline: original design (one copy in flight per worker)",
                    color: "#d9822b",
                    points: [[baseline.figures.copiesInFlight, baseline.figures.objectsPerSecond] as const],
                  },
                ]
              : []),
          ],
        }),
      );
      progress(`bench: chart written to ${options.chart}`);
    }

    let memory: MemoryCheck | undefined;
    if (options.memoryObjects !== undefined) {
      const big = bucket("mem-src");
      progress(`bench: memory check: seeding ${options.memoryObjects} objects into ${big}`);
      await seedBucket(admin, big, options.memoryObjects, options.size, 256, (done) => {
        if (done % 10_000 === 0) progress(`  seeded ${done}`);
      });
      const m = await run("pipeline", big, options.memoryObjects, settings);
      const mSync = options.sync ? await run("sync", big, options.memoryObjects, settings, m.destination) : undefined;
      const base = medianOf(pipelineRuns.map((r) => r.figures.maxRssMiB));
      const lives = pipelineRuns.flatMap((r) => (r.figures.peakLiveHeapMiB === null ? [] : [r.figures.peakLiveHeapMiB]));
      const baseLive = lives.length > 0 ? medianOf(lives) : null;
      const live = m.figures.peakLiveHeapMiB;
      memory = {
        objects: options.memoryObjects,
        maxRssMiB: m.figures.maxRssMiB,
        baseObjects: objects,
        baseMaxRssMiB: base,
        ratio: round(m.figures.maxRssMiB / base, 3),
        liveHeapMiB: live,
        baseLiveHeapMiB: baseLive,
        liveHeapRatio: live === null || baseLive === null ? null : round(live / baseLive, 3),
        pipeline: m.figures,
        sync: mSync?.figures ?? null,
      };
    }

    const p = pipeline.figures;
    // Judged while copying (first copy to last, each phase alike): a 10,000-object run's fill and drain (the
    // first listing and hand-offs, the last ledger record, some 15 round trips) would otherwise weigh as much
    // as a tenth of it under 100 ms of latency, and nothing at the sizes the pipeline is for. Whole runs too.
    const whileCopying = (runs: readonly PhaseRun[]) => medianOf(runs.map((r) => r.figures.objectsPerSecondWhileCopying));
    const pipelineCopying = whileCopying(pipelineRuns);
    const ceilingCopying = whileCopying(ceilingRuns);
    const ratios = {
      pipelineVsCeiling: round(pipelineCopying / ceilingCopying, 3),
      pipelineVsBaseline: baseline ? round(pipelineCopying / baseline.figures.objectsPerSecondWhileCopying, 2) : null,
      objectsPerSecondWhileCopying: {
        pipeline: pipelineCopying,
        ceiling: ceilingCopying,
        baseline: baseline?.figures.objectsPerSecondWhileCopying ?? null,
      },
      wholeRun: {
        pipelineVsCeiling: round(p.objectsPerSecond / ceiling.figures.objectsPerSecond, 3),
        pipelineVsBaseline: baseline ? round(p.objectsPerSecond / baseline.figures.objectsPerSecond, 2) : null,
      },
    };
    // Judged on the largest bucket synced: per job a sync pays a fixed few dozen requests (queues, preflight,
    // a message and a record per seeded range) that at 10,000 objects outweigh the per-object cost.
    const syncJudged = memory?.sync
      ? { objects: memory.objects, figures: memory.sync }
      : sync
        ? { objects, figures: sync.figures }
        : undefined;
    const syncPerObject = syncJudged?.figures.requestsPerObject.total;
    const targets = {
      pipelineVsCeiling: target("pipeline objects/s / ceiling objects/s, while copying", ratios.pipelineVsCeiling, "min", 0.8),
      pipelineVsBaseline: target(
        "pipeline objects/s / baseline objects/s, while copying",
        ratios.pipelineVsBaseline ?? undefined,
        "min",
        10,
      ),
      s3RequestsPerObject: target("S3 requests per object copied (pipeline)", p.requestsPerObject.s3Total, "max", 1.02),
      sqsRequestsPerObject: target(
        "SQS requests per object copied (pipeline, queue admin included)",
        p.requestsPerObject.sqsTotal,
        "max",
        0.03,
      ),
      leanS3RequestsPerObject: target(
        "S3 requests per object copied (pipeline as npm run local sends them, lean path, counted on the wire)",
        zeroLatency?.pipeline.requestsPerObject?.s3Total,
        "max",
        1.02,
      ),
      leanSqsRequestsPerObject: target(
        "SQS requests per object copied (the same runs, on the wire)",
        zeroLatency?.pipeline.requestsPerObject?.sqsTotal,
        "max",
        0.03,
      ),
      syncRequestsPerObject: target(
        `requests per object, sync of the unchanged bucket of ${syncJudged?.objects ?? objects} objects`,
        syncPerObject,
        "max",
        0.003,
      ),
      pipelineVsPeer: target(
        "pipeline objects/s / peer (rclone) objects/s, whole runs, no added latency",
        zeroLatency?.peer ? zeroLatency.pipeline.objectsPerSecond / zeroLatency.peer.objectsPerSecond : undefined,
        "min",
        1.0,
      ),
      cpuPerObjectVsPeer: target(
        "pipeline CPU ms per object / peer's (rclone), each one's process tree, no added latency",
        zeroLatency?.peer ? zeroLatency.pipeline.cpuMsPerObject / zeroLatency.peer.cpuMsPerObject : undefined,
        "max",
        1.0,
      ),
      memoryRatio: target(`pipeline peak RSS at ${options.memoryObjects ?? "10x"} objects / at ${objects}`, memory?.ratio, "max", 1.25),
      coldStart: coldStartTarget,
    };

    report({
      options,
      pipeline: p,
      sync: sync?.figures,
      ceiling: ceiling.figures,
      baseline: baseline?.figures,
      ratios,
      sweep,
      memory,
      zeroLatency,
      peer,
      targets,
    });
    if (coldStarts) reportColdStarts(coldStarts, undefined, options.coldStartRuns);
    if (lambdaCost) reportLambdaCost(lambdaCost);
    const complete = runs.every((r) => r.figures.complete);
    if (options.json) {
      process.stdout.write(
        `${JSON.stringify({
          objects,
          objectBytes: options.size,
          settings: { ...settings, copiesInFlight: inFlight, repeat: options.repeat },
          // The machine's load before and after: other work on its two cores skews every figure.
          loadAverage: { before: loadBefore, after: loadavg().map((l) => round(l, 2)) },
          complete,
          pipeline: {
            ...p,
            samples: pipelineRuns.map((r) => r.figures.objectsPerSecond),
            samplesWhileCopying: pipelineRuns.map((r) => r.figures.objectsPerSecondWhileCopying),
          },
          ceiling: {
            ...ceiling.figures,
            samples: ceilingRuns.map((r) => r.figures.objectsPerSecond),
            samplesWhileCopying: ceilingRuns.map((r) => r.figures.objectsPerSecondWhileCopying),
          },
          baseline: baseline?.figures ?? null,
          sync: sync?.figures ?? null,
          ratios,
          sweep,
          chart: options.sweep.length > 0 ? options.chart : null,
          memory: memory ?? null,
          zeroLatency: zeroLatency ?? null,
          peer,
          ...coldStartJson(coldStarts),
          lambda: lambdaJson(lambdaCost, coldStarts),
          targets,
        })}\n`,
      );
    }
    if (!complete) return EXIT.failed;
    if (options.check && Object.values(targets).some((t) => t.met === false)) return EXIT.failed;
    return EXIT.ok;
  } finally {
    admin.destroy();
    await emulator.stop();
  }
}

/** One run of the peer, in the figures the pipeline's runs are read by. */
interface PeerFigures {
  readonly objects: number;
  /** Objects found in the destination afterwards. */
  readonly copied: number;
  readonly complete: boolean;
  readonly seconds: number;
  readonly objectsPerSecond: number;
  readonly cpu: PhaseFigures["cpu"];
  /** rclone's last error lines, when it failed. */
  readonly error: string | null;
}

function peerFigures(r: PeerRun, objects: number, copied: number, emulatorCpuSeconds: number | undefined): PeerFigures {
  const perObjectMs = (seconds: number) => round((seconds * 1000) / objects, 3);
  const busy = (seconds: number) => (r.seconds > 0 ? round(seconds / r.seconds, 2) : 0);
  return {
    objects,
    copied,
    complete: r.exitCode === 0 && copied === objects,
    seconds: round(r.seconds, 3),
    objectsPerSecond: r.seconds > 0 ? Math.round(objects / r.seconds) : 0,
    cpu: {
      phaseMsPerObject: perObjectMs(r.cpuSeconds),
      emulatorMsPerObject: emulatorCpuSeconds === undefined ? null : perObjectMs(emulatorCpuSeconds),
      phaseBusy: busy(r.cpuSeconds),
      emulatorBusy: emulatorCpuSeconds === undefined ? null : busy(emulatorCpuSeconds),
    },
    error: r.error,
  };
}

/** What the peer phase found: `skipped` says why it did not run (rclone missing, --skip-peer). */
interface PeerReport {
  readonly skipped: string | null;
  /** rclone's version line. */
  readonly rclone: string | null;
  readonly command: string | null;
  readonly transfers: number;
  /** From the check run: a CopyObject for every object, and no GET or PutObject. */
  readonly serverSideCopy: boolean | null;
  readonly requests: RequestCounts | null;
  readonly requestsPerObject: ReturnType<typeof perObject> | null;
  readonly runs: readonly PeerFigures[];
  readonly complete: boolean | null;
}

/** Pipeline, ceiling or peer with no added latency: the medians of its runs (whole runs, each figure on its own). */
interface ZeroLatencyRow {
  readonly objectsPerSecond: number;
  /** User + system CPU of the phase's process tree per object. */
  readonly cpuMsPerObject: number;
  readonly emulatorCpuMsPerObject: number | null;
  readonly samples: readonly number[];
  readonly cpuSamples: readonly number[];
  /** Ours only: requests per object counted on the wire (lean path included), the run with the most S3 requests. */
  readonly requestsPerObject?: ReturnType<typeof perObject>;
}

interface ZeroLatency {
  readonly latencyMs: 0;
  readonly objects: number;
  readonly pipeline: ZeroLatencyRow;
  readonly ceiling: ZeroLatencyRow;
  /** Null when the peer was skipped or failed. */
  readonly peer: ZeroLatencyRow | null;
}

function zeroLatencyRow(
  runs: readonly { objectsPerSecond: number; cpu: PhaseFigures["cpu"]; requestsPerObject?: PhaseFigures["requestsPerObject"] }[],
): ZeroLatencyRow {
  const emulator = runs.flatMap((r) => (r.cpu.emulatorMsPerObject === null ? [] : [r.cpu.emulatorMsPerObject]));
  const counted = runs.flatMap((r) => (r.requestsPerObject === undefined ? [] : [r.requestsPerObject]));
  const most = counted.reduce<PhaseFigures["requestsPerObject"] | undefined>(
    (a, b) => (a === undefined || b.s3Total > a.s3Total ? b : a),
    undefined,
  );
  return {
    ...(most === undefined ? {} : { requestsPerObject: most }),
    objectsPerSecond: medianOf(runs.map((r) => r.objectsPerSecond)),
    cpuMsPerObject: medianOf(runs.map((r) => r.cpu.phaseMsPerObject)),
    emulatorCpuMsPerObject: emulator.length > 0 ? medianOf(emulator) : null,
    samples: runs.map((r) => r.objectsPerSecond),
    cpuSamples: runs.map((r) => r.cpu.phaseMsPerObject),
  };
}

/** A command line as one would type it (arguments with spaces or empty quoted). */
function shellLine(args: readonly string[]): string {
  return args.map((a) => (a === "" || /[\s"'$]/.test(a) ? JSON.stringify(a) : a)).join(" ");
}

/** The target on cold starts: the slowest bundle's median, import + first invocation. */
function coldStartTargetOf(coldStarts: Record<string, FunctionColdStart> | undefined): Target {
  const slowest = coldStarts === undefined ? undefined : Math.max(...Object.values(coldStarts).map((c) => c.coldStartMs));
  return target("cold start of the slowest bundle, import + first invocation, median ms", slowest, "max", COLD_START_LIMIT_MS);
}

/** A Lambda function's cold start on this machine: module load + first invocation. */
const COLD_START_LIMIT_MS = 300;

/** `coldStartMs` (median ms by function) and `coldStart` (every sample, bundle sizes) for the JSON line. */
function coldStartJson(coldStarts: Record<string, FunctionColdStart> | undefined) {
  if (coldStarts === undefined) return { coldStartMs: null, coldStart: null };
  return {
    coldStartMs: Object.fromEntries(Object.entries(coldStarts).map(([name, c]) => [name, c.coldStartMs])),
    coldStart: coldStarts,
  };
}

/** Cold starts in the human report; with `verdict`, the target's line too (the full report prints every target itself). */
function reportColdStarts(coldStarts: Record<string, FunctionColdStart>, verdict: Target | undefined, runs: number): void {
  const out = [`cold start (module load + first invocation, median of ${runs} fresh environments; CPU time beside it):`];
  for (const [name, c] of Object.entries(coldStarts)) {
    out.push(
      `  ${name.padEnd(6)} ${String(c.coldStartMs).padStart(6)} ms (import ${c.importMs} + first invocation ${c.firstInvocationMs}; CPU ${c.coldStartCpuMs} ms)  ` +
        `bundle ${round(c.bundleBytes / 1024, 0)} KiB, source map ${c.sourceMapBytes === null ? "none" : `${round(c.sourceMapBytes / 1024, 0)} KiB`}, ` +
        `${c.runtime}, NODE_OPTIONS ${c.nodeOptions ?? "none"}`,
    );
  }
  if (verdict)
    out.push(
      `target: ${verdict.name} ${verdict.value ?? "-"} <= ${verdict.limit}: ${verdict.met === null ? "not measured" : verdict.met ? "met" : "MISSED"}`,
    );
  process.stdout.write(`${out.join("\n")}\n`);
}

interface Report {
  readonly options: Options;
  readonly pipeline: PhaseFigures;
  readonly sync: PhaseFigures | undefined;
  readonly ceiling: PhaseFigures;
  readonly baseline: PhaseFigures | undefined;
  readonly ratios: {
    pipelineVsCeiling: number;
    pipelineVsBaseline: number | null;
    wholeRun: { pipelineVsCeiling: number; pipelineVsBaseline: number | null };
  };
  readonly sweep: readonly { inFlight: number; pipeline: number; ceiling: number }[];
  readonly memory: MemoryCheck | undefined;
  readonly zeroLatency: ZeroLatency | undefined;
  readonly peer: PeerReport;
  readonly targets: Record<string, Target>;
}

/** The human report on stdout. */
function report(r: Report): void {
  const out: string[] = [];
  const row = (name: string, f: PhaseFigures | undefined) => {
    if (!f) return;
    const q = f.requestsPerObject;
    out.push(
      `${name.padEnd(9)} ${String(f.objectsPerSecond).padStart(7)} obj/s ${f.seconds.toFixed(2).padStart(7)} s ${String(f.copiesInFlight).padStart(4)} in flight (${String(f.maxCopiesInFlight).padStart(3)} seen) ${String(f.ranges).padStart(4)} ranges  ` +
        `S3 ${q.s3Total.toFixed(4)}/obj (list ${q.s3.list} copy ${q.s3.copy} head ${q.s3.head} get ${q.s3.get} put ${q.s3.put} other ${q.s3.other})  ` +
        `SQS ${q.sqsTotal.toFixed(4)}/obj (send ${q.sqs.send} receive ${q.sqs.receive} delete ${q.sqs.delete} other ${q.sqs.other})  peak RSS ${f.maxRssMiB} MiB`,
    );
  };
  out.push(`${r.options.objects} objects of ${r.options.size} B; requests per object by operation`);
  row("pipeline", r.pipeline);
  row("ceiling", r.ceiling);
  row("baseline", r.baseline);
  if (r.sync?.seconds) row("sync", r.sync);
  out.push(
    `while copying: pipeline / ceiling ${r.ratios.pipelineVsCeiling}` +
      (r.ratios.pipelineVsBaseline === null ? "" : `, pipeline / baseline ${r.ratios.pipelineVsBaseline}`) +
      `; whole runs: ${r.ratios.wholeRun.pipelineVsCeiling}` +
      (r.ratios.wholeRun.pipelineVsBaseline === null ? "" : ` and ${r.ratios.wholeRun.pipelineVsBaseline}`),
  );
  if (r.sweep.length > 0)
    out.push(
      `sweep (in flight: pipeline / ceiling obj/s): ${r.sweep.map((s) => `${s.inFlight}: ${s.pipeline} / ${s.ceiling}`).join(", ")}`,
    );
  if (r.memory) {
    out.push(
      `memory: pipeline peak RSS ${r.memory.baseMaxRssMiB} MiB at ${r.memory.baseObjects} objects, ${r.memory.maxRssMiB} MiB at ${r.memory.objects} (x${r.memory.ratio}); ` +
        `heap after full GCs at most ${r.memory.baseLiveHeapMiB ?? "?"} MiB and ${r.memory.liveHeapMiB ?? "?"} MiB (x${r.memory.liveHeapRatio ?? "?"})`,
    );
    row(`${r.memory.objects / 1000}k`, r.memory.pipeline);
    if (r.memory.sync) row(`sync ${r.memory.objects / 1000}k`, r.memory.sync);
  }
  if (r.zeroLatency) {
    const z = r.zeroLatency;
    out.push(`no added latency, ${z.objects} objects (medians): objects/s, CPU ms per object (process tree), emulator CPU ms per object`);
    const line = (name: string, row: ZeroLatencyRow, note = "") =>
      out.push(
        `  ${name.padEnd(9)} ${String(row.objectsPerSecond).padStart(7)} obj/s ${row.cpuMsPerObject.toFixed(3).padStart(8)} CPU ms/obj ` +
          `${(row.emulatorCpuMsPerObject?.toFixed(3) ?? "?").padStart(8)} emulator ms/obj${note}`,
      );
    const wire = (row: ZeroLatencyRow) =>
      row.requestsPerObject
        ? `  (on the wire: S3 ${row.requestsPerObject.s3Total.toFixed(4)}/obj, copy ${row.requestsPerObject.s3.copy}; SQS ${row.requestsPerObject.sqsTotal.toFixed(4)}/obj)`
        : "";
    line("pipeline", z.pipeline, wire(z.pipeline));
    line("ceiling", z.ceiling, wire(z.ceiling));
    const q = r.peer.requestsPerObject;
    if (z.peer)
      line(
        "peer",
        z.peer,
        `  (${r.peer.rclone}, ${r.peer.transfers} transfers; S3 ${q?.s3Total.toFixed(4) ?? "?"}/obj: copy ${q?.s3.copy ?? "?"} head ${q?.s3.head ?? "?"} list ${q?.s3.list ?? "?"}; ` +
          `server-side copy: ${r.peer.serverSideCopy === null ? "?" : r.peer.serverSideCopy ? "yes" : "NO"})`,
      );
    else
      out.push(
        `  peer      ${r.peer.skipped !== null ? `skipped: ${r.peer.skipped}` : `failed: ${r.peer.runs.find((p) => p.error)?.error ?? "incomplete"}`}`,
      );
  } else out.push(`peer: skipped (${r.peer.skipped ?? "?"})`);
  for (const t of Object.values(r.targets)) {
    const verdict = t.met === null ? "not measured" : t.met ? "met" : "MISSED";
    out.push(`target: ${t.name} ${t.value ?? "-"} ${t.kind === "min" ? ">=" : "<="} ${t.limit}: ${verdict}`);
  }
  process.stdout.write(`${out.join("\n")}\n`);
}

await runCommand(main);
