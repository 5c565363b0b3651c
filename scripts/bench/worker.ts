/**
 * One benchmark phase in a process of its own, so that its memory and CPU
 * are measured alone (the emulator and the bench's driver run elsewhere).
 * Takes a PhaseSpec as JSON in argv[2]; progress goes to stderr and the
 * last stdout line is the PhaseResult.
 */
import { constants, PerformanceObserver } from "node:perf_hooks";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import { runLocalJob } from "../local/job.ts";
import { runBaseline } from "./baseline.ts";
import { runCeiling } from "./ceiling.ts";
import { childrenCpuSeconds } from "./cpu.ts";
import { maxSocketsFor, type PhaseResult, type PhaseSpec, syncJobOptions } from "./phase.ts";
import { addLatency, countOnTheWire, RequestCounter } from "./requests.ts";

async function runPhase(
  spec: PhaseSpec,
  s3: S3Client,
  sqs: SQSClient,
): Promise<
  Omit<
    PhaseResult,
    | "requests"
    | "maxRssBytes"
    | "peakHeapBytes"
    | "peakLiveHeapBytes"
    | "maxCopiesInFlight"
    | "cpuSeconds"
    | "beforeFirstCopySeconds"
    | "afterLastCopySeconds"
  >
> {
  const { phase } = spec;
  if (phase === "ceiling") {
    // Uncounted: a copy client as the local runtime builds one (one SDK attempt), nothing added to it.
    const client =
      spec.countRequests === false ? createS3Client({ endpoint: spec.endpoint, maxSockets: maxSocketsFor(spec), maxAttempts: 1 }) : s3;
    const run = await runCeiling(client, spec.source, spec.destination, spec.objects, spec.copyInvocations * spec.copyConcurrency);
    if (client !== s3) client.destroy();
    return {
      phase,
      copied: run.copied,
      skipped: 0,
      failed: run.failed,
      seconds: run.seconds,
      ranges: 0,
      complete: run.failed === 0,
    };
  }
  if (phase === "baseline") {
    const run = await runBaseline(s3, sqs, {
      source: spec.source,
      destination: spec.destination,
      objects: spec.objects,
      listWorkers: spec.listConcurrency,
      copyWorkers: spec.copyInvocations,
    });
    return {
      phase,
      copied: run.copied,
      skipped: 0,
      failed: run.failed,
      seconds: run.seconds,
      ranges: run.listMessages,
      complete: run.copied === spec.objects,
    };
  }
  const jobOptions: JobOptions | undefined = phase === "sync" ? syncJobOptions() : undefined;
  let lastReport = 0;
  const result = await runLocalJob({
    source: { bucket: spec.source, prefix: "" },
    destination: { bucket: spec.destination, prefix: "" },
    endpoint: spec.endpoint,
    // Uncounted: the local runtime builds its own clients, as `npm run local` does.
    ...(spec.countRequests === false ? {} : { s3, sqs }),
    listConcurrency: spec.listConcurrency,
    copyInvocations: spec.copyInvocations,
    copyConcurrency: spec.copyConcurrency,
    logLevel: "SILENT",
    ...(jobOptions ? { jobOptions } : {}),
    onProgress: (summary) => {
      if (Date.now() - lastReport < 2_000) return;
      lastReport = Date.now();
      process.stderr.write(`  ${phase}: listed ${summary.listed}, copied ${summary.copied}, skipped ${summary.skipped}\n`);
    },
  });
  return {
    phase,
    copied: result.copied,
    skipped: result.skipped,
    failed: result.failed,
    seconds: result.seconds,
    ranges: result.ranges,
    complete: result.complete,
  };
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.argv[2] ?? "{}") as PhaseSpec;
  const clientOptions = { endpoint: spec.endpoint, maxSockets: maxSocketsFor(spec) };
  const s3 = createS3Client(clientOptions);
  const sqs = createSqsClient(clientOptions);
  const counter = new RequestCounter();
  // Uncounted phases (the runs beside the peer) are counted on the wire instead: their copy clients keep the lean path.
  if (spec.countRequests === false) countOnTheWire(counter);
  else {
    counter.attach("s3", s3);
    counter.attach("sqs", sqs);
    addLatency(s3, spec.latencyMs);
    addLatency(sqs, spec.latencyMs);
  }
  let peakHeapBytes = process.memoryUsage().heapUsed;
  // Read just after each full GC (observers run a tick later: a little of what was allocated since is included).
  let peakLiveHeapBytes: number | null = null;
  const gcObserver = new PerformanceObserver((list) => {
    for (const entry of list.getEntries()) {
      const detail = (entry as { detail?: { kind?: number } | null }).detail;
      if (detail?.kind !== constants.NODE_PERFORMANCE_GC_MAJOR) continue;
      peakLiveHeapBytes = Math.max(peakLiveHeapBytes ?? 0, process.memoryUsage().heapUsed);
    }
  });
  gcObserver.observe({ entryTypes: ["gc"] });
  const sampler = setInterval(() => {
    peakHeapBytes = Math.max(peakHeapBytes, process.memoryUsage().heapUsed);
  }, 50);
  try {
    // The whole process tree: this process (every thread: the event loop, libuv's pool, any worker threads)
    // and any child process the phase started and waited for.
    const cpuBefore = process.cpuUsage();
    const childrenBefore = childrenCpuSeconds();
    const started = performance.now();
    const result = await runPhase(spec, s3, sqs);
    const ended = performance.now();
    const cpu = process.cpuUsage(cpuBefore);
    clearInterval(sampler);
    const out: PhaseResult = {
      ...result,
      cpuSeconds: (cpu.user + cpu.system) / 1e6 + (childrenCpuSeconds() - childrenBefore),
      maxCopiesInFlight: counter.maxCopiesInFlight,
      beforeFirstCopySeconds: ((counter.firstCopyAt ?? ended) - started) / 1000,
      afterLastCopySeconds: (ended - (counter.lastCopyAt ?? ended)) / 1000,
      requests: counter.counts,
      maxRssBytes: process.resourceUsage().maxRSS * 1024,
      peakHeapBytes,
      peakLiveHeapBytes,
    };
    process.stdout.write(`${JSON.stringify(out)}\n`);
  } finally {
    clearInterval(sampler);
    gcObserver.disconnect();
    s3.destroy();
    sqs.destroy();
  }
}

await main();
