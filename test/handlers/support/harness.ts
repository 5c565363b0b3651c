/**
 * Shared fixtures of the handler tests: a PipelineConfig, an SQS event
 * factory, a fake Lambda context with a controllable deadline, a ledger that
 * keeps every record, and readers of what a mocked SQSClient was asked to send.
 */
import { Logger } from "@aws-lambda-powertools/logger";
import { S3Client, S3ServiceException } from "@aws-sdk/client-s3";
import { SendMessageBatchCommand, SQSClient } from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import { mockClient } from "aws-sdk-client-mock";
import type { PipelineConfig } from "../../../lambdas/config.ts";
import { InMemoryLedger } from "../../../lambdas/core/ledger.ts";
import type { JobRef } from "../../../lambdas/core/messages.ts";
import type { BatchOutcome, PortionRecord } from "../../../lambdas/core/ports.ts";

export const QUEUE_URLS = {
  list: "https://sqs.us-east-1.amazonaws.com/000000000000/list",
  copy: "https://sqs.us-east-1.amazonaws.com/000000000000/copy",
  listDlq: "https://sqs.us-east-1.amazonaws.com/000000000000/list-dlq",
  copyDlq: "https://sqs.us-east-1.amazonaws.com/000000000000/copy-dlq",
} as const;

export function testConfig(overrides: Partial<PipelineConfig> = {}): PipelineConfig {
  return {
    queues: QUEUE_URLS,
    limits: { maxKeys: 100, maxBytes: 64 * 1024 },
    listPageSize: 1000,
    listSafetyMs: 60_000,
    // Splitting has tests of its own; elsewhere a full page must not fan out.
    listSplitParts: 0,
    copyConcurrency: 8,
    copySafetyMs: 20_000,
    partConcurrency: 4,
    copyPolicy: { triesPerDelivery: 3, maxDeliveries: 3, backoff: { baseMs: 1, capMs: 2 } },
    ...overrides,
  };
}

export function testJob(overrides: { id?: string; sourcePrefix?: string; destinationPrefix?: string; sourceBucket?: string } = {}): JobRef {
  return {
    id: overrides.id ?? "job-1",
    source: { bucket: overrides.sourceBucket ?? "src", prefix: overrides.sourcePrefix ?? "" },
    destination: { bucket: "dst", prefix: overrides.destinationPrefix ?? "" },
  };
}

export function silentLogger(): Logger {
  return new Logger({ serviceName: "s3-fanout-test", logLevel: "SILENT" });
}

let messageCounter = 0;

export function sqsRecord(body: string, messageId = `msg-${++messageCounter}`): SQSRecord {
  return {
    messageId,
    receiptHandle: `receipt-${messageId}`,
    body,
    attributes: {
      ApproximateReceiveCount: "1",
      SentTimestamp: "1700000000000",
      SenderId: "AIDAEXAMPLE",
      ApproximateFirstReceiveTimestamp: "1700000000001",
    },
    messageAttributes: {},
    md5OfBody: "00000000000000000000000000000000",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:queue",
    awsRegion: "us-east-1",
  };
}

export function sqsEvent(...records: SQSRecord[]): SQSEvent {
  return { Records: records };
}

/** A Lambda context whose remaining time is whatever the test sets. */
export interface FakeContext extends Context {
  remainingMs: number;
}

export function fakeContext(remainingMs = 900_000): FakeContext {
  const context: FakeContext = {
    remainingMs,
    callbackWaitsForEmptyEventLoop: true,
    functionName: "s3-fanout-test",
    functionVersion: "$LATEST",
    invokedFunctionArn: "arn:aws:lambda:us-east-1:000000000000:function:s3-fanout-test",
    memoryLimitInMB: "1024",
    awsRequestId: "request-1",
    logGroupName: "/aws/lambda/s3-fanout-test",
    logStreamName: "2024/01/01/[$LATEST]test",
    getRemainingTimeInMillis: () => context.remainingMs,
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
  return context;
}

/** InMemoryLedger that also keeps every record in the order it came. */
export class RecordingLedger extends InMemoryLedger {
  readonly portionRecords: PortionRecord[] = [];
  readonly batchRecords: BatchOutcome[] = [];

  override async recordPortion(record: PortionRecord): Promise<void> {
    this.portionRecords.push(record);
    await super.recordPortion(record);
  }

  /** Each call to recordBatches, as the batch ids it wrote together. */
  readonly writes: string[][] = [];

  override async recordBatch(outcome: BatchOutcome): Promise<void> {
    this.batchRecords.push(outcome);
    await super.recordBatch(outcome);
  }

  override async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    this.writes.push(outcomes.map((o) => o.batchId));
    for (const o of outcomes) await this.recordBatch(o);
  }
}

/** Real clients whose `send` is stubbed per instance, so tests never share a stub. */
export function mockedClients() {
  const s3 = new S3Client({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  const sqs = new SQSClient({ region: "us-east-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
  const s3Mock = mockClient(s3);
  const sqsMock = mockClient(sqs);
  sqsMock.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
  return { s3, sqs, s3Mock, sqsMock };
}

export interface SentEntry {
  readonly queueUrl: string;
  readonly body: string;
  readonly delaySeconds: number | undefined;
}

type SqsMock = ReturnType<typeof mockedClients>["sqsMock"];

/** Every SendMessageBatch request, in call order. */
export function sendRequests(sqsMock: SqsMock): { queueUrl: string; entries: SentEntry[] }[] {
  return sqsMock.commandCalls(SendMessageBatchCommand).map((call) => {
    const input = call.args[0].input;
    const queueUrl = input.QueueUrl ?? "";
    return {
      queueUrl,
      entries: (input.Entries ?? []).map((e) => ({ queueUrl, body: e.MessageBody ?? "", delaySeconds: e.DelaySeconds })),
    };
  });
}

/** Every message sent to one queue URL, across requests. */
export function sentTo(sqsMock: SqsMock, queueUrl: string): SentEntry[] {
  return sendRequests(sqsMock)
    .filter((r) => r.queueUrl === queueUrl)
    .flatMap((r) => r.entries);
}

/** An S3 error as the SDK raises it: name = error code, HTTP status in $metadata. */
export function s3Error(name: string, status: number, message = name): S3ServiceException {
  return new S3ServiceException({
    name,
    message,
    $fault: status >= 500 ? "server" : "client",
    $metadata: { httpStatusCode: status },
  });
}

/** A promise with its resolver outside, to hold mocked calls open. */
export function gate(): { readonly promise: Promise<void>; readonly open: () => void } {
  let open: () => void = () => undefined;
  const promise = new Promise<void>((resolve) => {
    open = resolve;
  });
  return { promise, open };
}

/** Lets pending promise chains and timers of 0 ms run `rounds` times. */
export async function settleEventLoop(rounds = 20): Promise<void> {
  for (let i = 0; i < rounds; i++) await new Promise<void>((resolve) => setImmediate(resolve));
}

/** A JSON-shaped view of a DLQ or poison body, for assertions. */
export function parseJsonObject(body: string): Record<string, unknown> {
  const value: unknown = JSON.parse(body);
  if (typeof value !== "object" || value === null || Array.isArray(value)) throw new Error("expected a JSON object");
  return value as Record<string, unknown>;
}

/** A logger that writes JSON lines, as in Lambda (INFO and above). */
export function jsonLogger(): Logger {
  return new Logger({ serviceName: "s3-fanout", logLevel: "INFO" });
}

/**
 * Runs `work` and returns the JSON lines written meanwhile: Powertools Logger
 * prints INFO to stdout and WARN/ERROR to stderr (Lambda sends both to
 * CloudWatch Logs), Metrics prints EMF to stdout. Other output passes through.
 */
export async function captureJsonLines<T>(work: () => Promise<T>): Promise<{ result: T; lines: Record<string, unknown>[] }> {
  const lines: Record<string, unknown>[] = [];
  const streams = [process.stdout, process.stderr];
  const writes = streams.map((stream) => stream.write);
  streams.forEach((stream, i) => {
    const write = writes[i] as typeof stream.write;
    stream.write = ((chunk: string | Uint8Array, ...rest: unknown[]) => {
      const text = typeof chunk === "string" ? chunk : Buffer.from(chunk).toString("utf8");
      let parsed = 0;
      for (const line of text.split("\n")) {
        if (!line.startsWith("{")) continue;
        try {
          lines.push(parseJsonObject(line));
          parsed++;
        } catch {
          // not one of ours
        }
      }
      return parsed > 0 ? true : write.call(stream, chunk, ...(rest as []));
    }) as typeof stream.write;
  });
  try {
    return { result: await work(), lines };
  } finally {
    streams.forEach((stream, i) => {
      stream.write = writes[i] as typeof stream.write;
    });
  }
}
