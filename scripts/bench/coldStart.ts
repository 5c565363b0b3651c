/**
 * Cold start of each bundled function, as Lambda would pay it: the app
 * synthesized (or a cdk.out given), its queues and buckets created on the
 * emulator from the template, then, for each bundle, a fresh execution
 * environment (test/support/lambdaSandbox.ts: the asset copied to a new
 * directory, a Node process with the template's environment) that loads the
 * handler module and takes its first invocation: a real message of the
 * function's own queue, from a job started as kickoff starts one (the list
 * function lists a range of a small bucket, the copy function copies the
 * batch that listing emitted). Cold start = module load + first invocation,
 * both timed inside the environment; the median of several fresh ones.
 */
import { mkdtempSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type Message, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import type { SQSEvent } from "aws-lambda";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { deploymentContext, readStack, synthesize } from "../../test/support/cloudAssembly.ts";
import { deployToEmulator, type EmulatedQueue, type FunctionSpec } from "../../test/support/emulatedDeployment.ts";
import { handlerFile, LambdaInstance } from "../../test/support/lambdaSandbox.ts";
import { deploymentFromOutputs } from "../lib/deployment.ts";
import { connect, kickoff } from "../lib/operator.ts";
import { ensureBucket, putObjects, seedObject } from "../lib/seed.ts";
import { sqsRecord } from "../local/runner.ts";
import { round } from "./requests.ts";

export interface ColdStartSample {
  /** Loading the handler module (the bundle, its source map, its imports). */
  readonly importMs: number;
  /** The first invocation, in the same environment. */
  readonly firstInvocationMs: number;
  /** Module load + first invocation: the figure judged. */
  readonly coldStartMs: number;
  /** CPU time of the same two steps: what contention for the machine's cores does not inflate. */
  readonly coldStartCpuMs: number;
  /** From spawning the process to the module loaded: Node's own start-up too, which Lambda's runtime pays before the module. */
  readonly processToReadyMs: number;
}

export interface FunctionColdStart {
  readonly logicalId: string;
  readonly runtime: string;
  readonly bundleBytes: number;
  readonly sourceMapBytes: number | null;
  readonly nodeOptions: string | null;
  /** Median of the samples, ms. */
  readonly coldStartMs: number;
  readonly importMs: number;
  readonly firstInvocationMs: number;
  readonly coldStartCpuMs: number;
  readonly samples: readonly ColdStartSample[];
}

export interface ColdStartOptions {
  readonly endpoint: string;
  /** A cloud assembly to reuse; synthesized into a temp directory when absent. */
  readonly cdkOut?: string | undefined;
  /** Fresh environments per function. */
  readonly runs: number;
  readonly progress: (line: string) => void;
}

const median = (values: readonly number[]) => [...values].sort((a, b) => a - b)[Math.floor((values.length - 1) / 2)] ?? 0;

const sizeOf = (file: string): number | null => {
  try {
    return statSync(file).size;
  } catch {
    return null;
  }
};

/** Cold starts by function: "list" and "copy" (the stack's outputs name them), any other bundle by its logical id. */
export async function measureColdStarts(options: ColdStartOptions): Promise<Record<string, FunctionColdStart>> {
  const work = mkdtempSync(join(tmpdir(), "s3-fanout-cold-"));
  const s3 = createS3Client({ endpoint: options.endpoint });
  const sqs = createSqsClient({ endpoint: options.endpoint });
  const suffix = `cold${process.pid}`;
  const source = `bench-cold-src-${process.pid}`;
  const destination = `bench-cold-dst-${process.pid}`;
  try {
    let cdkOut = options.cdkOut;
    if (cdkOut === undefined) {
      cdkOut = join(work, "cdk.out");
      options.progress("bench: cold start: synthesizing the app");
      await synthesize(cdkOut, deploymentContext(source, destination));
    }
    const stack = readStack(cdkOut);
    const deployment = await deployToEmulator(stack, { s3, sqs }, suffix);
    const outputsFile = join(work, "cdk-outputs.json");
    writeFileSync(outputsFile, JSON.stringify({ [stack.stackName]: deployment.outputs() }));
    const outputs = deploymentFromOutputs({ [stack.stackName]: deployment.outputs() });
    // A reused cdk.out names its own buckets: the job runs between them.
    const from = outputs.sourceBuckets[0] ?? source;
    const to = outputs.destinationBuckets[0] ?? destination;
    await ensureBucket(s3, from);
    await ensureBucket(s3, to);
    // A key starting with each printable ASCII character and a few beyond: whichever range the list function gets has keys to emit.
    const keys = [...Array.from({ length: 94 }, (_, i) => `${String.fromCharCode(0x21 + i)}-key`), "é-key", "日本-key", "😀-key"];
    await putObjects(s3, from, keys.map(seedObject));
    const c = await connect({ outputs: outputsFile, endpoint: options.endpoint });
    try {
      await kickoff(c, { bucket: from, prefix: "" }, { bucket: to, prefix: "" });
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
    }

    const roleOf = (fn: FunctionSpec) =>
      fn.name === outputs.listFunctionName ? "list" : fn.name === outputs.copyFunctionName ? "copy" : fn.logicalId;
    // The list function first: its invocation fills the copy queue the copy function's event comes from.
    const bundled = deployment.functions
      .filter((f) => f.codeDir !== undefined)
      .sort((a, b) => Number(roleOf(b) === "list") - Number(roleOf(a) === "list"));
    const results: Record<string, FunctionColdStart> = {};
    for (const fn of bundled) {
      const role = roleOf(fn);
      const queue = deployment.eventSources.find((e) => e.functionLogicalId === fn.logicalId)?.queue;
      if (queue === undefined) continue; // only functions driven by SQS have a first invocation to give here
      const received = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: queue.url,
          MaxNumberOfMessages: 1,
          WaitTimeSeconds: 5,
          MessageSystemAttributeNames: ["All"],
        }),
      );
      const message = received.Messages?.[0];
      if (message === undefined) throw new Error(`cold start of ${role}: no message in ${queue.name} to invoke it with`);
      const event = sqsEvent([message], queue);
      const samples: ColdStartSample[] = [];
      for (let i = 0; i < options.runs; i++) {
        // Each run a fresh environment, invoked with the same message: its work is idempotent.
        const environment = await LambdaInstance.start({ fn, region: deployment.region, endpoint: options.endpoint });
        try {
          const result = await environment.invoke(event);
          if (!result.ok) throw new Error(`cold start of ${role}: ${result.error?.errorType}: ${result.error?.errorMessage}`);
          samples.push({
            importMs: round(environment.ready.importMs, 1),
            firstInvocationMs: round(result.ms, 1),
            coldStartMs: round(environment.ready.importMs + result.ms, 1),
            coldStartCpuMs: round(environment.ready.importCpuMs + result.cpuMs, 1),
            processToReadyMs: round(environment.startMs, 1),
          });
        } finally {
          await environment.stop();
        }
      }
      const bundle = handlerFile(fn.codeDir ?? "", fn.handler);
      results[role] = {
        logicalId: fn.logicalId,
        runtime: fn.runtime,
        bundleBytes: bundle === undefined ? 0 : (sizeOf(bundle) ?? 0),
        sourceMapBytes: bundle === undefined ? null : sizeOf(`${bundle}.map`),
        nodeOptions: fn.environment.NODE_OPTIONS ?? null,
        coldStartMs: round(median(samples.map((s) => s.coldStartMs)), 1),
        importMs: round(median(samples.map((s) => s.importMs)), 1),
        firstInvocationMs: round(median(samples.map((s) => s.firstInvocationMs)), 1),
        coldStartCpuMs: round(median(samples.map((s) => s.coldStartCpuMs)), 1),
        samples,
      };
      options.progress(
        `bench: cold start of ${role}: ${results[role].coldStartMs} ms (import ${results[role].importMs} + first invocation ${results[role].firstInvocationMs}), ` +
          `CPU ${results[role].coldStartCpuMs} ms, median of ${options.runs}; bundle ${round((results[role].bundleBytes ?? 0) / 1024, 0)} KiB`,
      );
    }
    return results;
  } finally {
    s3.destroy();
    sqs.destroy();
    rmSync(work, { recursive: true, force: true });
  }
}

/** An SQS event as Lambda's event source mapping hands these received messages to the function. */
export function sqsEvent(messages: readonly Message[], queue: EmulatedQueue): SQSEvent {
  return { Records: messages.map((m) => sqsRecord(m, queue.arn)) };
}
