/**
 * Counts the requests a benchmark phase sends, by operation. A middleware in
 * the deserialize step sits inside the SDK's retry loop, so it sees every
 * attempt that goes on the wire (retries included), not one per call.
 *
 * Why not a counting proxy: measured on this 2-core machine, a Node proxy in
 * a process of its own spends ~0.2-0.3 ms of CPU per request forwarded, more
 * than the emulator itself (~0.13 ms per CopyObject) and a third of what the
 * SDK costs the client (~0.65 ms): a third busy process on two cores. The
 * middleware costs a counter increment. Every client a phase uses is built by
 * its worker (scripts/bench/worker.ts) with this counter attached.
 */
import { subscribe } from "node:diagnostics_channel";
import type { S3Client } from "@aws-sdk/client-s3";
import type { SQSClient } from "@aws-sdk/client-sqs";

export const S3_OPERATIONS = ["list", "copy", "head", "get", "put", "other"] as const;
export const SQS_OPERATIONS = ["send", "receive", "delete", "other"] as const;

export type S3Operation = (typeof S3_OPERATIONS)[number];
export type SqsOperation = (typeof SQS_OPERATIONS)[number];

export interface RequestCounts {
  readonly s3: Record<S3Operation, number>;
  readonly sqs: Record<SqsOperation, number>;
  /** Every command by its SDK name (without "Command"), e.g. {"s3:CopyObject": 10000}. */
  readonly byCommand: Record<string, number>;
}

export function emptyCounts(): RequestCounts {
  return {
    s3: { list: 0, copy: 0, head: 0, get: 0, put: 0, other: 0 },
    sqs: { send: 0, receive: 0, delete: 0, other: 0 },
    byCommand: {},
  };
}

const S3_CLASSES: Readonly<Record<string, S3Operation>> = {
  ListObjectsV2: "list",
  ListObjects: "list",
  CopyObject: "copy",
  UploadPartCopy: "copy",
  HeadObject: "head",
  GetObject: "get",
  PutObject: "put",
};

const SQS_CLASSES: Readonly<Record<string, SqsOperation>> = {
  SendMessage: "send",
  SendMessageBatch: "send",
  ReceiveMessage: "receive",
  DeleteMessage: "delete",
  DeleteMessageBatch: "delete",
};

/** The operation class of an S3 command; ledger writes are PutObject and so count as put. */
export function s3Operation(command: string): S3Operation {
  return S3_CLASSES[command] ?? "other";
}

/** The operation class of an SQS command; queue administration (create, attributes, delete, purge) is "other". */
export function sqsOperation(command: string): SqsOperation {
  return SQS_CLASSES[command] ?? "other";
}

export class RequestCounter {
  readonly counts: RequestCounts = emptyCounts();
  /** performance.now() of the first and the last copy request sent. */
  firstCopyAt: number | undefined;
  lastCopyAt: number | undefined;
  /** The most copy requests that were out at once: the concurrency a phase really reached. */
  maxCopiesInFlight = 0;
  private copiesInFlight = 0;

  record(service: "s3" | "sqs", command: string): void {
    if (service === "s3") {
      const op = s3Operation(command);
      this.counts.s3[op]++;
      if (op === "copy") {
        this.firstCopyAt ??= performance.now();
        this.lastCopyAt = performance.now();
      }
    } else this.counts.sqs[sqsOperation(command)]++;
    const name = `${service}:${command}`;
    this.counts.byCommand[name] = (this.counts.byCommand[name] ?? 0) + 1;
  }

  /** Counts every attempt `client` sends from now on. */
  attach(service: "s3" | "sqs", client: S3Client | SQSClient): void {
    // Both clients share the middleware stack type; the union only keeps TypeScript from seeing it.
    const stack = (client as S3Client).middlewareStack;
    stack.add(
      (next, context) => async (args) => {
        const command = String(context.commandName ?? "Unknown").replace(/Command$/, "");
        this.record(service, command);
        if (service !== "s3" || s3Operation(command) !== "copy") return next(args);
        this.maxCopiesInFlight = Math.max(this.maxCopiesInFlight, ++this.copiesInFlight);
        try {
          return await next(args);
        } finally {
          this.copiesInFlight--;
        }
      },
      { step: "deserialize", priority: "low", name: "s3FanoutBenchRequestCounter" },
    );
  }
}

/** The S3 operation of a request as it goes on the wire: the SDK names most in an `x-id` query parameter. */
export function wireS3Command(method: string, path: string): string {
  const id = /[?&]x-id=([A-Za-z0-9]+)/.exec(path)?.[1];
  if (id !== undefined) return id;
  if (method === "HEAD") return "HeadObject";
  if (method === "GET" && /[?&]list-type=2(&|$)/.test(path)) return "ListObjectsV2";
  return `${method}?`;
}

/**
 * Counts what leaves the process on the wire, through Node's diagnostics
 * channels: node:http's (the SDK's handler) and undici's (the lean CopyObject
 * path). No middleware is added, so copy clients keep the lean path, which the
 * middleware counter would turn off. SQS requests name their operation in
 * X-Amz-Target. Both channels are process-wide: only a phase's own worker
 * process should attach it.
 */
export function countOnTheWire(counter: RequestCounter): void {
  subscribe("http.client.request.start", (message) => {
    const request = (message as { request: { method: string; path: string; getHeader(name: string): unknown } }).request;
    const target = request.getHeader("x-amz-target");
    if (typeof target === "string") counter.record("sqs", target.replace(/^AmazonSQS\./, ""));
    else counter.record("s3", wireS3Command(request.method, request.path));
  });
  subscribe("undici:request:create", (message) => {
    const request = (message as { request: { method: string; path: string } }).request;
    counter.record("s3", wireS3Command(request.method, request.path));
  });
}

/**
 * Holds every attempt `client` sends for about `ms` before it goes out: the
 * round trip of a real service, which an emulator on the same machine
 * answers in well under a millisecond. Uniform between ms/2 and 3ms/2, as
 * real latencies vary (a fixed delay marches requests in lockstep waves).
 * Placed like the counter, inside the retry loop.
 */
export function addLatency(client: S3Client | SQSClient, ms: number, random: () => number = Math.random): void {
  if (ms <= 0) return;
  (client as S3Client).middlewareStack.add(
    (next) => async (args) => {
      await new Promise((resolve) => setTimeout(resolve, ms * (0.5 + random())));
      return next(args);
    },
    { step: "deserialize", priority: "low", name: "s3FanoutBenchLatency" },
  );
}

export function totalS3(c: RequestCounts): number {
  return S3_OPERATIONS.reduce((n, op) => n + c.s3[op], 0);
}

export function totalSqs(c: RequestCounts): number {
  return SQS_OPERATIONS.reduce((n, op) => n + c.sqs[op], 0);
}

/** Requests per object copied, by operation, rounded to what the figures can resolve. */
export function perObject(c: RequestCounts, objects: number) {
  const per = (n: number) => (objects > 0 ? round(n / objects, 5) : 0);
  return {
    s3: Object.fromEntries(S3_OPERATIONS.map((op) => [op, per(c.s3[op])])) as Record<S3Operation, number>,
    sqs: Object.fromEntries(SQS_OPERATIONS.map((op) => [op, per(c.sqs[op])])) as Record<SqsOperation, number>,
    s3Total: per(totalS3(c)),
    sqsTotal: per(totalSqs(c)),
    total: per(totalS3(c) + totalSqs(c)),
  };
}

export function round(n: number, digits: number): number {
  const f = 10 ** digits;
  return Math.round(n * f) / f;
}
