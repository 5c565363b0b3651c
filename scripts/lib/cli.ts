/** Shared plumbing of the operator commands: argument errors, exit codes, output. */
import { type ParseArgsConfig, parseArgs } from "node:util";
import { MAX_PART_BYTES, MIN_PART_BYTES, parseSize } from "../../lambdas/core/copyPlan.ts";
import { S3FanoutError, UsageError } from "../../lambdas/core/errors.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";

/** Exit codes: 0 done, 1 the job or check failed, 2 bad usage, 3 could not run (endpoint, access). */
export const EXIT = { ok: 0, failed: 1, usage: 2, error: 3 } as const;

export function parseCommandArgs<T extends NonNullable<ParseArgsConfig["options"]>>(args: string[], options: T) {
  try {
    return parseArgs({ args, options, strict: true, allowPositionals: false }).values;
  } catch (err) {
    const message = err instanceof Error ? err.message.split("\n")[0] : String(err);
    throw new UsageError(`${message} (see --help)`);
  }
}

export function positiveInt(value: string | undefined, name: string, fallback: number): number {
  if (value === undefined) return fallback;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--${name} must be a positive integer, got "${value}"`);
  return n;
}

export function endpointUrl(value: string | undefined): string | undefined {
  const endpoint = value ?? process.env.AWS_ENDPOINT_URL;
  if (endpoint === undefined || endpoint === "") return undefined;
  let url: URL;
  try {
    url = new URL(endpoint);
  } catch {
    throw new UsageError(`--endpoint must be a URL such as http://127.0.0.1:4566, got "${endpoint}"`);
  }
  if (url.protocol !== "http:" && url.protocol !== "https:") throw new UsageError(`--endpoint must be http(s), got "${endpoint}"`);
  return endpoint;
}

/** Runs a command's main: one clear line on stderr and a non-zero exit on error, never a stack trace. */
export async function runCommand(main: () => Promise<number>): Promise<void> {
  try {
    process.exitCode = await main();
  } catch (err) {
    if (err instanceof UsageError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = EXIT.usage;
    } else if (err instanceof S3FanoutError) {
      process.stderr.write(`error: ${err.message}\n`);
      process.exitCode = EXIT.error;
    } else {
      const info = errorInfo(err);
      process.stderr.write(`error: ${info.code}: ${info.message}\n`);
      if (process.env.S3_FANOUT_DEBUG) process.stderr.write(`${err instanceof Error ? err.stack : ""}\n`);
      process.exitCode = EXIT.error;
    }
  }
}

/** The job options every job-starting command takes: --multipart-threshold and --part-size. */
export const JOB_OPTION_FLAGS = {
  "multipart-threshold": { type: "string" },
  "part-size": { type: "string" },
} as const;

export const JOB_OPTION_USAGE = `  --multipart-threshold SIZE  copy objects above SIZE by parts (default 64MiB; always above 5GiB)
  --part-size SIZE            bytes per part, 5MiB-5GiB (default 64MiB; grown to fit 10,000 parts)`;

export function jobOptionsFromArgs(args: {
  "multipart-threshold"?: string | undefined;
  "part-size"?: string | undefined;
}): JobOptions | undefined {
  const options: { multipartThreshold?: number; partSize?: number } = {};
  if (args["multipart-threshold"] !== undefined)
    options.multipartThreshold = parseSize(args["multipart-threshold"], "--multipart-threshold");
  if (args["part-size"] !== undefined) {
    const partSize = parseSize(args["part-size"], "--part-size");
    if (partSize < MIN_PART_BYTES || partSize > MAX_PART_BYTES)
      throw new UsageError(`--part-size must be from 5MiB to 5GiB, got "${args["part-size"]}"`);
    options.partSize = partSize;
  }
  return Object.keys(options).length > 0 ? options : undefined;
}
