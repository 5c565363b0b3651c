/**
 * What a copy costs in Lambda: the bundled copy function (from cdk.out, in a
 * fresh execution environment as test/support/lambdaSandbox.ts makes one)
 * invoked warm with real copy-queue messages, batched as its event source
 * mapping delivers them, against the emulator. A job is started as kickoff
 * starts one; the bundled list function lists it, which fills the copy queue;
 * then the copy function takes one message (its cold start, left out) and
 * every other message in batches of the mapping's BatchSize. CPU is the
 * environment's process (user + sys, every thread) during each invocation,
 * measured inside it: what Lambda would bill if no copy waited on S3.
 *
 * Also here: `measureBundles`, which synthesizes the app once for both this
 * and the cold starts (scripts/bench/coldStart.ts).
 */
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { DeleteMessageBatchCommand, type Message, ReceiveMessageCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { parseCopyBody } from "../../lambdas/core/messages.ts";
import { deploymentContext, readStack, synthesize } from "../../test/support/cloudAssembly.ts";
import { deployToEmulator, type EmulatedQueue, type FunctionSpec } from "../../test/support/emulatedDeployment.ts";
import { type InvocationResult, LambdaInstance } from "../../test/support/lambdaSandbox.ts";
import { deploymentFromOutputs } from "../lib/deployment.ts";
import { connect, kickoff } from "../lib/operator.ts";
import { ensureBucket, mapLimit } from "../lib/seed.ts";
import { type FunctionColdStart, measureColdStarts, sqsEvent } from "./coldStart.ts";
import { benchKey } from "./dataset.ts";
import { round } from "./requests.ts";

/** Where the measured job's objects live, in the template's source and destination buckets (a cold start's keys sit at the root). */
const PREFIX = "lambda-cost/";

/** Lambda gives a function one vCPU's worth of CPU at 1,769 MB, in proportion below (Lambda guide, "Configuring function memory"). */
export const MB_PER_VCPU = 1769;

export interface LambdaCostOptions {
  readonly endpoint: string;
  readonly cdkOut: string;
  /** Objects to seed and copy, the cold invocation's included. */
  readonly objects: number;
  /** Bytes per object. @default 1024 */
  readonly size?: number;
  readonly progress: (line: string) => void;
}

export interface CopyCost {
  readonly logicalId: string;
  readonly runtime: string;
  /** MemorySize of the copy function in the template. */
  readonly memoryMb: number;
  /** BatchSize of its event source mapping: messages per invocation at most. */
  readonly batchSize: number;
  /** COPY_CONCURRENCY of its environment: copies in flight per invocation. */
  readonly copyConcurrency: number | null;
  readonly objectsSeeded: number;
  /** Objects the measured (warm) invocations copied; the cold one's are not among them. */
  readonly objectsCopied: number;
  /** Warm invocations measured. */
  readonly invocations: number;
  /** Messages they took, and keys per message on average. */
  readonly messages: number;
  readonly keysPerMessage: number;
  /** Records the function returned as failed (0 when every copy went through). */
  readonly failedRecords: number;
  /** CPU of the environment's process during the warm invocations, ms, and per copied object. */
  readonly cpuMs: number;
  readonly copyCpuMsPerObject: number;
  /** Handler time of the warm invocations, ms: the emulator answers at once, so this is CPU-bound, not S3's. */
  readonly wallMs: number;
  readonly copyWallMsPerInvocation: number;
  readonly copyWallMsPerObject: number;
  /** The first invocation of the fresh environment (one message): its cold start, left out of the figures above. */
  readonly coldInvocation: { readonly objects: number; readonly ms: number; readonly cpuMs: number };
  /** Every seeded object is in the destination afterwards (else the measurement fails: a figure of a copy that lost objects means nothing). */
  readonly complete: boolean;
  readonly destinationObjects: number;
  /** Share of a vCPU Lambda gives a function of this memory (1 from 1,769 MB). */
  readonly vcpuShare: number;
  /**
   * GB-seconds per million objects if the copies were CPU-bound at this memory: CPU ms per object over the
   * vCPU share, times the memory. A lower bound: copies that wait on S3 add their wait.
   */
  readonly cpuBoundGbSecondsPerMillionObjects: number;
}

/** Seeds the objects, starts a job, lists it with the list bundle, then copies it with the copy bundle and measures the copies. */
export async function measureCopyCost(options: LambdaCostOptions): Promise<CopyCost> {
  const { progress } = options;
  const work = mkdtempSync(join(tmpdir(), "s3-fanout-lambda-cost-"));
  const s3 = createS3Client({ endpoint: options.endpoint, maxSockets: 64 });
  const sqs = createSqsClient({ endpoint: options.endpoint });
  try {
    const stack = readStack(options.cdkOut);
    const deployment = await deployToEmulator(stack, { s3, sqs }, `cost${process.pid}`);
    const outputsFile = join(work, "cdk-outputs.json");
    writeFileSync(outputsFile, JSON.stringify({ [stack.stackName]: deployment.outputs() }));
    const outputs = deploymentFromOutputs({ [stack.stackName]: deployment.outputs() });
    const from = outputs.sourceBuckets[0] ?? "bench-cost-src";
    const to = outputs.destinationBuckets[0] ?? "bench-cost-dst";
    const fnNamed = (name: string): FunctionSpec => {
      const fn = deployment.functions.find((f) => f.name === name);
      if (fn?.codeDir === undefined) throw new Error(`Lambda cost: no bundled function ${name} in ${options.cdkOut}`);
      return fn;
    };
    const sourceOf = (fn: FunctionSpec) => {
      const mapping = deployment.eventSources.find((e) => e.functionLogicalId === fn.logicalId);
      if (mapping === undefined) throw new Error(`Lambda cost: no SQS event source invokes ${fn.logicalId}`);
      return mapping;
    };
    const list = fnNamed(outputs.listFunctionName);
    const copy = fnNamed(outputs.copyFunctionName);

    progress(`bench: Lambda cost: seeding ${options.objects} objects into s3://${from}/${PREFIX}`);
    await ensureBucket(s3, from);
    await ensureBucket(s3, to);
    const body = Buffer.alloc(options.size ?? 1024, "s3-fanout bench ");
    await mapLimit(
      Array.from({ length: options.objects }, (_, i) => `${PREFIX}${benchKey(i)}`),
      64,
      (key) => s3.send(new PutObjectCommand({ Bucket: from, Key: key, Body: body, ContentType: "application/octet-stream" })),
    );
    const c = await connect({ outputs: outputsFile, endpoint: options.endpoint });
    try {
      await kickoff(c, { bucket: from, prefix: PREFIX }, { bucket: to, prefix: PREFIX });
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
    }

    // The listing, as the list function's mapping would drive it, until its queue is empty: the copy queue then holds every batch.
    const listQueue = sourceOf(list).queue;
    const lister = await LambdaInstance.start({ fn: list, region: deployment.region, endpoint: options.endpoint });
    try {
      for (;;) {
        const batch = await receiveBatch(sqs, listQueue, sourceOf(list).batchSize);
        if (batch.length === 0) break;
        const result = await lister.invoke(sqsEvent(batch, listQueue));
        const failed = failedIds(result);
        if (failed.size > 0) throw new Error(`Lambda cost: the list function failed: ${describeFailure(result)}`);
        await deleteMessages(sqs, listQueue, batch);
      }
    } finally {
      await lister.stop();
    }

    const mapping = sourceOf(copy);
    const copyQueue = mapping.queue;
    progress(`bench: Lambda cost: copying with the copy bundle, ${mapping.batchSize} messages an invocation, warm`);
    const environment = await LambdaInstance.start({ fn: copy, region: deployment.region, endpoint: options.endpoint });
    let coldInvocation: CopyCost["coldInvocation"] | undefined;
    let objectsCopied = 0;
    let messages = 0;
    let invocations = 0;
    let failedRecords = 0;
    let cpuMs = 0;
    let wallMs = 0;
    try {
      for (;;) {
        // The environment's first invocation takes one message, as the cold start's does; the rest come a full batch at a time.
        const batch = await receiveBatch(sqs, copyQueue, coldInvocation === undefined ? 1 : mapping.batchSize);
        if (batch.length === 0) break;
        const result = await environment.invoke(sqsEvent(batch, copyQueue));
        if (!result.ok) throw new Error(`Lambda cost: the copy function failed: ${describeFailure(result)}`);
        const failed = failedIds(result);
        const keys = batch.filter((m) => !failed.has(m.MessageId ?? "")).reduce((n, m) => n + parseCopyBody(m.Body ?? "").items.length, 0);
        await deleteMessages(
          sqs,
          copyQueue,
          batch.filter((m) => !failed.has(m.MessageId ?? "")),
        );
        if (coldInvocation === undefined) {
          coldInvocation = { objects: keys, ms: round(result.ms, 1), cpuMs: round(result.cpuMs, 1) };
          continue;
        }
        invocations++;
        messages += batch.length;
        objectsCopied += keys;
        failedRecords += failed.size;
        cpuMs += result.cpuMs;
        wallMs += result.ms;
      }
    } finally {
      await environment.stop();
    }

    const destinationObjects = await countUnder(s3, to, PREFIX);
    const vcpuShare = Math.min(1, copy.memoryMb / MB_PER_VCPU);
    const cpuPerObject = objectsCopied === 0 ? 0 : cpuMs / objectsCopied;
    const cost: CopyCost = {
      logicalId: copy.logicalId,
      runtime: copy.runtime,
      memoryMb: copy.memoryMb,
      batchSize: mapping.batchSize,
      copyConcurrency: copy.environment.COPY_CONCURRENCY === undefined ? null : Number(copy.environment.COPY_CONCURRENCY),
      objectsSeeded: options.objects,
      objectsCopied,
      invocations,
      messages,
      keysPerMessage: messages === 0 ? 0 : round(objectsCopied / messages, 1),
      failedRecords,
      cpuMs: round(cpuMs, 1),
      copyCpuMsPerObject: round(cpuPerObject, 4),
      wallMs: round(wallMs, 1),
      copyWallMsPerInvocation: invocations === 0 ? 0 : round(wallMs / invocations, 1),
      copyWallMsPerObject: objectsCopied === 0 ? 0 : round(wallMs / objectsCopied, 4),
      coldInvocation: coldInvocation ?? { objects: 0, ms: 0, cpuMs: 0 },
      complete: destinationObjects === options.objects && failedRecords === 0,
      destinationObjects,
      vcpuShare: round(vcpuShare, 4),
      // ms per object x 10^6 objects / 1000 = seconds per million objects, over the vCPU share, times GB.
      cpuBoundGbSecondsPerMillionObjects: round(((cpuPerObject * 1000) / vcpuShare) * (copy.memoryMb / 1024), 1),
    };
    if (!cost.complete) {
      throw new Error(
        `Lambda cost: ${destinationObjects} of ${options.objects} objects copied, ${failedRecords} records failed (the copy function's log says why)`,
      );
    }
    progress(
      `bench: Lambda cost: ${cost.copyCpuMsPerObject} CPU ms per copied object, ${cost.copyWallMsPerInvocation} ms per invocation ` +
        `(${objectsCopied} objects, ${invocations} warm invocations, ${cost.memoryMb} MB)`,
    );
    return cost;
  } finally {
    s3.destroy();
    sqs.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

export interface BundleOptions {
  readonly endpoint: string;
  /** A cloud assembly to reuse; synthesized once into a temp directory when absent. */
  readonly cdkOut: string | undefined;
  readonly coldStartRuns: number;
  /** Objects for the Lambda cost; undefined skips it. */
  readonly lambdaCostObjects: number | undefined;
  readonly progress: (line: string) => void;
}

/** The cold starts, then the copy function's cost, of one cloud assembly (synthesized once for both). */
export async function measureBundles(
  options: BundleOptions,
): Promise<{ coldStarts: Record<string, FunctionColdStart>; lambdaCost: CopyCost | undefined }> {
  const work = options.cdkOut === undefined ? mkdtempSync(join(tmpdir(), "s3-fanout-bundles-")) : undefined;
  try {
    let cdkOut = options.cdkOut;
    if (work !== undefined) {
      cdkOut = join(work, "cdk.out");
      options.progress("bench: synthesizing the app");
      await synthesize(cdkOut, deploymentContext(`bench-cold-src-${process.pid}`, `bench-cold-dst-${process.pid}`));
    }
    const coldStarts = await measureColdStarts({
      endpoint: options.endpoint,
      cdkOut,
      runs: options.coldStartRuns,
      progress: options.progress,
    });
    const lambdaCost =
      options.lambdaCostObjects === undefined || cdkOut === undefined
        ? undefined
        : await measureCopyCost({ endpoint: options.endpoint, cdkOut, objects: options.lambdaCostObjects, progress: options.progress });
    return { coldStarts, lambdaCost };
  } finally {
    if (work !== undefined) rmSync(work, { recursive: true, force: true });
  }
}

/** The `lambda` object of the bench's JSON line: the copy function's cost, each bundle's cold start beside it. */
export function lambdaJson(cost: CopyCost | undefined, coldStarts: Record<string, FunctionColdStart> | undefined) {
  if (cost === undefined) return null;
  return {
    ...cost,
    coldStartMs: coldStarts === undefined ? null : Object.fromEntries(Object.entries(coldStarts).map(([name, c]) => [name, c.coldStartMs])),
  };
}

/** The copy function's cost in the human report. */
export function reportLambdaCost(cost: CopyCost): void {
  const lines = [
    `Lambda cost of a copy (the copy bundle, warm, ${cost.batchSize} messages an invocation, ${cost.copyConcurrency ?? "?"} copies in flight, no added latency):`,
    `  ${cost.copyCpuMsPerObject} CPU ms per copied object, ${cost.copyWallMsPerInvocation} ms per invocation ` +
      `(${cost.objectsCopied} objects in ${cost.invocations} invocations of ${cost.keysPerMessage} keys a message; ` +
      `cold invocation left out: ${cost.coldInvocation.objects} objects, ${cost.coldInvocation.ms} ms)`,
    `  at ${cost.memoryMb} MB (${cost.vcpuShare} vCPU): at least ${cost.cpuBoundGbSecondsPerMillionObjects} GB-s per million objects, ` +
      `more where copies wait on S3; every one of ${cost.objectsSeeded} objects copied`,
  ];
  process.stdout.write(`${lines.join("\n")}\n`);
}

/** Up to `size` messages, gathered over several receives (SQS returns at most 10, often fewer), as the mapping's poller does. */
async function receiveBatch(sqs: SQSClient, queue: EmulatedQueue, size: number): Promise<Message[]> {
  const messages: Message[] = [];
  while (messages.length < size) {
    const out = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queue.url,
        MaxNumberOfMessages: Math.min(10, size - messages.length),
        // A short wait only while the batch is still empty: the queue is filled before the first receive.
        WaitTimeSeconds: messages.length === 0 ? 1 : 0,
        MessageSystemAttributeNames: ["All"],
      }),
    );
    const got = out.Messages ?? [];
    if (got.length === 0) break;
    messages.push(...got);
  }
  return messages;
}

/** The records a partial batch response names as failed. */
function failedIds(result: InvocationResult): Set<string> {
  const failures = (result.value as { batchItemFailures?: { itemIdentifier?: string }[] } | null | undefined)?.batchItemFailures ?? [];
  return new Set(failures.map((f) => f.itemIdentifier ?? ""));
}

function describeFailure(result: InvocationResult): string {
  return result.ok ? `records failed: ${JSON.stringify(result.value)}` : `${result.error?.errorType}: ${result.error?.errorMessage}`;
}

async function deleteMessages(sqs: SQSClient, queue: EmulatedQueue, messages: readonly Message[]): Promise<void> {
  for (let i = 0; i < messages.length; i += 10) {
    const entries = messages.slice(i, i + 10).map((m, j) => ({ Id: String(j), ReceiptHandle: m.ReceiptHandle ?? "" }));
    const out = await sqs.send(new DeleteMessageBatchCommand({ QueueUrl: queue.url, Entries: entries }));
    if ((out.Failed ?? []).length > 0) throw new Error(`Lambda cost: could not delete ${out.Failed?.length} messages from ${queue.name}`);
  }
}

async function countUnder(s3: S3Client, bucket: string, prefix: string): Promise<number> {
  let n = 0;
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    n += out.KeyCount ?? (out.Contents ?? []).length;
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return n;
}
