/**
 * One S3 request made the copier's way: in a limiter slot, after a halt
 * check, retried with backoff and jitter while the error is transient and
 * time remains. Shared by CopyObject and every step of a copy by parts.
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
  let last: Attempt<T> = { status: "deferred" };
  for (let tryNo = 0; tryNo < deps.tries; tryNo++) {
    if (deps.remainingMs() < deps.safetyMs) return last;
    const outcome = await deps.limiter.run(async (): Promise<Attempt<T>> => {
      // Checked in the slot, right before the request: after halt returns, no copy starts.
      if (await deps.halt.isHalted(jobId)) return { status: "halted" };
      try {
        const value = await request();
        deps.limiter.onSuccess();
        return { status: "ok", value };
      } catch (err) {
        const error = errorInfo(err);
        const errorClass = classifyError(error);
        if (errorClass === "throttle") deps.limiter.onThrottle();
        if (errorClass === "vanished") return { status: "vanished" };
        return { status: "failed", error, errorClass };
      }
    });
    if (outcome.status !== "failed" || outcome.errorClass === "permanent") return outcome;
    if (await deps.halt.isHalted(jobId)) return { status: "halted" };
    last = outcome;
    deps.onRetry?.(outcome.error, outcome.errorClass, tryNo + 1);
    const delay = backoffDelay(tryNo, deps.backoff, deps.random);
    if (tryNo + 1 < deps.tries && deps.remainingMs() - delay > deps.safetyMs) await (deps.sleep ?? defaultSleep)(delay);
  }
  return last;
}
