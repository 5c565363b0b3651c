/**
 * Retry policy for copies: which errors are worth another try, and when.
 * Works on the shape of an error (name, code, HTTP status), not on SDK types.
 */

export type ErrorClass =
  /** S3 asks us to slow down: retry, and lower concurrency. */
  | "throttle"
  /** Server or network trouble: retry with backoff. */
  | "transient"
  /** The source key is gone since listing: report, do not retry. */
  | "vanished"
  /** Retrying cannot help (AccessDenied, NoSuchBucket, InvalidObjectState...). */
  | "permanent";

export interface ErrorInfo {
  readonly code: string;
  readonly message: string;
  readonly status?: number | undefined;
}

const THROTTLE_CODES = new Set([
  "SlowDown",
  "Throttling",
  "ThrottlingException",
  "ThrottledException",
  "RequestThrottled",
  "RequestLimitExceeded",
  "TooManyRequestsException",
  "ProvisionedThroughputExceededException",
  "RequestThrottledException",
]);

const TRANSIENT_CODES = new Set([
  "InternalError",
  "ServiceUnavailable",
  "RequestTimeout",
  "RequestTimeoutException",
  "TimeoutError",
  "AbortError",
  "ECONNRESET",
  "ECONNREFUSED",
  "ECONNABORTED",
  "EPIPE",
  "ETIMEDOUT",
  "ENOTFOUND",
  "EAI_AGAIN",
  "EHOSTUNREACH",
  "ENETUNREACH",
  "UND_ERR_SOCKET",
  // undici's deadlines (the lean CopyObject path, clients.ts): a stalled request, aborted.
  "UND_ERR_CONNECT_TIMEOUT",
  "UND_ERR_HEADERS_TIMEOUT",
  "UND_ERR_BODY_TIMEOUT",
  "NetworkingError",
  "OperationAborted",
]);

const VANISHED_CODES = new Set(["NoSuchKey", "NotFound"]);

const PERMANENT_CODES = new Set([
  "AccessDenied",
  "AllAccessDisabled",
  "NoSuchBucket",
  "InvalidObjectState",
  "InvalidRequest",
  "InvalidArgument",
  "InvalidBucketName",
  "KMS.DisabledException",
  "KMS.NotFoundException",
  "AccountProblem",
  "EntityTooLarge",
  "MethodNotAllowed",
  "PermanentRedirect",
]);

/** Pulls code, message and status out of whatever was thrown. */
export function errorInfo(err: unknown): ErrorInfo {
  if (typeof err !== "object" || err === null) return { code: "Unknown", message: String(err) };
  const e = err as {
    name?: unknown;
    code?: unknown;
    Code?: unknown;
    message?: unknown;
    $metadata?: { httpStatusCode?: unknown };
  };
  const status = typeof e.$metadata?.httpStatusCode === "number" ? e.$metadata.httpStatusCode : undefined;
  const code =
    (typeof e.Code === "string" && e.Code) ||
    (typeof e.code === "string" && e.code) ||
    (typeof e.name === "string" && e.name !== "Error" && e.name) ||
    (status !== undefined ? `HTTP${status}` : "Unknown");
  const message = typeof e.message === "string" && e.message ? e.message : code;
  return { code, message, status };
}

export function classifyError(info: ErrorInfo): ErrorClass {
  if (THROTTLE_CODES.has(info.code) || info.status === 429 || info.status === 503) return "throttle";
  if (VANISHED_CODES.has(info.code)) return "vanished";
  if (PERMANENT_CODES.has(info.code)) return "permanent";
  if (TRANSIENT_CODES.has(info.code)) return "transient";
  if (info.status === undefined) return "transient"; // no HTTP answer at all: a network failure
  if (info.status >= 500) return "transient";
  return "permanent";
}

export interface BackoffPolicy {
  /** First delay in ms. @default 100 */
  readonly baseMs: number;
  /** Largest delay in ms. @default 5000 */
  readonly capMs: number;
}

export const DEFAULT_BACKOFF: BackoffPolicy = { baseMs: 100, capMs: 5_000 };

/** "Full jitter": uniform in [0, min(cap, base * 2^attempt)]. */
export function backoffDelay(attempt: number, policy: BackoffPolicy = DEFAULT_BACKOFF, random: () => number = Math.random): number {
  const ceiling = Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(attempt, 30));
  return Math.floor(random() * ceiling);
}

/** SQS's longest DelaySeconds (and ChangeMessageVisibility's longest wait we ask for). */
export const SQS_MAX_DELAY_SECONDS = 900;

/** Delay in whole seconds (SQS DelaySeconds, at most 900) before a re-enqueued batch's next try. */
export function redeliveryDelaySeconds(attempt: number, random: () => number = Math.random): number {
  return Math.min(SQS_MAX_DELAY_SECONDS, Math.ceil(backoffDelay(attempt, { baseMs: 1_000, capMs: 60_000 }, random) / 1000));
}

/**
 * Seconds a record returned as failed stays hidden before its next receive, by the receives it has
 * had: 1, 4, 15, 15 minutes. Without it the record waits out the queue's visibility timeout (6 x the
 * function timeout: 90 min for listing), so a throttled ledger write would hold a range for hours.
 */
export function recordRetrySeconds(receiveCount: number): number {
  const n = Number.isInteger(receiveCount) && receiveCount > 0 ? receiveCount : 1;
  return Math.min(SQS_MAX_DELAY_SECONDS, 60 * 4 ** Math.min(n - 1, 4));
}

/** Retries a call while its error is transient or a throttle: for control-plane calls outside the copy loop. */
export async function retrying<T>(
  call: () => Promise<T>,
  tries = 6,
  sleep = (ms: number) => new Promise((r) => setTimeout(r, ms)),
): Promise<T> {
  for (let tryNo = 0; ; tryNo++) {
    try {
      return await call();
    } catch (err) {
      const kind = classifyError(errorInfo(err));
      if ((kind !== "transient" && kind !== "throttle") || tryNo + 1 >= tries) throw err;
      await sleep(backoffDelay(tryNo));
    }
  }
}
