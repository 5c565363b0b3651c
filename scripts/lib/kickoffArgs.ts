/**
 * The kickoff command's options, parsed in one place: by `kickoff` itself, and at synth time for
 * `-c scheduledJob="--source … --dest … --sync …"` (the stack refuses a bad one with this parser's
 * one-line error, so a schedule can never start a job kickoff would refuse).
 */
import { UsageError } from "../../lambdas/core/errors.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import type { S3Location } from "../../lambdas/core/messages.ts";
import { JOB_OPTION_FLAGS, jobOptionsFromArgs, parseCommandArgs } from "./cli.ts";
import { DEPLOYMENT_OPTIONS, MANIFEST_FLAGS, type ManifestRequest, manifestFromArgs } from "./operator.ts";
import { parseJobLocations } from "./s3url.ts";

export const KICKOFF_FLAGS = {
  ...DEPLOYMENT_OPTIONS,
  ...JOB_OPTION_FLAGS,
  ...MANIFEST_FLAGS,
  source: { type: "string" },
  dest: { type: "string" },
  "job-id": { type: "string" },
} as const;

/** What a job start needs, from kickoff's argv (or a scheduled job's). */
export interface KickoffRequest {
  readonly source: S3Location;
  readonly destination: S3Location;
  readonly jobId?: string | undefined;
  readonly options?: JobOptions | undefined;
  readonly manifest?: ManifestRequest | undefined;
}

export function parseKickoffArgs(argv: readonly string[]) {
  return parseCommandArgs([...argv], KICKOFF_FLAGS);
}

/** The job a kickoff argv describes; throws UsageError with one line. */
export function kickoffRequestOf(args: ReturnType<typeof parseKickoffArgs>): KickoffRequest {
  const { source, destination } = parseJobLocations(args);
  const jobId = args["job-id"];
  if (jobId !== undefined && !/^[A-Za-z0-9_-]{1,64}$/.test(jobId)) throw new UsageError("--job-id must be 1-64 of A-Z a-z 0-9 _ -");
  return { source, destination, jobId, options: jobOptionsFromArgs(args), manifest: manifestFromArgs(args) };
}

/** Flags that say where the operator's deployment is: meaningless inside a scheduled job. */
const DEPLOYMENT_ONLY = ["outputs", "stack", "endpoint", "region", "json", "help", "job-id"] as const;

/**
 * A scheduled (or live) job's definition, given as one string of kickoff flags. Each run gets a
 * fresh job id, so --job-id is refused, as are the flags that only locate a deployment.
 */
export function parseJobDefinition(text: string, what = "scheduledJob"): KickoffRequest {
  let args: ReturnType<typeof parseKickoffArgs>;
  try {
    args = parseKickoffArgs(splitArgs(text));
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
  for (const flag of DEPLOYMENT_ONLY) {
    const value = (args as Record<string, unknown>)[flag];
    if (value !== undefined && value !== false) throw new UsageError(`${what}: --${flag} has no meaning in a job definition`);
  }
  try {
    return kickoffRequestOf(args);
  } catch (err) {
    throw new UsageError(`${what}: ${(err as Error).message}`);
  }
}

/** Splits a command line as a POSIX shell would for plain words and '…' or "…" quoting (no expansion). */
export function splitArgs(text: string): string[] {
  const out: string[] = [];
  let word: string | undefined;
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const c = text[i] as string;
    if (quote !== undefined) {
      if (c === quote) quote = undefined;
      else if (c === "\\" && quote === '"' && (text[i + 1] === '"' || text[i + 1] === "\\")) word = (word ?? "") + text[++i];
      else word = (word ?? "") + c;
    } else if (c === "'" || c === '"') {
      quote = c;
      word ??= "";
    } else if (/\s/.test(c)) {
      if (word !== undefined) out.push(word);
      word = undefined;
    } else if (c === "\\" && i + 1 < text.length) word = (word ?? "") + text[++i];
    else word = (word ?? "") + c;
  }
  if (quote !== undefined) throw new UsageError(`unterminated ${quote} quote`);
  if (word !== undefined) out.push(word);
  return out;
}
