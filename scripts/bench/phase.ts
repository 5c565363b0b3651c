/** A benchmark phase as the driver asks for it and as its worker process reports it. */
import { spawn } from "node:child_process";
import { fileURLToPath } from "node:url";
import * as v from "valibot";
import { type JobOptions, JobOptionsSchema } from "../../lambdas/core/jobOptions.ts";
import type { RequestCounts } from "./requests.ts";

export interface PhaseSettings {
  readonly endpoint: string;
  readonly source: string;
  readonly destination: string;
  /** Objects in the source. */
  readonly objects: number;
  readonly listConcurrency: number;
  readonly copyInvocations: number;
  readonly copyConcurrency: number;
  /** Milliseconds every request waits before it goes out (a modelled service round trip). */
  readonly latencyMs: number;
}

export type PhaseName = "pipeline" | "sync" | "ceiling" | "baseline";

export interface PhaseSpec extends PhaseSettings {
  readonly phase: PhaseName;
  /**
   * False: no request counter (nor latency) on the clients, and the pipeline builds its own, as `npm run
   * local` does. The project's lean CopyObject path is taken only by a client whose middleware nobody
   * added to, so only such a run measures the copy path a user runs; its request counts are all 0.
   */
  readonly countRequests?: boolean;
}

export interface PhaseResult {
  readonly phase: PhaseName;
  /** Objects copied (for sync: objects found identical and skipped, plus any copied). */
  readonly copied: number;
  readonly skipped: number;
  readonly failed: number;
  readonly seconds: number;
  /** Listings the phase made: the pipeline's finished range portions, the baseline's prefixes; 0 for the ceiling. */
  readonly ranges: number;
  readonly requests: RequestCounts;
  /** The process's peak resident set (getrusage ru_maxrss), bytes. */
  readonly maxRssBytes: number;
  /** The largest V8 heap in use seen by sampling every 50 ms, bytes. */
  readonly peakHeapBytes: number;
  /**
   * The largest heap in use right after a full (mark-compact) GC: what the
   * phase keeps alive, without the garbage that fills the heap between GCs
   * and makes the peaks above vary from run to run. Null when no full GC ran.
   */
  readonly peakLiveHeapBytes: number | null;
  /** The most copy requests out at once. */
  readonly maxCopiesInFlight: number;
  /** Seconds from the phase's start to its first copy request, and from its last copy request to its end. */
  readonly beforeFirstCopySeconds: number;
  readonly afterLastCopySeconds: number;
  /** CPU seconds (user + system) the phase itself used, start-up aside: its process (all threads) and any child it waited for. */
  readonly cpuSeconds: number;
  /** Whether the phase did all it should have (the pipeline: the ledger proves the job complete). */
  readonly complete: boolean;
}

/** Sockets per client, as runLocalJob sizes them: the copies in flight plus room for the rest. */
export function maxSocketsFor(s: PhaseSettings): number {
  return s.copyInvocations * s.copyConcurrency + 32;
}

/** The job options of the sync phase. */
export function syncJobOptions(): JobOptions {
  return v.parse(JobOptionsSchema, { sync: true });
}

const WORKER = fileURLToPath(new URL("./worker.ts", import.meta.url));
const ROOT = fileURLToPath(new URL("../..", import.meta.url));

/** Runs a phase in a fresh Node process (this Node, with tsx) and resolves with its result. */
export function runPhaseInChild(spec: PhaseSpec, nodeArgs: readonly string[] = []): Promise<PhaseResult> {
  return new Promise((resolve, reject) => {
    // BENCH_CPU_PROF=DIR writes a V8 CPU profile of each phase there (NODE_OPTIONS may not carry --cpu-prof).
    const profile = process.env.BENCH_CPU_PROF ? ["--cpu-prof", `--cpu-prof-dir=${process.env.BENCH_CPU_PROF}`] : [];
    const child = spawn(process.execPath, [...profile, ...nodeArgs, "--import", "tsx", WORKER, JSON.stringify(spec)], {
      cwd: ROOT,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      const text = d.toString();
      stderr += text;
      for (const line of text.split("\n")) if (line.startsWith("  ")) process.stderr.write(`${line}\n`);
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const last = stdout.trim().split("\n").at(-1) ?? "";
      if (code === 0 && last.startsWith("{")) resolve(JSON.parse(last) as PhaseResult);
      else reject(new Error(`${spec.phase} worker exited with ${code}: ${errorLine(stderr)}`));
    });
  });
}

/** The line of a worker's stderr that says what went wrong: its first error, else its last line. */
function errorLine(text: string): string {
  const lines = text.split("\n").filter((l) => l.trim() !== "" && !l.includes("ExperimentalWarning") && !l.includes("--trace-warnings"));
  return (lines.find((l) => /^\w*Error\b|^error:/.test(l)) ?? lines.at(-1) ?? "").trim();
}
