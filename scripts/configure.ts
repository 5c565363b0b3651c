/**
 * npm run configure -- --source-bucket NAME[,NAME] --destination-bucket NAME[,NAME] [options] [--json]
 * Keeps the deployment's settings in cdk.context.json, the CDK CLI's own context file, so that
 * `npx cdk deploy`, `diff` and `destroy` find them without -c. The settings are checked by building
 * the stack as synth does (lib/app.ts) before anything is written. With no settings: prints them.
 */
import { mkdtempSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { App } from "aws-cdk-lib";
import { ConfigError, UsageError } from "../lambdas/core/errors.ts";
import { DEFAULT_STACK_NAME, stackFromContext } from "../lib/app.ts";
import { CONTEXT_KEYS, type ContextKey } from "../lib/context.ts";
import { EXIT, parseCommandArgs, runCommand } from "./lib/cli.ts";

type Kind = "list" | "text" | "integer";

/** Every context key the app reads, as configure takes it: --flag is the key in kebab case. */
const SETTINGS: Record<ContextKey, { readonly kind: Kind; readonly arg: string; readonly help: string }> = {
  sourceBucket: { kind: "list", arg: "NAMES", help: "buckets to copy from, comma-separated (IAM is scoped to exactly these)" },
  destinationBucket: { kind: "list", arg: "NAMES", help: "buckets to copy to, comma-separated" },
  sourceKmsKeyArn: { kind: "text", arg: "ARN", help: "KMS key ARN of SSE-KMS source objects (default: no kms grant)" },
  destinationKmsKeyArn: { kind: "text", arg: "ARN", help: "KMS key ARN the copies are written with (default: no kms grant)" },
  ledgerBucket: { kind: "text", arg: "NAME", help: "an existing bucket for the ledger (default: the stack creates one)" },
  ledgerKmsKeyArn: {
    kind: "text",
    arg: "ARN",
    help: "KMS key ARN of the existing ledger bucket, or the key a created one encrypts with (default: SSE-S3)",
  },
  manifestBucket: { kind: "list", arg: "NAMES", help: "buckets holding manifests the list function may read (default: none)" },
  listMaxConcurrency: { kind: "integer", arg: "N", help: "concurrent list invocations at most, 2-1000 (default 10)" },
  copyMaxConcurrency: { kind: "integer", arg: "N", help: "concurrent copy invocations at most, 2-1000 (default 50)" },
  copyConcurrency: { kind: "integer", arg: "N", help: "copies in flight per copy invocation (default 64)" },
  alarmEmail: { kind: "text", arg: "ADDR", help: "address every alarm notifies, through SNS (default: none)" },
  schedule: { kind: "text", arg: "EXPR", help: "when scheduledJob starts: rate(1 day), cron(...), at(...) (default: no schedule)" },
  scheduledJob: {
    kind: "text",
    arg: "FLAGS",
    help: 'kickoff flags of the scheduled job: --scheduled-job="--source s3://A/P --dest s3://B/P --sync"',
  },
  allowDelete: { kind: "text", arg: "true|false", help: "let sync jobs with --delete delete destination objects (default false)" },
  live: { kind: "text", arg: "true|false", help: "keep the destination current from the source's S3 events (default false)" },
  liveDelete: { kind: "text", arg: "true|false", help: "live changes delete keys the source no longer has (default false)" },
  liveJob: {
    kind: "text",
    arg: "FLAGS",
    help: 'the job live changes follow: --live-job="--source s3://A/P --dest s3://B/Q" (default: scheduledJob)',
  },
  stackName: { kind: "text", arg: "NAME", help: `the CloudFormation stack's name (default ${DEFAULT_STACK_NAME})` },
};

const flagOf = (key: string) => key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`);
const keyOfFlag = new Map<string, ContextKey>(CONTEXT_KEYS.flatMap((key) => [[flagOf(key), key] as const, [key, key] as const]));

const repoRoot = new URL("../", import.meta.url);
const DEFAULT_FILE = fileURLToPath(new URL("cdk.context.json", repoRoot));

const USAGE = `usage: npm run configure -- --source-bucket NAMES --destination-bucket NAMES [settings] [--json]
       npm run configure [-- --show] [--json]     print the settings kept, change nothing
  Keeps the deployment's settings in cdk.context.json (the CDK CLI's own context file; other keys
  in it are left alone), so that npx cdk deploy, diff and destroy need no -c. A -c on the command
  line still wins for that run. Settings given are merged into those kept; the result is checked
  as cdk synth checks it before anything is written.
${CONTEXT_KEYS.map((key) => `  --${`${flagOf(key)} ${SETTINGS[key].arg}`.padEnd(30)}${SETTINGS[key].help}`).join("\n")}
  --unset NAME                    drop a kept setting (e.g. --unset alarm-email); repeatable
  --show                          print the settings kept (also the default with no settings given)
  --context-file FILE             (default: cdk.context.json beside cdk.json)
  --json                          last stdout line: {"file","changed","settings"}`;

type Settings = Partial<Record<ContextKey, unknown>>;

function readContextFile(file: string): Record<string, unknown> {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === "ENOENT") return {};
    throw err;
  }
  let parsed: unknown;
  try {
    parsed = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`${file} is not JSON (${err instanceof Error ? err.message : String(err)}); fix or delete it`);
  }
  if (typeof parsed !== "object" || parsed === null || Array.isArray(parsed)) throw new ConfigError(`${file} must hold a JSON object`);
  return parsed as Record<string, unknown>;
}

/** The value kept for one setting given on the command line: lists as arrays, counts as numbers. */
function settingValue(key: ContextKey, raw: string): unknown {
  const flag = `--${flagOf(key)}`;
  const value = raw.trim();
  if (value === "") throw new UsageError(`${flag} needs a value; --unset ${flagOf(key)} drops a kept one`);
  switch (SETTINGS[key].kind) {
    case "list": {
      const items = value
        .split(",")
        .map((item) => item.trim())
        .filter((item) => item !== "");
      if (items.length === 0) throw new UsageError(`${flag} needs at least one name, got "${raw}"`);
      return items;
    }
    case "integer":
      if (!/^\d+$/.test(value)) throw new UsageError(`${flag} must be a whole number, got "${raw}"`);
      return Number(value);
    case "text":
      return value;
  }
}

/** The feature flags of cdk.json, so that the check builds the stack as `cdk synth` does. */
function cdkJsonContext(): Record<string, unknown> {
  const cdkJson = JSON.parse(readFileSync(new URL("cdk.json", repoRoot), "utf8")) as { context?: Record<string, unknown> };
  return cdkJson.context ?? {};
}

/** Builds the stack from these settings in a throwaway app (no bundling, nothing written): throws what synth would. */
function check(settings: Settings): void {
  for (const key of ["sourceBucket", "destinationBucket"] as const) {
    if (settings[key] === undefined) throw new UsageError(`--${flagOf(key)} is required: no ${key} is kept yet`);
  }
  const outdir = mkdtempSync(join(tmpdir(), "s3-fanout-configure-"));
  try {
    const app = new App({ outdir, context: { ...cdkJsonContext(), ...settings, "aws:cdk:bundling-stacks": [] } });
    stackFromContext(app);
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  } finally {
    rmSync(outdir, { recursive: true, force: true });
  }
}

const show = (value: unknown) => (Array.isArray(value) ? value.join(",") : String(value));

function describe(file: string, settings: Settings): string {
  const lines = CONTEXT_KEYS.map((key) => `  ${key.padEnd(22)}${settings[key] === undefined ? "(not set)" : show(settings[key])}`);
  return `settings in ${file}:\n${lines.join("\n")}\n`;
}

async function main(): Promise<number> {
  const settingFlags = Object.fromEntries(CONTEXT_KEYS.map((key) => [flagOf(key), { type: "string" as const }]));
  const args = parseCommandArgs(process.argv.slice(2), {
    ...settingFlags,
    unset: { type: "string", multiple: true },
    show: { type: "boolean", default: false },
    "context-file": { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const values = args as Record<string, string | string[] | boolean | undefined>;
  const file = args["context-file"] ?? DEFAULT_FILE;
  const given = CONTEXT_KEYS.filter((key) => values[flagOf(key)] !== undefined);
  const unset = (args.unset ?? []).map((name) => {
    const key = keyOfFlag.get(name.replace(/^--/, ""));
    if (key === undefined) throw new UsageError(`--unset takes a setting such as alarm-email, got "${name}"`);
    if (given.includes(key)) throw new UsageError(`--unset ${flagOf(key)} contradicts --${flagOf(key)}`);
    return key;
  });
  if (args.show && (given.length > 0 || unset.length > 0)) throw new UsageError("--show changes nothing: give it alone");

  const context = readContextFile(file);
  const kept: Settings = Object.fromEntries(CONTEXT_KEYS.filter((key) => context[key] !== undefined).map((key) => [key, context[key]]));
  if (given.length === 0 && unset.length === 0) {
    process.stdout.write(describe(file, kept));
    if (Object.keys(kept).length === 0) {
      process.stderr.write("not configured: npm run configure -- --source-bucket SRC --destination-bucket DST\n");
    }
    if (args.json) process.stdout.write(`${JSON.stringify({ file, changed: [], settings: kept })}\n`);
    return EXIT.ok;
  }

  const settings: Settings = { ...kept };
  for (const key of given) settings[key] = settingValue(key, String(values[flagOf(key)]));
  for (const key of unset) delete settings[key];
  // Dropping every setting leaves an unconfigured checkout, which needs no check.
  if (Object.keys(settings).length > 0) check(settings);

  const next: Record<string, unknown> = { ...context };
  for (const key of CONTEXT_KEYS) delete next[key];
  Object.assign(next, settings);
  const temporary = `${file}.${process.pid}.tmp`;
  writeFileSync(temporary, `${JSON.stringify(next, null, 2)}\n`);
  renameSync(temporary, file);

  const changed = [...given, ...unset];
  process.stdout.write(describe(file, settings));
  process.stderr.write(
    Object.keys(settings).length > 0
      ? "next: npx cdk deploy --outputs-file cdk-outputs.json (npx cdk bootstrap first, once per account and region)\n"
      : "no settings kept: the app is unconfigured again\n",
  );
  if (args.json) process.stdout.write(`${JSON.stringify({ file, changed, settings })}\n`);
  return EXIT.ok;
}

await runCommand(main);
