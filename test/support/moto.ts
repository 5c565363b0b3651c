/**
 * The second emulator (issue 15): moto's server, an S3/SQS implementation
 * independent of the embedded one, for the tier in test/moto. S3 and SQS
 * answer on one port, as with fauxqs, so the pipeline points one endpoint at it.
 *
 * moto comes from PyPI into a venv under the repo (.cache/moto-venv), pinned
 * by test/moto/requirements.txt. .ci/run installs it; on a developer's machine
 * the first run installs it here when Python 3 is there, and the tier is
 * skipped with a note when it cannot be had. With CI=true it must be had:
 * its absence fails the tier, so CI never skips it silently.
 */
import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdirSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:net";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { createS3Client, createSqsClient } from "../../lambdas/aws/clients.ts";
import { awkwardKeys } from "../../scripts/lib/seed.ts";
import type { TestEmulator } from "./emulator.ts";

const ROOT = fileURLToPath(new URL("../..", import.meta.url));
const REQUIREMENTS = join(ROOT, "test/moto/requirements.txt");
/** Where the venv lives; S3_FANOUT_MOTO_VENV points elsewhere (a venv made from the same requirements). */
const VENV = process.env.S3_FANOUT_MOTO_VENV ?? join(ROOT, ".cache/moto-venv");
const SERVER = join(VENV, "bin/moto_server");
/** A copy of the requirements the venv was built from: a changed pin rebuilds it. */
const STAMP = join(VENV, ".s3-fanout-requirements");
const LOCK = `${VENV}.lock`;

/**
 * Where moto 5.2.5 differs from AWS, each the skip reason of the one case it
 * touches (test/moto/pipeline.test.ts checks the first two still hold).
 */
export const MOTO_DIFFERENCES = {
  newlineKey: "moto difference: a key with a newline (\\n) cannot be stored (PutObject answers a 500 HTML page); AWS stores it",
  longKeys: "moto difference: keys over 1,024 bytes are stored and copied; AWS refuses them with KeyTooLongError",
  messageMove: "moto difference: StartMessageMoveTask is not implemented (a 500 HTML page); on AWS redrive moves the DLQ with it",
  copySourceIfMatch:
    "moto difference: UploadPartCopy (and CopyObject) ignore x-amz-copy-source-if-match, so a source changed since its HEAD is copied; AWS answers 412 PreconditionFailed",
} as const;

/** The awkward keys (test/fixtures/awkward-keys.json) that moto can store: all but those with a newline. */
export function motoKeys(): string[] {
  return awkwardKeys().filter((k) => !k.includes("\n"));
}

/** The moto tier's verdict: the server to run, or why the tier is skipped. */
export type MotoTier = { readonly server: string; readonly skip?: undefined } | { readonly server?: undefined; readonly skip: string };

const ready = () => existsSync(SERVER) && existsSync(STAMP) && readFileSync(STAMP, "utf8") === readFileSync(REQUIREMENTS, "utf8");

const sleep = (ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms));

/** The last non-empty line of a command's output, to say why it failed. */
const lastLine = (text: string) =>
  text
    .trim()
    .split("\n")
    .filter((l) => l.trim() !== "")
    .at(-1) ?? "";

/** Builds the venv from the requirements; returns why it could not, or undefined. */
function install(): string | undefined {
  const python = ["python3", "python"].find((p) => spawnSync(p, ["--version"], { stdio: "ignore" }).status === 0);
  if (python === undefined) return "no python3 on PATH";
  rmSync(VENV, { recursive: true, force: true });
  const venv = spawnSync(python, ["-m", "venv", VENV], { encoding: "utf8" });
  if (venv.status !== 0) return `${python} -m venv failed: ${lastLine(venv.stderr)}`;
  process.stderr.write(`# moto: installing test/moto/requirements.txt into ${VENV} (once; about a minute)\n`);
  const pip = spawnSync(join(VENV, "bin/python"), ["-m", "pip", "install", "-q", "-r", REQUIREMENTS], {
    encoding: "utf8",
    timeout: 600_000,
  });
  if (pip.status !== 0) return `pip install -r test/moto/requirements.txt failed: ${lastLine(pip.stderr) || pip.error?.message || ""}`;
  writeFileSync(STAMP, readFileSync(REQUIREMENTS, "utf8"));
  return undefined;
}

/** Installs moto once per machine (other test processes wait on a lock directory), or says why it cannot. */
async function ensureInstalled(): Promise<string | undefined> {
  if (ready()) return undefined;
  mkdirSync(join(VENV, ".."), { recursive: true });
  for (;;) {
    try {
      mkdirSync(LOCK);
      break;
    } catch {
      // Another process installs; a lock older than 15 minutes is from one that died.
      if (Date.now() - (statSync(LOCK, { throwIfNoEntry: false })?.mtimeMs ?? Date.now()) > 900_000)
        rmSync(LOCK, { recursive: true, force: true });
      await sleep(1_000);
    }
  }
  try {
    return ready() ? undefined : install();
  } finally {
    rmSync(LOCK, { recursive: true, force: true });
  }
}

/**
 * Whether the moto tier runs here. S3_FANOUT_MOTO=skip skips it without
 * trying to install. With CI=true a moto that cannot be had throws: the tier
 * fails rather than skips.
 */
export async function motoTier(): Promise<MotoTier> {
  const why = process.env.S3_FANOUT_MOTO === "skip" ? "S3_FANOUT_MOTO=skip" : await ensureInstalled();
  if (why === undefined) return { server: SERVER };
  const note = `moto tier skipped: ${why} (needs Python 3 and PyPI; see README, Second emulator)`;
  if (process.env.CI === "true") throw new Error(`${note}; CI=true, so the tier must run, and .ci/run installs moto`);
  process.stderr.write(`# ${note}\n`);
  return { skip: note };
}

const WATCHED_MAIN = [
  "import os, sys, threading",
  "threading.Thread(target=lambda: (sys.stdin.read(), os._exit(0)), daemon=True).start()",
  "from moto.server import main",
  "main(sys.argv[1:])",
].join("\n");

/** A port free at the time of asking (moto_server takes no port 0 and names none back). */
async function freePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (address === null || typeof address === "string") throw new Error("no port");
  return address.port;
}

/** Starts moto's server on a free loopback port and resolves once it answers, with clients pointed at it. */
export async function startMoto(server: string): Promise<TestEmulator> {
  let lastError = "";
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const endpoint = `http://127.0.0.1:${port}`;
    // moto_server's own main, beside a thread that ends it when our end of its stdin closes: a test
    // process that dies leaves no server behind. No account or region settings: moto's defaults
    // (us-east-1, account 123456789012) are what the clients use.
    const child = spawn(join(server, "../python"), ["-c", WATCHED_MAIN, "-H", "127.0.0.1", "-p", String(port)], {
      env: { ...process.env, PYTHONUNBUFFERED: "1" },
      stdio: ["pipe", "ignore", "pipe"],
    });
    // moto logs every request on stderr: keep only the tail, to say why it died.
    let tail = "";
    child.stderr.on("data", (d: Buffer) => {
      tail = (tail + d.toString()).slice(-4_000);
    });
    let exited = false;
    const exit = new Promise<void>((resolve) => child.once("exit", () => resolve()));
    void exit.then(() => {
      exited = true;
    });
    const until = Date.now() + 60_000;
    let up = false;
    while (!exited && Date.now() < until) {
      try {
        const res = await fetch(`${endpoint}/moto-api/data.json`);
        await res.arrayBuffer();
        up = res.ok;
        if (up) break;
      } catch {
        // not listening yet
      }
      await sleep(100);
    }
    if (up) {
      return {
        endpoint,
        pid: child.pid,
        s3: createS3Client({ endpoint }),
        sqs: createSqsClient({ endpoint }),
        stop: async () => {
          if (!exited) {
            child.kill("SIGTERM");
            const killer = setTimeout(() => child.kill("SIGKILL"), 5_000);
            await exit;
            clearTimeout(killer);
          }
        },
      };
    }
    child.kill("SIGKILL");
    await exit;
    lastError = lastLine(tail) || "did not answer within 60 s";
  }
  throw new Error(`moto_server would not start: ${lastError}`);
}
