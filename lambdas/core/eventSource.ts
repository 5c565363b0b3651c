/**
 * How Lambda's SQS event source scales, as AWS documents it
 * (https://docs.aws.amazon.com/lambda/latest/dg/services-sqs-scaling.html): "Lambda starts processing five
 * batches at a time with five concurrent invocations ... If messages are still available, Lambda increases
 * the number of processes that are reading batches by up to 300 more instances per minute. The maximum
 * number of batches that an event source mapping can process simultaneously is 1,000."
 *
 * One source of these figures for `plan` (lambdas/core/plan.ts) and the simulator (scripts/sim/model.ts).
 */
export const EVENT_SOURCE_SCALING = {
  initialConcurrency: 5,
  scaleUpPerMinute: 300,
  maxConcurrency: 1000,
} as const;

/** Invocations at once `t` seconds after messages first wait, while they keep waiting: min(cap, 5 + 5 t). */
export function rampedConcurrency(cap: number, t: number): number {
  const { initialConcurrency, scaleUpPerMinute, maxConcurrency } = EVENT_SOURCE_SCALING;
  const limit = Math.min(cap, maxConcurrency);
  return Math.min(limit, initialConcurrency + (scaleUpPerMinute / 60) * Math.max(0, t));
}

/** Invocation-seconds the ramp allows in the first `seconds`: the integral of rampedConcurrency. */
export function rampedWork(cap: number, seconds: number): number {
  const { initialConcurrency: c0, scaleUpPerMinute, maxConcurrency } = EVENT_SOURCE_SCALING;
  const limit = Math.min(cap, maxConcurrency);
  const T = Math.max(0, seconds);
  if (limit <= c0) return limit * T;
  const r = scaleUpPerMinute / 60;
  const rampSeconds = (limit - c0) / r;
  if (T <= rampSeconds) return c0 * T + (r * T * T) / 2;
  return c0 * rampSeconds + (r * rampSeconds * rampSeconds) / 2 + limit * (T - rampSeconds);
}

/** Seconds the ramp needs to do `work` invocation-seconds: the inverse of rampedWork. */
export function rampedSeconds(cap: number, work: number): number {
  const { initialConcurrency: c0, scaleUpPerMinute, maxConcurrency } = EVENT_SOURCE_SCALING;
  const limit = Math.min(cap, maxConcurrency);
  const W = Math.max(0, work);
  if (limit <= c0) return W / Math.max(limit, 1e-9);
  const r = scaleUpPerMinute / 60;
  const rampSeconds = (limit - c0) / r;
  const rampWork = c0 * rampSeconds + (r * rampSeconds * rampSeconds) / 2;
  if (W <= rampWork) return (-c0 + Math.sqrt(c0 * c0 + 2 * r * W)) / r;
  return rampSeconds + (W - rampWork) / limit;
}
