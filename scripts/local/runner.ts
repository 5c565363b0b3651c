/**
 * A local stand-in for Lambda's SQS event source mapping: long-polls a queue,
 * hands batches to a handler with a Lambda-like context and deadline, and
 * deletes only the messages the handler did not report as failed. Visibility
 * timeouts and DLQ redrive are left to the SQS server, as on AWS. Unlike
 * Lambda's, it can keep a batch invisible while its invocation runs (a
 * heartbeat), so that the queue's visibility timeout can be short.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import type { Context, SQSEvent, SQSRecord } from "aws-lambda";
import type { SqsBatchHandler } from "../../lambdas/sqsBatch.ts";

export interface EventSourceOptions {
  readonly sqs: SQSClient;
  readonly queueUrl: string;
  readonly queueArn: string;
  readonly handler: SqsBatchHandler;
  /**
   * Builds the handler of one instance, once per concurrent invocation: as
   * each Lambda instance has its own module scope (the copy function's
   * limiter among it), so each local invocation slot gets its own. Without
   * it every slot shares `handler`.
   */
  readonly instance?: () => SqsBatchHandler;
  readonly functionName: string;
  /** Messages per invocation, 1-10. */
  readonly batchSize: number;
  /** Concurrent invocations (Lambda's maximum concurrency). */
  readonly concurrency: number;
  /** The invocation's timeout: the context's deadline. */
  readonly timeoutMs: number;
  /** Long-poll wait. @default 1 */
  readonly waitTimeSeconds?: number;
  /**
   * Keeps each batch invisible while its invocation runs, however long: the
   * queue's visibility timeout can then be short, and a message whose
   * consumer vanished (a receive whose answer was lost after SQS acted, a
   * crash) comes back after that short timeout. Without it, the queue's
   * visibility timeout alone holds a batch, as on Lambda.
   */
  readonly heartbeat?: HeartbeatOptions;
  readonly onError?: (where: string, err: unknown) => void;
}

export interface HeartbeatOptions {
  /** Each beat makes the batch invisible this long again: the queue's visibility timeout, whole seconds. */
  readonly visibilityTimeoutSeconds: number;
  /** Between beats. @default a third of the visibility timeout: a beat can fail and the next still lands in time */
  readonly intervalMs?: number;
}

export interface RunnerStats {
  invocations: number;
  messages: number;
  failedMessages: number;
  timeouts: number;
  errors: number;
  /** ChangeMessageVisibilityBatch requests made by heartbeats, and those that failed (left to the next beat). */
  heartbeats: number;
  heartbeatFailures: number;
}

export class InvocationTimeoutError extends Error {
  constructor(ms: number) {
    super(`invocation timed out after ${ms} ms`);
    this.name = "InvocationTimeoutError";
  }
}

export class EventSourceRunner {
  readonly stats: RunnerStats = {
    invocations: 0,
    messages: 0,
    failedMessages: 0,
    timeouts: 0,
    errors: 0,
    heartbeats: 0,
    heartbeatFailures: 0,
  };
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];

  constructor(private readonly options: EventSourceOptions) {
    if (options.batchSize < 1 || options.batchSize > 10) throw new RangeError("batchSize must be 1-10");
    const visibility = options.heartbeat?.visibilityTimeoutSeconds;
    if (visibility !== undefined && !(Number.isInteger(visibility) && visibility >= 1 && visibility <= 43_200))
      throw new RangeError("heartbeat visibilityTimeoutSeconds must be a whole number of seconds, 1-43200");
  }

  start(): void {
    for (let i = 0; i < this.options.concurrency; i++) this.workers.push(this.work(i, this.options.instance?.() ?? this.options.handler));
  }

  /** Stops polling; invocations in progress finish (as on Lambda). */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.workers);
  }

  private async work(worker: number, handler: SqsBatchHandler): Promise<void> {
    const { sqs, queueUrl } = this.options;
    let errorStreak = 0;
    while (!this.abort.signal.aborted) {
      let messages: Message[];
      try {
        const out = await sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: queueUrl,
            MaxNumberOfMessages: this.options.batchSize,
            WaitTimeSeconds: this.options.waitTimeSeconds ?? 1,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: this.abort.signal },
        );
        messages = out.Messages ?? [];
        errorStreak = 0;
      } catch (err) {
        if (this.abort.signal.aborted) return;
        this.stats.errors++;
        this.options.onError?.("receive", err);
        await delay(Math.min(5_000, 100 * 2 ** errorStreak++));
        continue;
      }
      if (messages.length > 0) await this.invoke(worker, handler, messages);
    }
  }

  private async invoke(worker: number, handler: SqsBatchHandler, messages: Message[]): Promise<void> {
    const { timeoutMs } = this.options;
    const deadline = Date.now() + timeoutMs;
    const event: SQSEvent = { Records: messages.map((m) => sqsRecord(m, this.options.queueArn)) };
    this.stats.invocations++;
    this.stats.messages += messages.length;
    const stopHeartbeat = this.heartbeat(messages);
    let failed: Set<string>;
    try {
      const response = await withDeadline(handler(event, this.context(worker, deadline)), deadline, timeoutMs);
      failed = new Set((response?.batchItemFailures ?? []).map((f) => f.itemIdentifier));
    } catch (err) {
      // A thrown error or a timeout fails the whole batch, as on Lambda.
      if (err instanceof InvocationTimeoutError) this.stats.timeouts++;
      this.options.onError?.("invoke", err);
      failed = new Set(messages.map((m) => m.MessageId ?? ""));
    } finally {
      // The invocation is over (returned, threw or timed out): its failed messages come back after the visibility timeout.
      await stopHeartbeat();
    }
    this.stats.failedMessages += failed.size;
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ""));
    if (done.length > 0) await this.delete(done);
  }

  /**
   * Beats until the returned function is called, which resolves once no beat
   * is in flight. A failed beat (a fault, an entry SQS refused) is only
   * counted: the next one tries again.
   */
  private heartbeat(messages: Message[]): () => Promise<void> {
    const beat = this.options.heartbeat;
    if (beat === undefined) return async () => undefined;
    const intervalMs = beat.intervalMs ?? (beat.visibilityTimeoutSeconds * 1000) / 3;
    const entries = messages.map((m, i) => ({
      Id: String(i),
      ReceiptHandle: m.ReceiptHandle ?? "",
      VisibilityTimeout: beat.visibilityTimeoutSeconds,
    }));
    let stopped = false;
    let timer: NodeJS.Timeout | undefined;
    let inFlight: Promise<void> = Promise.resolve();
    const next = () => {
      timer = setTimeout(() => {
        inFlight = this.beat(entries, intervalMs).then(() => {
          if (!stopped) next();
        });
      }, intervalMs);
    };
    next();
    return async () => {
      stopped = true;
      clearTimeout(timer);
      await inFlight;
    };
  }

  private async beat(entries: { Id: string; ReceiptHandle: string; VisibilityTimeout: number }[], intervalMs: number): Promise<void> {
    this.stats.heartbeats++;
    try {
      // A beat that hangs must not hold the next one past the visibility window: it gives up after one interval.
      const out = await this.options.sqs.send(
        new ChangeMessageVisibilityBatchCommand({ QueueUrl: this.options.queueUrl, Entries: entries }),
        { abortSignal: AbortSignal.timeout(intervalMs) },
      );
      const refused = out.Failed ?? [];
      if (refused.length > 0) {
        this.stats.heartbeatFailures++;
        this.options.onError?.("heartbeat", new Error(`visibility not extended: ${refused.map((f) => f.Code).join(", ")}`));
      }
    } catch (err) {
      this.stats.heartbeatFailures++;
      this.options.onError?.("heartbeat", err);
    }
  }

  private async delete(messages: Message[]): Promise<void> {
    const entries = messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" }));
    for (let tryNo = 0; tryNo < 5; tryNo++) {
      try {
        const out = await this.options.sqs.send(new DeleteMessageBatchCommand({ QueueUrl: this.options.queueUrl, Entries: entries }));
        if ((out.Failed ?? []).length === 0) return;
      } catch (err) {
        this.options.onError?.("delete", err);
      }
      await delay(100 * 2 ** tryNo);
    }
    // Undeleted messages come back after their visibility timeout: a duplicate, not a loss.
    this.stats.errors++;
  }

  private context(worker: number, deadline: number): Context {
    const name = this.options.functionName;
    const requestId = `local-${name}-${worker}-${this.stats.invocations}`;
    return {
      callbackWaitsForEmptyEventLoop: false,
      functionName: name,
      functionVersion: "$LATEST",
      invokedFunctionArn: `arn:aws:lambda:local:000000000000:function:${name}`,
      memoryLimitInMB: "1024",
      awsRequestId: requestId,
      logGroupName: `/aws/lambda/${name}`,
      logStreamName: `local/${worker}`,
      getRemainingTimeInMillis: () => Math.max(0, deadline - Date.now()),
      done: () => undefined,
      fail: () => undefined,
      succeed: () => undefined,
    };
  }
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms));
}

/** Races the handler against its deadline; the late promise is left to finish on its own. */
async function withDeadline<T>(work: Promise<T>, deadline: number, timeoutMs: number): Promise<T> {
  work.catch(() => undefined); // a late rejection must not crash the process
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new InvocationTimeoutError(timeoutMs)), Math.max(0, deadline - Date.now()));
  });
  try {
    return await Promise.race([work, timeout]);
  } finally {
    clearTimeout(timer);
  }
}

/** A received message as Lambda's SQS event source hands it to the function (the bench's sandboxes use it too). */
export function sqsRecord(m: Message, queueArn: string): SQSRecord {
  const attrs = m.Attributes ?? {};
  return {
    messageId: m.MessageId ?? "",
    receiptHandle: m.ReceiptHandle ?? "",
    body: m.Body ?? "",
    attributes: {
      ApproximateReceiveCount: attrs.ApproximateReceiveCount ?? "1",
      SentTimestamp: attrs.SentTimestamp ?? String(Date.now()),
      SenderId: attrs.SenderId ?? "local",
      ApproximateFirstReceiveTimestamp: attrs.ApproximateFirstReceiveTimestamp ?? String(Date.now()),
    },
    messageAttributes: {},
    md5OfBody: m.MD5OfBody ?? "",
    eventSource: "aws:sqs",
    eventSourceARN: queueArn,
    awsRegion: queueArn.split(":")[3] ?? "us-east-1",
  };
}
