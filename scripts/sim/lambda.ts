/**
 * A model of a Lambda function behind an SQS event source mapping: pollers
 * that long-poll the queue and scale as AWS documents, warm instances reused
 * and cold ones started, a Lambda context whose getRemainingTimeInMillis
 * reads the virtual clock, the function timeout (an instance past it is
 * frozen: its requests never answer, its batch returns after the visibility
 * timeout), partial batch responses, and the billed duration. Each instance
 * builds its own handler from the real factory, as a Lambda environment does.
 */
import type { Context, SQSBatchResponse, SQSEvent } from "aws-lambda";
import type { SqsBatchHandler } from "../../lambdas/sqsBatch.ts";
import type { Random, VirtualClock } from "./clock.ts";
import { LAMBDA_MODEL, SQS_MODEL } from "./model.ts";
import type { Received, SimQueue, SqsCounts } from "./sqs.ts";

const never = new Promise<never>(() => undefined);

/** One execution environment: its handler, whether it still runs, and its CPU (one request's client work at a time). */
export class Instance {
  alive = true;
  private cpuFreeAt = 0;
  handler: SqsBatchHandler | undefined;

  constructor(
    private readonly clock: VirtualClock,
    readonly id: number,
  ) {}

  /** A port call made by this instance: once it is frozen (timed out) nothing it asked for answers. */
  async guard<T>(call: () => Promise<T>): Promise<T> {
    if (!this.alive) return never;
    try {
      const value = await call();
      if (!this.alive) return never;
      return value;
    } catch (err) {
      if (!this.alive) return never;
      throw err;
    }
  }

  /** Waits for `ms` of this instance's CPU (queued behind its other work). */
  cpu(ms: number): Promise<void> {
    const now = this.clock.now();
    this.cpuFreeAt = Math.max(now, this.cpuFreeAt) + ms;
    return this.clock.sleep(this.cpuFreeAt - now);
  }
}

export interface FunctionStats {
  invocations: number;
  coldStarts: number;
  timeouts: number;
  errors: number;
  billedMs: number;
  inFlight: number;
  peakInFlight: number;
  /** Pollers the event source runs now (its scaling). */
  pollers: number;
}

export interface FunctionOptions {
  readonly name: string;
  readonly timeoutMs: number;
  readonly batchSize: number;
  /** The event source's maximum concurrency. */
  readonly maxConcurrency: number;
  /** Builds an instance's handler (its ports guarded by the instance). */
  readonly build: (instance: Instance) => SqsBatchHandler;
}

export class SimFunction {
  readonly stats: FunctionStats = {
    invocations: 0,
    coldStarts: 0,
    timeouts: 0,
    errors: 0,
    billedMs: 0,
    inFlight: 0,
    peakInFlight: 0,
    pollers: 0,
  };
  private readonly warm: Instance[] = [];
  private instances = 0;
  private cap: number;
  private readonly max: number;
  stopped = false;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Random,
    private readonly queue: SimQueue,
    private readonly sqs: SqsCounts,
    private readonly options: FunctionOptions,
  ) {
    this.max = Math.min(LAMBDA_MODEL.maxConcurrency, options.maxConcurrency);
    this.cap = Math.min(this.max, LAMBDA_MODEL.initialConcurrency);
  }

  start(): void {
    for (let i = 0; i < this.cap; i++) void this.poll();
    const step = 60_000 / LAMBDA_MODEL.scaleUpPerMinute;
    const scale = () => {
      if (this.stopped) return;
      // "If messages are still available, Lambda increases the number of processes that are reading batches."
      if (this.queue.depth > 0 && this.cap < this.max) {
        this.cap++;
        void this.poll();
      }
      this.clock.after(step, scale);
    };
    this.clock.after(step, scale);
  }

  private async poll(): Promise<void> {
    this.stats.pollers++;
    while (!this.stopped) {
      const messages = await this.queue.receive(this.options.batchSize, SQS_MODEL.longPollMs);
      this.sqs.receive++;
      if (messages.length === 0) {
        this.sqs.emptyReceive++;
        this.sqs.receiveBilled++;
        continue;
      }
      this.sqs.receiveBilled += billed(messages.reduce((n, m) => n + Buffer.byteLength(m.body), 0));
      await this.clock.sleep(this.random.latency(SQS_MODEL.request));
      await this.invoke(messages);
    }
  }

  private async invoke(messages: readonly Received[]): Promise<void> {
    const { stats } = this;
    stats.invocations++;
    stats.inFlight++;
    stats.peakInFlight = Math.max(stats.peakInFlight, stats.inFlight);
    const started = this.clock.now();
    let instance = this.warm.pop();
    if (instance === undefined) {
      stats.coldStarts++;
      instance = new Instance(this.clock, ++this.instances);
      await this.clock.sleep(this.random.latency(LAMBDA_MODEL.coldStart));
      instance.handler = this.options.build(instance);
    } else await this.clock.sleep(this.random.latency(LAMBDA_MODEL.invokeOverhead));
    const handler = instance.handler as SqsBatchHandler;
    const deadline = this.clock.now() + this.options.timeoutMs;
    const requestId = `${this.options.name}-${stats.invocations}`;
    const context = lambdaContext(this.options, requestId, () => deadline - this.clock.now());
    const event: SQSEvent = { Records: messages.map((m) => sqsRecord(m)) };
    const outcome = await runUntil(this.clock, deadline, () => handler(event, context));
    stats.billedMs += Math.ceil(this.clock.now() - started);
    stats.inFlight--;
    if (outcome === "timeout") {
      // Lambda ends the environment: whatever it had in flight never answers; the batch waits out its visibility.
      stats.timeouts++;
      instance.alive = false;
      return;
    }
    this.warm.push(instance);
    if (outcome === "error") {
      stats.errors++;
      return; // the whole batch comes back after its visibility timeout
    }
    const failed = new Set(outcome.batchItemFailures.map((f) => f.itemIdentifier));
    const done = messages.filter((m) => !failed.has(m.messageId));
    if (done.length === 0) return;
    this.sqs.delete += Math.ceil(done.length / 10);
    await this.clock.sleep(this.random.latency(SQS_MODEL.request));
    for (const m of done) this.queue.delete(m.receiptHandle);
  }
}

/** The handler's answer, "error" when it threw, or "timeout" when the deadline came first. */
function runUntil(
  clock: VirtualClock,
  deadline: number,
  run: () => Promise<SQSBatchResponse>,
): Promise<SQSBatchResponse | "timeout" | "error"> {
  return new Promise((resolve) => {
    // The timer is called off when the handler answers, so a finished invocation's event is not held until its deadline.
    const timer = clock.at(deadline, () => resolve("timeout"));
    run().then(
      (response) => {
        timer.cancel();
        resolve(response);
      },
      () => {
        timer.cancel();
        resolve("error");
      },
    );
  });
}

export function billed(payloadBytes: number): number {
  return Math.max(1, Math.ceil(payloadBytes / SQS_MODEL.billedChunkBytes));
}

function sqsRecord(m: Received): SQSEvent["Records"][number] {
  return {
    messageId: m.messageId,
    receiptHandle: m.receiptHandle,
    body: m.body,
    attributes: {
      ApproximateReceiveCount: String(m.receiveCount),
      SentTimestamp: String(Math.floor(m.sentAt)),
      SenderId: "SIMULATED",
      ApproximateFirstReceiveTimestamp: String(Math.floor(m.firstReceiveAt)),
    },
    messageAttributes: {},
    md5OfBody: "",
    eventSource: "aws:sqs",
    eventSourceARN: "arn:aws:sqs:us-east-1:000000000000:simulated",
    awsRegion: "us-east-1",
  };
}

function lambdaContext(options: FunctionOptions, awsRequestId: string, remaining: () => number): Context {
  return {
    callbackWaitsForEmptyEventLoop: false,
    functionName: options.name,
    functionVersion: "$LATEST",
    invokedFunctionArn: `arn:aws:lambda:us-east-1:000000000000:function:${options.name}`,
    memoryLimitInMB: String(LAMBDA_MODEL.memoryMb),
    awsRequestId,
    logGroupName: `/aws/lambda/${options.name}`,
    logStreamName: "simulated",
    getRemainingTimeInMillis: () => Math.max(0, remaining()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}
