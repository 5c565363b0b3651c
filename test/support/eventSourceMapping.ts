/**
 * Lambda's SQS event source mapping, for the rehearsal: pollers receive up to
 * the mapping's BatchSize (the queue's own visibility timeout applies), hand
 * the batch to an execution environment of the function as an SQS event, and
 * delete only the messages that succeeded. With ReportBatchItemFailures, the
 * records named in batchItemFailures are left in the queue; a thrown or
 * timed-out invocation, or a response naming a record not in the batch,
 * fails the whole batch. What is left is SQS's to handle: visible again
 * after the visibility timeout, moved to the DLQ after maxReceiveCount.
 *
 * Each poller owns one environment and reuses it while it lives (a warm
 * start), starting a fresh one (a cold start) when it has none or it died.
 */
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { SQSEvent, SQSRecord } from "aws-lambda";
import type { FunctionSpec, SqsEventSourceSpec } from "./emulatedDeployment.ts";
import { LambdaInstance, type LogLine } from "./lambdaSandbox.ts";

export interface InvocationRecord {
  readonly functionName: string;
  readonly requestId: string;
  readonly coldStart: boolean;
  readonly messageIds: readonly string[];
  /** Each record's receipt handle and receive count, as the event carried them. */
  readonly receipts: readonly { readonly messageId: string; readonly receiptHandle: string; readonly receiveCount: number }[];
  /** Records the function reported failed (left for SQS to deliver again). */
  readonly failedIds: readonly string[];
  /** The invocation failed as a whole (threw, timed out, or answered with an unknown record): nothing deleted. */
  readonly wholeBatchFailed: boolean;
  readonly error?: string;
  readonly deleted: number;
}

export interface EventSourceMappingOptions {
  readonly sqs: SQSClient;
  readonly region: string;
  /** AWS_ENDPOINT_URL of the function's environments. */
  readonly endpoint: string;
  /**
   * Pollers (and so environments) at most: the mapping's MaximumConcurrency bounds it too. This machine
   * cannot run 50 environments; the semantics do not depend on how many run.
   */
  readonly localConcurrency: number;
  readonly onLog?: (line: LogLine) => void;
  /** Long-poll wait; Lambda's pollers wait 20 s, a short one lets the rehearsal stop promptly. @default 1 */
  readonly waitTimeSeconds?: number;
}

export class SqsEventSourceMapping {
  readonly invocations: InvocationRecord[] = [];
  /** Every environment started, in order: each one is a cold start. */
  readonly environments: LambdaInstance[] = [];
  private readonly abort = new AbortController();
  private workers: Promise<void>[] = [];
  private readonly errors: unknown[] = [];
  private running = 0;

  constructor(
    readonly spec: SqsEventSourceSpec,
    readonly fn: FunctionSpec,
    private readonly options: EventSourceMappingOptions,
  ) {}

  /** Invocations in progress (their records not yet deleted or left). */
  get inFlight(): number {
    return this.running;
  }

  get concurrency(): number {
    return Math.max(1, Math.min(this.options.localConcurrency, this.spec.maximumConcurrency ?? Number.POSITIVE_INFINITY));
  }

  start(): void {
    if (!this.spec.enabled) return;
    for (let i = 0; i < this.concurrency; i++) this.workers.push(this.poll());
  }

  /** Stops polling; invocations in progress finish; then every environment is ended. Rejects with the first poller error. */
  async stop(): Promise<void> {
    this.abort.abort();
    await Promise.all(this.workers);
    await Promise.all(this.environments.map((e) => e.stop()));
    if (this.errors.length > 0) throw this.errors[0];
  }

  private async poll(): Promise<void> {
    let environment: LambdaInstance | undefined;
    while (!this.abort.signal.aborted) {
      const messages = await this.receive();
      if (messages.length === 0) continue;
      let coldStart = false;
      if (environment === undefined || !environment.alive) {
        try {
          environment = await LambdaInstance.start({
            fn: this.fn,
            region: this.options.region,
            endpoint: this.options.endpoint,
            onLog: this.options.onLog,
          });
        } catch (err) {
          // An environment that cannot load its module fails every invocation (Runtime.ImportModuleError).
          this.errors.push(err);
          this.abort.abort();
          return;
        }
        this.environments.push(environment);
        coldStart = true;
      }
      this.running++;
      try {
        await this.invoke(environment, messages, coldStart);
      } finally {
        this.running--;
      }
    }
  }

  /** Up to BatchSize messages, gathering for the batching window when it has one. */
  private async receive(): Promise<Message[]> {
    const { batchSize, maximumBatchingWindowSeconds } = this.spec;
    const until = Date.now() + maximumBatchingWindowSeconds * 1000;
    const messages: Message[] = [];
    do {
      try {
        const out = await this.options.sqs.send(
          new ReceiveMessageCommand({
            QueueUrl: this.spec.queue.url,
            MaxNumberOfMessages: Math.min(10, batchSize - messages.length),
            WaitTimeSeconds: this.options.waitTimeSeconds ?? 1,
            MessageSystemAttributeNames: ["All"],
            MessageAttributeNames: ["All"],
          }),
          { abortSignal: this.abort.signal },
        );
        messages.push(...(out.Messages ?? []));
      } catch (err) {
        if (this.abort.signal.aborted) break;
        this.errors.push(err);
        await new Promise((resolve) => setTimeout(resolve, 500));
      }
    } while (messages.length < batchSize && Date.now() < until && !this.abort.signal.aborted);
    return messages;
  }

  private async invoke(environment: LambdaInstance, messages: Message[], coldStart: boolean): Promise<void> {
    const event: SQSEvent = { Records: messages.map((m) => this.record(m)) };
    const ids = new Set(messages.map((m) => m.MessageId ?? ""));
    const result = await environment.invoke(event);
    let failed = new Set<string>();
    let wholeBatchFailed = !result.ok;
    if (result.ok && this.spec.reportBatchItemFailures) {
      const reported = (result.value as { batchItemFailures?: { itemIdentifier?: unknown }[] } | null)?.batchItemFailures ?? [];
      const named = reported.map((f) => f.itemIdentifier);
      // Lambda fails the whole batch when a reported identifier is empty or not one of the batch's.
      if (named.some((id) => typeof id !== "string" || !ids.has(id))) wholeBatchFailed = true;
      else failed = new Set(named as string[]);
    }
    if (wholeBatchFailed) failed = ids;
    const done = messages.filter((m) => !failed.has(m.MessageId ?? ""));
    const deleted = await this.delete(done);
    this.invocations.push({
      functionName: this.fn.name,
      requestId: result.requestId,
      coldStart,
      messageIds: [...ids],
      receipts: messages.map((m) => ({
        messageId: m.MessageId ?? "",
        receiptHandle: m.ReceiptHandle ?? "",
        receiveCount: Number(m.Attributes?.ApproximateReceiveCount ?? 0),
      })),
      failedIds: [...failed],
      wholeBatchFailed,
      deleted,
      ...(result.error ? { error: `${result.error.errorType}: ${result.error.errorMessage}` } : {}),
    });
  }

  private async delete(messages: Message[]): Promise<number> {
    let deleted = 0;
    for (let i = 0; i < messages.length; i += 10) {
      const chunk = messages.slice(i, i + 10);
      const out = await this.options.sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: this.spec.queue.url,
          Entries: chunk.map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? "" })),
        }),
      );
      deleted += out.Successful?.length ?? 0;
    }
    return deleted;
  }

  /** A record as Lambda's SQS poller writes it. */
  private record(m: Message): SQSRecord {
    const a = m.Attributes ?? {};
    const attributes: SQSRecord["attributes"] = {
      ApproximateReceiveCount: a.ApproximateReceiveCount ?? "1",
      SentTimestamp: a.SentTimestamp ?? "",
      SenderId: a.SenderId ?? "",
      ApproximateFirstReceiveTimestamp: a.ApproximateFirstReceiveTimestamp ?? "",
      ...(a.AWSTraceHeader === undefined ? {} : { AWSTraceHeader: a.AWSTraceHeader }),
      ...(a.MessageGroupId === undefined ? {} : { MessageGroupId: a.MessageGroupId }),
      ...(a.SequenceNumber === undefined ? {} : { SequenceNumber: a.SequenceNumber }),
      ...(a.MessageDeduplicationId === undefined ? {} : { MessageDeduplicationId: a.MessageDeduplicationId }),
    };
    const messageAttributes: SQSRecord["messageAttributes"] = Object.fromEntries(
      Object.entries(m.MessageAttributes ?? {}).map(([name, v]) => [
        name,
        {
          dataType: v.DataType ?? "String",
          ...(v.StringValue === undefined ? {} : { stringValue: v.StringValue }),
          ...(v.BinaryValue === undefined ? {} : { binaryValue: Buffer.from(v.BinaryValue).toString("base64") }),
          stringListValues: [],
          binaryListValues: [],
        },
      ]),
    );
    return {
      messageId: m.MessageId ?? "",
      receiptHandle: m.ReceiptHandle ?? "",
      body: m.Body ?? "",
      attributes,
      messageAttributes,
      md5OfBody: m.MD5OfBody ?? "",
      eventSource: "aws:sqs",
      eventSourceARN: this.spec.queue.arn,
      awsRegion: this.options.region,
    };
  }
}
