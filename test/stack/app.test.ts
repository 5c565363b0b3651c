/**
 * The app as the CDK CLI runs it, and `npm run configure`: what a fresh clone's `npx cdk synth`
 * does, that configured settings reach the CLI without -c, and that bad settings fail with one line.
 * Every CLI run happens in a temporary project (its own cdk.json, cdk.context.json and cdk.out) whose
 * app command runs bin/app.ts from the repository, so the repository's own files are never touched.
 */
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, test } from "node:test";
import { fileURLToPath } from "node:url";
import { promisify } from "node:util";
import type { Construct } from "constructs";
import { NOT_CONFIGURED_STAGE } from "../../lib/app.ts";
import { CONTEXT_KEYS, stackPropsFromContext } from "../../lib/context.ts";

const run = promisify(execFile);
const repo = fileURLToPath(new URL("../../", import.meta.url));
const cdkBin = join(repo, "node_modules", "aws-cdk", "bin", "cdk");
const tsxBin = join(repo, "node_modules", ".bin", "tsx");
const repoContextFile = join(repo, "cdk.context.json");
const repoContextExisted = existsSync(repoContextFile);
const quote = (text: string) => `'${text.replace(/'/g, `'\\''`)}'`;

const dirs: string[] = [];
after(() => {
  for (const dir of dirs) rmSync(dir, { recursive: true, force: true });
});

/** A temporary CDK project: the repository's cdk.json (feature flags), its app run from the repository, output kept here. */
function project(): string {
  const dir = mkdtempSync(join(tmpdir(), "s3-fanout-app-"));
  dirs.push(dir);
  const cdkJson = JSON.parse(readFileSync(join(repo, "cdk.json"), "utf8")) as Record<string, unknown>;
  // The app runs in the repository (NodejsFunction finds package-lock.json from the working directory);
  // an absolute output keeps its cloud assembly here, not in the repository's cdk.out.
  const app = `cd ${quote(repo)} && ${quote(tsxBin)} bin/app.ts`;
  writeFileSync(join(dir, "cdk.json"), JSON.stringify({ ...cdkJson, app, output: join(dir, "cdk.out") }));
  return dir;
}

interface Result {
  readonly code: number;
  readonly stdout: string;
  readonly stderr: string;
}

async function exec(file: string, args: string[], options: { cwd: string; env?: NodeJS.ProcessEnv }): Promise<Result> {
  const env = {
    ...process.env,
    CDK_DISABLE_VERSION_CHECK: "1",
    CDK_DISABLE_CLI_TELEMETRY: "true",
    AWS_EC2_METADATA_DISABLED: "true",
    ...options.env,
  };
  try {
    const { stdout, stderr } = await run(file, args, { cwd: options.cwd, env, timeout: 180_000, maxBuffer: 64 * 1024 * 1024 });
    return { code: 0, stdout, stderr };
  } catch (err) {
    const failed = err as { code?: unknown; stdout?: string; stderr?: string };
    if (typeof failed.code !== "number") throw err;
    return { code: failed.code, stdout: failed.stdout ?? "", stderr: failed.stderr ?? "" };
  }
}

const cdk = (dir: string, ...args: string[]) => exec(process.execPath, [cdkBin, ...args, "--no-notices"], { cwd: dir });
const configure = (...args: string[]) => exec(tsxBin, [join(repo, "scripts", "configure.ts"), ...args], { cwd: repo });
const lines = (text: string) => text.split("\n").filter((line) => line.trim() !== "");
const appLines = (stderr: string) => lines(stderr).filter((line) => line.startsWith("s3-fanout:"));
const stackTrace = /^\s+at /m;

describe("the app under the CDK CLI", { concurrency: 4 }, () => {
  test("a fresh clone's cdk synth succeeds with no s3-fanout stack and says how to configure", async () => {
    const dir = project();

    const result = await cdk(dir, "synth", "-q");

    assert.equal(result.code, 0, result.stderr);
    assert.deepEqual(appLines(result.stderr), [
      "s3-fanout: not configured, so no pipeline stack: run `npm run configure -- --source-bucket SRC --destination-bucket DST` " +
        "(kept in cdk.context.json), or pass -c sourceBucket=SRC -c destinationBucket=DST",
    ]);
    const out = join(dir, "cdk.out");
    assert.deepEqual(
      readdirSync(out).filter((file) => file.endsWith(".template.json")),
      [],
      "no top-level stack",
    );
    const stage = join(out, `assembly-${NOT_CONFIGURED_STAGE}`);
    const templates = readdirSync(stage).filter((file) => file.endsWith(".template.json"));
    assert.equal(templates.length, 1, "one placeholder stack, for cdk bootstrap's environment");
    assert.match(templates[0] ?? "", new RegExp(`^${NOT_CONFIGURED_STAGE}DefaultEnvironment`));
    const template = JSON.parse(readFileSync(join(stage, templates[0] ?? ""), "utf8")) as { Resources?: unknown };
    assert.equal(template.Resources, undefined, "the placeholder has no resources, so the CLI never deploys it");
  });

  test("an unconfigured cdk destroy fails rather than succeed doing nothing", async () => {
    const dir = project();

    const result = await cdk(dir, "destroy", "--force");

    assert.notEqual(result.code, 0);
    assert.match(result.stderr, /s3-fanout: not configured/);
  });

  test("configure keeps the settings where cdk finds them without -c, and -c still wins", async () => {
    const dir = project();
    const file = join(dir, "cdk.context.json");
    writeFileSync(file, JSON.stringify({ "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"] }));

    const configured = await configure(
      "--context-file",
      file,
      "--source-bucket",
      "my-src, my-src-2",
      "--destination-bucket",
      "my-dst",
      "--stack-name",
      "Kept",
      "--json",
    );
    const listed = await cdk(dir, "ls", "-c", "stackName=FromCommandLine");

    assert.equal(configured.code, 0, configured.stderr);
    const summary = JSON.parse(lines(configured.stdout).at(-1) ?? "") as { file: string; changed: string[]; settings: object };
    assert.deepEqual(summary, {
      file,
      changed: ["sourceBucket", "destinationBucket", "stackName"],
      settings: { sourceBucket: ["my-src", "my-src-2"], destinationBucket: ["my-dst"], stackName: "Kept" },
    });
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), {
      "availability-zones:account=123456789012:region=eu-west-1": ["eu-west-1a"],
      sourceBucket: ["my-src", "my-src-2"],
      destinationBucket: ["my-dst"],
      stackName: "Kept",
    });
    // The buckets come from the file (the command line gives none); the stack name from -c.
    assert.equal(listed.code, 0, listed.stderr);
    assert.deepEqual(lines(listed.stdout), ["FromCommandLine"]);
    assert.deepEqual(appLines(listed.stderr), []);
  });

  test("partial context fails synth with one line and no stack trace", async () => {
    const dir = project();

    const result = await cdk(dir, "ls", "-c", "sourceBucket=only-src");

    assert.notEqual(result.code, 0);
    assert.deepEqual(appLines(result.stderr), [
      "s3-fanout: no destination bucket: pass -c destinationBucket=NAME (comma-separated for several) or the destinationBuckets prop; IAM is scoped to these buckets only",
    ]);
    assert.doesNotMatch(result.stderr, stackTrace);
  });

  for (const [context, message] of [
    [{ sourceBucket: "src/prefix", destinationBucket: "dst" }, /^s3-fanout: source bucket names must be plain bucket names/],
    [
      { sourceBucket: "src", destinationBucket: "dst", copyConcurrency: "many" },
      /^s3-fanout: context "copyConcurrency" must be a whole number/,
    ],
    [{ alarmEmail: "ops@example.com" }, /^s3-fanout: no source bucket/],
  ] as const) {
    test(`bad context ${JSON.stringify(context)} exits 1 with one line on stderr`, async () => {
      const outdir = mkdtempSync(join(tmpdir(), "s3-fanout-app-out-"));
      dirs.push(outdir);

      const result = await exec(tsxBin, ["bin/app.ts"], {
        cwd: repo,
        env: { CDK_CONTEXT_JSON: JSON.stringify(context), CDK_OUTDIR: outdir },
      });

      assert.equal(result.code, 1);
      assert.equal(lines(result.stderr).length, 1, result.stderr);
      assert.match(result.stderr, message);
    });
  }
});

describe("npm run configure", { concurrency: 4 }, () => {
  for (const [args, message] of [
    [["--source-bucket", "src", "--destination-bucket", "arn:aws:s3:::dst"], /^error: destination bucket names must be plain bucket names/],
    [["--source-bucket", "src"], /^error: --destination-bucket is required/],
    [
      ["--source-bucket", "src", "--destination-bucket", "dst", "--copy-max-concurrency", "1"],
      /^error: copyMaxConcurrency must be an integer from 2 to 1000/,
    ],
    [
      ["--source-bucket", "src", "--destination-bucket", "dst", "--list-max-concurrency", "ten"],
      /^error: --list-max-concurrency must be a whole number/,
    ],
    [["--source-bucket", ""], /^error: --source-bucket needs a value/],
    [["--unset", "colour"], /^error: --unset takes a setting/],
    [["--sourceBucket", "src"], /^error: Unknown option '--sourceBucket'/],
  ] as const) {
    test(`rejects ${args.join(" ")} with one line and exit 2, writing nothing`, async () => {
      const dir = mkdtempSync(join(tmpdir(), "s3-fanout-configure-"));
      dirs.push(dir);
      const file = join(dir, "cdk.context.json");

      const result = await configure("--context-file", file, ...args);

      assert.equal(result.code, 2);
      assert.equal(lines(result.stderr).length, 1, result.stderr);
      assert.match(result.stderr, message);
      assert.equal(existsSync(file), false);
    });
  }

  test("merges into what is kept, --unset drops a setting, and a bare run shows the settings", async () => {
    const dir = mkdtempSync(join(tmpdir(), "s3-fanout-configure-"));
    dirs.push(dir);
    const file = join(dir, "cdk.context.json");
    await configure("--context-file", file, "--source-bucket", "src", "--destination-bucket", "dst", "--alarm-email", "ops@example.com");

    const changed = await configure("--context-file", file, "--copy-concurrency", "32", "--unset", "alarm-email");
    const shown = await configure("--context-file", file, "--json");

    assert.equal(changed.code, 0, changed.stderr);
    assert.deepEqual(JSON.parse(readFileSync(file, "utf8")), { sourceBucket: ["src"], destinationBucket: ["dst"], copyConcurrency: 32 });
    assert.equal(shown.code, 0, shown.stderr);
    assert.match(shown.stdout, /^ {2}sourceBucket +src$/m);
    assert.match(shown.stdout, /^ {2}alarmEmail +\(not set\)$/m);
    assert.deepEqual(JSON.parse(lines(shown.stdout).at(-1) ?? ""), {
      file,
      changed: [],
      settings: { sourceBucket: ["src"], destinationBucket: ["dst"], copyConcurrency: 32 },
    });
  });

  test("--help prints the usage", async () => {
    const result = await configure("--help");

    assert.equal(result.code, 0);
    for (const key of CONTEXT_KEYS) assert.match(result.stdout, new RegExp(`--${key.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} `));
  });
});

test("CONTEXT_KEYS names every context key the app reads", () => {
  const read = new Set<string>(["stackName"]);
  const recorder = { node: { tryGetContext: (key: string) => void read.add(key) } } as unknown as Construct;

  stackPropsFromContext(recorder);

  assert.deepEqual([...CONTEXT_KEYS].sort(), [...read].sort());
});

test("the tests leave no cdk.context.json in the repository", () => {
  assert.equal(existsSync(repoContextFile), repoContextExisted);
});
