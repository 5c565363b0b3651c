/**
 * One S3 request made the copier's way: in a limiter slot, after a halt
 * check, retried with backoff and jitter while the error is transient and
 * time remains. Shared by CopyObject and every step of a copy by parts.
 * Every outcome is reported to the limiter with its slot; a throttled try
 * keeps its slot through its backoff, so SlowDowns also slow the rate.
 */
import type { HaltSignal } from "./halt.ts";
import type { AdaptiveLimiter } from "./limiter.ts";
import { type BackoffPolicy, backoffDelay, classifyError, type ErrorClass, type ErrorInfo, errorInfo } from "./retry.ts";

export type Attempt<T> =
  | { readonly status: "ok"; readonly value: T }
  | { readonly status: "vanished" }
  | { readonly status: "failed"; readonly error: ErrorInfo; readonly errorClass: ErrorClass }
  /** Not tried (or not again): too little time left in this invocation. */
  | { readonly status: "deferred" }
  | { readonly status: "halted" };

export interface AttemptDeps {
  readonly halt: HaltSignal;
  readonly limiter: AdaptiveLimiter;
  readonly tries: number;
  readonly backoff: BackoffPolicy;
  readonly remainingMs: () => number;
  readonly safetyMs: number;
  readonly sleep?: (ms: number) => Promise<void>;
  readonly random?: () => number;
  readonly onRetry?: (error: ErrorInfo, errorClass: ErrorClass, attempt: number) => void;
}

const defaultSleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

export async function attempt<T>(jobId: string, deps: AttemptDeps, request: () => Promise<T>): Promise<Attempt<T>> {
  const sleep = deps.sleep ?? defaultSleep;
  let last: Attempt<T> = { status: "deferred" };
  for (let tryNo = 0; tryNo < deps.tries; tryNo++) {
    if (deps.remainingMs() < deps.safetyMs) return last;
    const outcome = await deps.limiter.run(async (slot): Promise<Attempt<T>> => {
      try {
        // Checked in the slot, right before the request: after halt returns, no copy starts. A marker
        // that cannot be read fails this try like any transient error (nothing is sent), not the key:
        // every key in flight shares the one read.
        if (await deps.halt.isHalted(jobId)) return { status: "halted" };
        const value = await request();
        deps.limiter.onSuccess(slot);
        return { status: "ok", value };
      } catch (err) {
        const error = errorInfo(err);
        const errorClass = classifyError(error);
        if (errorClass === "vanished") return { status: "vanished" };
        if (errorClass === "throttle") {
          deps.limiter.onThrottle(slot);
          // The slot rests through the backoff before it is handed on (this key's next try
          // included): S3 answers SlowDown at once, and a slot freed at once would only send
          // another key into the same answer, however low the limit.
          const delay = backoffDelay(tryNo, deps.backoff, deps.random);
          if (deps.remainingMs() - delay > deps.safetyMs) await sleep(delay);
        }
        return { status: "failed", error, errorClass };
      }
    });
    if (outcome.status !== "failed" || outcome.errorClass === "permanent") return outcome;
    // Unreadable here too: the next try's check in the slot decides.
    if (await deps.halt.isHalted(jobId).catch(() => false)) return { status: "halted" };
    last = outcome;
    deps.onRetry?.(outcome.error, outcome.errorClass, tryNo + 1);
    if (outcome.errorClass === "throttle") continue; // it has rested through its backoff in the slot
    const delay = backoffDelay(tryNo, deps.backoff, deps.random);
    if (tryNo + 1 < deps.tries && deps.remainingMs() - delay > deps.safetyMs) await sleep(delay);
  }
  return last;
}
