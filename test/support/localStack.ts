/**
 * The stack on the emulator, as operator-command tests see it: the local
 * stack running in this process, its outputs in a temp file of the shape
 * `cdk deploy --outputs-file` writes, and the commands run as child
 * processes exactly as an operator runs them.
 */
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { writeFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { decodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { type LocalStack, type LocalStackOptions, startLocalStack } from "../../scripts/local/stack.ts";
import type { TestEmulator } from "./emulator.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));

export interface CommandRun {
  readonly code: number | null;
  readonly stdout: string;
  readonly stderr: string;
  /** performance.now() when this process saw the child exit. */
  readonly exitedAt: number;
}

/**
 * Runs `scripts/<command>.ts` with Node and tsx from the project root, pointed at `endpoint`;
 * `onStderr` sees the stderr written so far each time more arrives.
 */
export function runOperator(
  command: string,
  args: readonly string[],
  endpoint: string,
  onStderr: (text: string) => void = () => undefined,
): Promise<CommandRun> {
  const env: NodeJS.ProcessEnv = { ...process.env, AWS_ENDPOINT_URL: endpoint };
  delete env.S3_FANOUT_DEBUG;
  return new Promise((resolve, reject) => {
    // `local` from its bundle, as `npm run local` runs it (scripts/bundled.mjs); the rest through tsx, as npm runs them.
    const entry = command === "local" ? ["scripts/bundled.mjs", "local"] : ["--import", "tsx", `scripts/${command}.ts`];
    const child = spawn(process.execPath, [...entry, ...args], {
      cwd: ROOT,
      env,
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let stderr = "";
    let exitedAt = 0;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      stderr += d.toString();
      onStderr(stderr);
    });
    child.on("error", reject);
    child.on("exit", () => {
      exitedAt = performance.now();
    });
    child.on("close", (code) => resolve({ code, stdout, stderr, exitedAt }));
  });
}

/** Lines an operator would read on stderr, without Node's experimental-feature notices. */
export function stderrLines(run: CommandRun): string[] {
  return run.stderr.split("\n").filter((l) => l.trim() !== "" && !l.includes("ExperimentalWarning") && !l.includes("--trace-warnings"));
}

/** One clear line, "error: ...", and nothing that looks like a stack trace. */
export function assertOneLineError(run: CommandRun, pattern: RegExp): void {
  const lines = stderrLines(run);
  assert.equal(lines.length, 1, `expected one line on stderr, got:\n${run.stderr}`);
  assert.match(lines[0] ?? "", /^error: /);
  assert.match(lines[0] ?? "", pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

/** The difference lines `verify` prints: [kind, key]. */
export function verifyDifferences(stdout: string): [string, string][] {
  return stdout
    .trim()
    .split("\n")
    .filter((l) => l.includes("\t"))
    .map((l) => {
      const [kind, key] = l.split("\t");
      return [kind ?? "", JSON.parse(key ?? '""') as string];
    });
}

/** The last stdout line, parsed as the one JSON object `--json` promises. */
export function lastJson(run: CommandRun): Record<string, unknown> {
  const last = run.stdout.trim().split("\n").at(-1) ?? "";
  const value: unknown = JSON.parse(last);
  assert.ok(typeof value === "object" && value !== null && !Array.isArray(value), `not a JSON object: ${last}`);
  return value as Record<string, unknown>;
}

export interface TestStack {
  readonly stack: LocalStack;
  /** The outputs file every command gets as `--outputs`. */
  readonly outputsFile: string;
  stop(): Promise<void>;
}

let stacks = 0;

/** Starts the local stack under a name unique within the run and writes its outputs to `dir`. */
export async function startTestStack(
  emulator: TestEmulator,
  dir: string,
  options: Omit<LocalStackOptions, "s3" | "sqs" | "stackName"> = {},
): Promise<TestStack> {
  stacks++;
  const stackName = `OpStack-${process.pid}-${stacks}`;
  const stack = await startLocalStack({ s3: emulator.s3, sqs: emulator.sqs, stackName, logLevel: "SILENT", ...options });
  const outputsFile = join(dir, `${stackName}-outputs.json`);
  writeFileSync(outputsFile, `${JSON.stringify(stack.outputs(), null, 2)}\n`);
  return { stack, outputsFile, stop: () => stack.stop() };
}

/** Every key in a bucket (under `prefix`), decoded, in listing order. */
export async function listKeys(s3: S3Client, bucket: string, prefix = ""): Promise<string[]> {
  const keys: string[] = [];
  let token: string | undefined;
  do {
    const out = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, EncodingType: "url" }));
    for (const c of out.Contents ?? []) if (c.Key !== undefined) keys.push(decodeS3ListKey(c.Key));
    token = out.IsTruncated ? out.NextContinuationToken : undefined;
  } while (token);
  return keys;
}

export const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** Polls `check` until it returns a value, or throws with `what` after `limitMs` (a hang guard, not an assertion on speed). */
export async function waitFor<T>(what: string, check: () => Promise<T | undefined>, limitMs = 90_000, everyMs = 200): Promise<T> {
  const until = Date.now() + limitMs;
  for (;;) {
    const value = await check();
    if (value !== undefined) return value;
    if (Date.now() > until) throw new Error(`gave up waiting for ${what}`);
    await sleep(everyMs);
  }
}
