/**
 * How fast one S3 prefix takes requests, and how that grows under sustained load.
 *
 * The rates are published ("Best practices design patterns: optimizing Amazon S3 performance",
 * https://docs.aws.amazon.com/AmazonS3/latest/userguide/optimizing-performance.html): 3,500
 * PUT/COPY/POST/DELETE and 5,500 GET/HEAD requests a second per partitioned prefix. config/prices.json
 * carries the same two figures for `plan` (a test keeps them equal).
 *
 * The growth is not: AWS says only that "Amazon S3 automatically scales to high request rates ... you
 * might initially see 503 Slow Down responses while S3 scales", with no timing. Our rule: a prefix whose
 * demand (requests tried, SlowDowns included) was at least `growDemandFraction` of its capacity in each of
 * `growAfterSeconds` consecutive seconds doubles its partitions, up to `maxPartitions`, and the count starts
 * again. 5 minutes is deliberately slow: no job is projected faster than S3 is known to scale.
 *
 * One source of these figures for `plan` (lambdas/core/plan.ts) and the simulator (scripts/sim/model.ts).
 */
export const S3_SCALING = {
  writesPerSecond: 3500,
  readsPerSecond: 5500,
  growAfterSeconds: 300,
  growDemandFraction: 0.8,
  maxPartitions: 64,
} as const;

/** The part of the rule the functions below need; tests pass others. */
export interface GrowthRule {
  readonly growAfterSeconds: number;
  readonly maxPartitions: number;
}

/**
 * Partitions of a prefix kept busy from time 0, during the second that ends at `seconds`: 1 up to the
 * first growAfterSeconds, 2 up to twice that, ..., at most maxPartitions. (At an exact multiple of the
 * period the doubling has not yet served a request, hence the ceiling.)
 */
export function grownPartitions(seconds: number, rule: GrowthRule = S3_SCALING): number {
  if (seconds <= 0) return 1;
  const doublings = Math.ceil(seconds / rule.growAfterSeconds) - 1;
  return Math.min(rule.maxPartitions, 2 ** Math.min(doublings, 60));
}

/**
 * Requests `prefixes` prefixes kept busy take in their first `seconds` at `perPartition` requests a second
 * each per partition, while the rule doubles their partitions: the integral of the growing rate.
 */
export function grownRequests(perPartition: number, prefixes: number, seconds: number, rule: GrowthRule = S3_SCALING): number {
  const base = perPartition * Math.max(1, prefixes);
  let left = Math.max(0, seconds);
  let done = 0;
  for (let partitions = 1; ; partitions = Math.min(rule.maxPartitions, partitions * 2)) {
    if (partitions >= rule.maxPartitions || left <= rule.growAfterSeconds) return done + base * partitions * left;
    done += base * partitions * rule.growAfterSeconds;
    left -= rule.growAfterSeconds;
  }
}

/**
 * Seconds `prefixes` prefixes kept busy need for `requests` requests at `perPartition` a second each per
 * partition, doubling as the rule says: the inverse of grownRequests. A rate-bound job keeps its prefixes
 * busy by definition (its copies wait on them); below growAfterSeconds this is requests / (rate x prefixes).
 */
export function grownSeconds(perPartition: number, prefixes: number, requests: number, rule: GrowthRule = S3_SCALING): number {
  const base = perPartition * Math.max(1, prefixes);
  let left = Math.max(0, requests);
  let seconds = 0;
  for (let partitions = 1; ; partitions = Math.min(rule.maxPartitions, partitions * 2)) {
    const rate = base * partitions;
    if (partitions >= rule.maxPartitions || left <= rate * rule.growAfterSeconds) return seconds + left / rate;
    left -= rate * rule.growAfterSeconds;
    seconds += rule.growAfterSeconds;
  }
}
