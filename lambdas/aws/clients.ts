/**
 * The only place SDK clients are built. Endpoint and credentials come from
 * the standard AWS environment (AWS_ENDPOINT_URL, AWS_REGION, the credential
 * chain) unless given; a custom endpoint implies path-style S3 addressing.
 */

import { existsSync } from "node:fs";
import { homedir } from "node:os";
import { join } from "node:path";
import { S3Client } from "@aws-sdk/client-s3";
import { SQSClient } from "@aws-sdk/client-sqs";
import { ConfigError } from "../core/errors.ts";
import { type LeanHttpOptions, LeanS3 } from "./leanS3.ts";
import { Sha256 } from "./sha256.ts";

export interface ClientOptions {
  /** S3/SQS endpoint, e.g. the emulator. @default AWS_ENDPOINT_URL, else AWS */
  readonly endpoint?: string | undefined;
  readonly region?: string | undefined;
  /** Sockets per client: at least the copies in flight. @default 256 */
  readonly maxSockets?: number | undefined;
  /** SDK attempts per call; the copier runs its own retries on top. @default 3 */
  readonly maxAttempts?: number | undefined;
  /**
   * Response deadline of each request in ms: the longest wait for its answer's headers, and the longest
   * silence within its body. SQS clients never take less than LONG_POLL_DEADLINE_MS.
   * @default S3_FANOUT_REQUEST_TIMEOUT_MS, else 60,000
   */
  readonly requestTimeoutMs?: number | undefined;
}

/**
 * Deadlines of every request, enforced on both paths (the SDK's node:http handler below, the lean
 * path's undici connections): connecting, 5 s; the response, RESPONSE_TIMEOUT_MS, both to its headers and as
 * the longest silence in its body (boto3's read timeout is the same 60 s). Past one, the request is
 * aborted and fails as TimeoutError or UND_ERR_*_TIMEOUT, which classifyError calls transient, so the
 * copier or the SDK tries again. Nothing caps a request's whole length.
 *
 * CopyObject and UploadPartCopy (up to 5 GB, minutes at S3's copy rate) get no longer deadline: S3
 * answers 200 as soon as a copy starts (a failure met while copying comes in that 200's body, see
 * API_CopyObject) and keeps the connection alive with whitespace while it copies (as documented for
 * CompleteMultipartUpload; boto3 copies 5 GB in one CopyObject under its 60 s read timeout). A long
 * copy therefore never waits 60 s for a byte; a copy that does has stalled.
 */
const CONNECT_TIMEOUT_MS = 5_000;
const RESPONSE_TIMEOUT_MS = 60_000;
/**
 * SQS long polls answer only after up to 20 s (WaitTimeSeconds, or the queue's
 * ReceiveMessageWaitTimeSeconds), so an SQS client's deadline is at least the longest poll plus 10 s.
 */
const LONG_POLL_DEADLINE_MS = (20 + 10) * 1000;
/** Shortens every deadline, for tests of stalled requests; reaches the local runtime's worker threads. */
const TIMEOUT_ENV = "S3_FANOUT_REQUEST_TIMEOUT_MS";

function responseTimeoutMs(options: ClientOptions): number {
  if (options.requestTimeoutMs !== undefined) return options.requestTimeoutMs;
  const text = process.env[TIMEOUT_ENV];
  if (text === undefined || text === "") return RESPONSE_TIMEOUT_MS;
  const ms = Number(text);
  if (!Number.isSafeInteger(ms) || ms <= 0) throw new ConfigError(`${TIMEOUT_ENV} must be a positive whole number of ms, got "${text}"`);
  return ms;
}

function common(options: ClientOptions, minTimeoutMs = 0) {
  const endpoint = options.endpoint ?? process.env.AWS_ENDPOINT_URL;
  const region = options.region ?? process.env.AWS_REGION ?? process.env.AWS_DEFAULT_REGION ?? "us-east-1";
  const maxSockets = options.maxSockets ?? 256;
  const timeoutMs = Math.max(responseTimeoutMs(options), minTimeoutMs);
  return {
    endpoint,
    region,
    ...(endpoint !== undefined && !credentialsConfigured() ? { credentials: EMULATOR_CREDENTIALS } : {}),
    maxAttempts: options.maxAttempts ?? 3,
    // Resolve each command's middleware stack once per client, not per request (~0.3 ms CPU a copy).
    // Middleware must then be added before a client's first send of that command, as every caller here does.
    cacheMiddleware: true,
    // SigV4's HMACs with keys prepared once (sha256.ts): about 0.03 ms CPU a request.
    sha256: Sha256,
    requestHandler: {
      connectionTimeout: CONNECT_TIMEOUT_MS,
      // requestTimeout runs until the headers; without throwOnRequestTimeout it only logs a warning.
      requestTimeout: timeoutMs,
      throwOnRequestTimeout: true,
      // An idle timeout, armed through the body: a response that stops mid-way.
      socketTimeout: timeoutMs,
      httpAgent: { keepAlive: true, maxSockets },
      httpsAgent: { keepAlive: true, maxSockets },
    },
  };
}

export function createS3Client(options: ClientOptions = {}): S3Client {
  const base = common(options);
  const client = new S3Client({ ...base, forcePathStyle: base.endpoint !== undefined });
  // Its listings, and the copies of a copy client (one SDK attempt: the copier retries), may go the lean way; see leanS3Of.
  if (process.env.S3_FANOUT_LEAN_COPY !== "0") {
    leanCandidates.set(client, {
      stack: client.middlewareStack.identify().length,
      copies: base.maxAttempts === 1,
      http: {
        connections: base.requestHandler.httpAgent.maxSockets,
        connectTimeoutMs: CONNECT_TIMEOUT_MS,
        responseTimeoutMs: base.requestHandler.requestTimeout,
      },
    });
  }
  return client;
}

/** S3 clients built here: the size of their middleware stack when built, whether they copy, their sockets' settings. */
const leanCandidates = new WeakMap<S3Client, { readonly stack: number; readonly copies: boolean; readonly http: LeanHttpOptions }>();
const leanPaths = new WeakMap<S3Client, LeanS3 | null>();
const SDK_SEND = S3Client.prototype.send;

/**
 * The lean path of a client built by createS3Client, or undefined for the
 * SDK path: any other client, S3_FANOUT_LEAN_COPY=0, or a client whose send
 * was replaced (a mock) or whose middleware stack grew (a request counter, a
 * fault injector), since the lean path would bypass them. Decided at its
 * first use, as cacheMiddleware fixes the stack then too.
 */
function leanS3Of(client: S3Client): LeanS3 | undefined {
  if (client.send !== SDK_SEND) return undefined;
  let lean = leanPaths.get(client);
  if (lean === undefined) {
    const built = leanCandidates.get(client);
    lean = built !== undefined && client.middlewareStack.identify().length === built.stack ? new LeanS3(client, built.http) : null;
    leanPaths.set(client, lean);
  }
  return lean ?? undefined;
}

/** The lean CopyObject sender of a copy client (one SDK attempt) built by createS3Client; see leanS3Of. */
export function leanCopierOf(client: S3Client): LeanS3 | undefined {
  return leanCandidates.get(client)?.copies ? leanS3Of(client) : undefined;
}

/** The lean ListObjectsV2 of a client built by createS3Client; see leanS3Of. */
export function leanListerOf(client: S3Client): LeanS3 | undefined {
  return leanS3Of(client);
}

export function createSqsClient(options: ClientOptions = {}): SQSClient {
  return new SQSClient(common(options, LONG_POLL_DEADLINE_MS));
}

/** Emulators accept any credentials; used only with a custom endpoint and no credentials configured. */
const EMULATOR_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

/** Whether the standard chain has anything to find, short of instance metadata. */
function credentialsConfigured(): boolean {
  const env = process.env;
  if (env.AWS_ACCESS_KEY_ID || env.AWS_PROFILE || env.AWS_WEB_IDENTITY_TOKEN_FILE) return true;
  if (env.AWS_CONTAINER_CREDENTIALS_RELATIVE_URI || env.AWS_CONTAINER_CREDENTIALS_FULL_URI) return true;
  const aws = join(homedir(), ".aws");
  return existsSync(env.AWS_SHARED_CREDENTIALS_FILE ?? join(aws, "credentials")) || existsSync(env.AWS_CONFIG_FILE ?? join(aws, "config"));
}
