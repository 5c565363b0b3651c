/**
 * npx tsx scripts/sim/reconcile.ts [--jobs 100000x1,100000x16,...] [--results FILE,...] [--json]
 * `plan` (lambdas/core/plan.ts, on paper: uniform 1 KiB objects) beside the simulator on the same jobs, at
 * --copy-concurrency 1000 and the stack's other defaults; prints the table of docs/capacity-and-cost.md.
 * Each simulated job runs in full, so 10M-object jobs take many minutes (half an hour and more here):
 * --results takes instead the output of runs already made (`npm run simulate -- ... --copy-concurrency 1000
 * --json > FILE`, its last line), one row per file, beside plan for the same objects and prefixes.
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";
import { DEFAULT_MULTIPART } from "../../lambdas/core/copyPlan.ts";
import { estimateMessages, ObjectTally, type PlanCapacity, planJob } from "../../lambdas/core/plan.ts";
import { loadPriceTable } from "../lib/plan.ts";
import { SIM_DEFAULTS } from "./model.ts";
import { type SimResult, simulate } from "./run.ts";

const { values } = parseArgs({
  options: {
    jobs: { type: "string", default: "100000x1,100000x16,1000000x1,1000000x16" },
    results: { type: "string" },
    json: { type: "boolean", default: false },
  },
});
const prices = loadPriceTable();
const COPY_CONCURRENCY = 1000;

/** A 1 KiB object's copy item: a 19-character key, its size and ETag, about 80 bytes; a 300-byte envelope. */
function paperPlan(objects: number, prefixes: number) {
  const tally = new ObjectTally(DEFAULT_MULTIPART);
  tally.addMany(objects, SIM_DEFAULTS.sizeBytes);
  const capacity: PlanCapacity = {
    lambdaConcurrency: COPY_CONCURRENCY,
    copyConcurrency: SIM_DEFAULTS.copiesInFlight,
    listConcurrency: SIM_DEFAULTS.listConcurrency,
    partConcurrency: 8,
    headConcurrency: 32,
    prefixes,
  };
  return planJob({
    tally,
    messages: estimateMessages(objects, 80, 300),
    source: { kind: "listing", units: 11, sync: false },
    capacity,
    prices,
  });
}

/** A saved run: the last line of `npm run simulate -- --json`, with the options it ran with and its wall time. */
type SavedRun = Omit<SimResult, "timeline"> & {
  readonly options: { readonly prefixes: number; readonly copyConcurrency: number; readonly listConcurrency: number };
  readonly wallSeconds: number;
};

async function runs(): Promise<{ sim: SavedRun | SimResult; prefixes: number; wall: number }[]> {
  if (values.results !== undefined) {
    return values.results.split(",").map((file) => {
      const lines = readFileSync(file, "utf8").trim().split("\n");
      const sim = JSON.parse(lines[lines.length - 1] ?? "") as SavedRun;
      if (sim.options.copyConcurrency !== COPY_CONCURRENCY || sim.options.listConcurrency !== SIM_DEFAULTS.listConcurrency)
        throw new Error(
          `${file}: not a run at --copy-concurrency ${COPY_CONCURRENCY} and list concurrency ${SIM_DEFAULTS.listConcurrency}`,
        );
      return { sim, prefixes: sim.options.prefixes, wall: sim.wallSeconds };
    });
  }
  const out = [];
  for (const job of (values.jobs ?? "").split(",")) {
    const [objects, prefixes] = job.split("x").map(Number) as [number, number];
    const started = performance.now();
    const sim = await simulate({ objects, prefixes, copyConcurrency: COPY_CONCURRENCY, prices });
    out.push({ sim, prefixes, wall: (performance.now() - started) / 1000 });
  }
  return out;
}

const rows: Record<string, unknown>[] = [];
for (const { sim, prefixes, wall } of await runs()) {
  const objects = sim.objects;
  const plan = paperPlan(objects, prefixes);
  const row = {
    objects,
    prefixes,
    planSeconds: plan.projectedSeconds,
    planBottleneck: plan.bottleneck,
    simSeconds: sim.simulatedSeconds,
    simBottleneck: sim.bottleneck,
    secondsRatio: Math.round((100 * sim.simulatedSeconds) / plan.projectedSeconds) / 100,
    planCost: plan.cost.total,
    simCost: sim.costUsd,
    planLambdaGbSeconds: plan.lambdaGbSeconds,
    simLambdaGbSeconds: sim.cost.lambdaGbSeconds,
    planCopyInvocations: plan.invocations.copy,
    simCopyInvocations: sim.requests.lambda.copy,
    simPeakCopyInvocations: sim.peakCopyInvocations,
    simSlowDowns: sim.requests.s3.slowDown,
    planPrefixesAtOnce: plan.prefixesAtOnce,
    simMeanPrefixesWritten: sim.meanPrefixesWritten,
    gbSecondsRatio: Math.round((100 * sim.cost.lambdaGbSeconds) / Math.max(plan.lambdaGbSeconds, 1e-9)) / 100,
    failures: sim.failures,
    exactlyOnce: sim.exactlyOnce,
    wallSeconds: Math.round(wall),
  };
  rows.push(row);
  process.stderr.write(`${JSON.stringify(row)}\n`);
}
const f = (x: unknown) => (typeof x === "number" ? x.toLocaleString("en-US", { maximumFractionDigits: 2 }) : String(x));
process.stdout.write(
  "| objects | prefixes | plan s (bottleneck) | sim s (bottleneck) | sim/plan | plan $ | sim $ | plan GB-s | sim GB-s | sim/plan GB-s | prefixes at once plan / sim (mean written) | copy invocations plan / sim (peak) | exactly once |\n|---|---|---|---|---|---|---|---|---|---|---|---|---|\n",
);
for (const r of rows)
  process.stdout.write(
    `| ${f(r.objects)} | ${r.prefixes} | ${f(r.planSeconds)} (${r.planBottleneck}) | ${f(r.simSeconds)} (${r.simBottleneck}) | ${f(r.secondsRatio)} | ${f(r.planCost)} | ${f(r.simCost)} | ${f(r.planLambdaGbSeconds)} | ${f(r.simLambdaGbSeconds)} | ${f(r.gbSecondsRatio)} | ${r.planPrefixesAtOnce} / ${f(r.simMeanPrefixesWritten)} | ${f(r.planCopyInvocations)} / ${f(r.simCopyInvocations)} (${r.simPeakCopyInvocations}) | ${r.exactlyOnce ? "yes" : "NO"} |\n`,
  );
if (values.json) process.stdout.write(`${JSON.stringify(rows)}\n`);
