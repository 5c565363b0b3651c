/**
 * npx tsx scripts/sim/prefix-probe.ts OBJECTS PREFIXES COPY_CONCURRENCY [STEP_SECONDS] [NAME=VALUE ...]
 * A diagnostic of the simulator, not an operator command: runs one simulated job (the pipeline's environment
 * set by NAME=VALUE, e.g. LIST_SPLIT_STAGGER_SECONDS=0) and prints, for every STEP_SECONDS (default 10), each
 * destination prefix's accepted writes and demand (writes tried, SlowDowns included), in hundreds a second.
 * It wraps the S3 model's methods to count; the run is the same as `npm run simulate` with the same seed.
 * Issue 14 found with it that the copies used the prefixes in waves (docs/capacity-and-cost.md).
 */
import { loadPriceTable } from "../lib/plan.ts";
import { simulate } from "./run.ts";
import { RateBucket, SimS3 } from "./s3.ts";

const [objects, prefixes, copyConcurrency, step = 10] = process.argv.slice(2, 6).map(Number);
if (!objects || !prefixes || !copyConcurrency || !(step > 0)) {
  process.stderr.write("usage: npx tsx scripts/sim/prefix-probe.ts OBJECTS PREFIXES COPY_CONCURRENCY [STEP_SECONDS] [NAME=VALUE ...]\n");
  process.exit(2);
}
const env = Object.fromEntries(process.argv.slice(6).map((a) => [a.slice(0, a.indexOf("=")), a.slice(a.indexOf("=") + 1)]));

let s3: SimS3 | undefined;
const copy = SimS3.prototype.copy;
SimS3.prototype.copy = function (this: SimS3, request) {
  s3 ??= this;
  return copy.call(this, request);
};
const demand = new WeakMap<RateBucket, number[]>();
const refill = RateBucket.prototype.refill;
RateBucket.prototype.refill = function (this: RateBucket, now: number) {
  let tried = demand.get(this);
  if (tried === undefined) {
    tried = [];
    demand.set(this, tried);
  }
  const s = Math.floor(now / 1000);
  tried[s] = (tried[s] ?? 0) + 1;
  return refill.call(this, now);
};

const r = await simulate({ objects, prefixes, copyConcurrency, env, prices: loadPriceTable() });
const summary = {
  simulatedSeconds: r.simulatedSeconds,
  slowDowns: r.requests.s3.slowDown,
  peakCopyInvocations: r.peakCopyInvocations,
  meanPrefixesWritten: r.meanPrefixesWritten,
  requeuedKeys: r.failures.requeuedKeys,
  exactlyOnce: r.exactlyOnce,
};
process.stdout.write(`${JSON.stringify(summary)}\n`);
const destination = (s3?.loads ?? []).filter((l) => l.bucket === "destination");
process.stdout.write(`   t  copy inv.  copy queue  per prefix: accepted/tried writes, hundreds a second\n`);
for (let t = 0; t < Math.ceil(r.simulatedSeconds); t += step) {
  const sample = r.timeline.find((x) => Math.floor(x.t) === t);
  const cells = destination.map((l) => {
    let accepted = 0;
    let tried = 0;
    for (let s = t; s < t + step; s++) {
      accepted += l.write.accepted[s] ?? 0;
      tried += demand.get(l.write)?.[s] ?? 0;
    }
    return `${Math.round(accepted / step / 100)}/${Math.round(tried / step / 100)}`;
  });
  const line = `${String(t).padStart(4)}  ${String(sample?.copyInvocations ?? "").padStart(9)}  ${String(sample?.copyQueue ?? "").padStart(10)}  ${cells.join(" ")}`;
  process.stdout.write(`${line}\n`);
}
