/**
 * The peer: rclone copying the bench's source bucket to an empty bucket on
 * the same emulator, as a user would compare it with `npm run local`.
 *
 * The command is `rclone copy --transfers 64 --checkers 64` (issue 13's) plus
 * what makes it the same job the pipeline does:
 * - `--s3-no-check-bucket`: no bucket creation check (the bench made it);
 * - `--fast-list`: one flat listing, as the pipeline lists, not one per
 *   "directory" (the bench's keys sit under 62 first characters).
 * Source and destination are one remote, so rclone copies server side; the
 * untimed check run proves it by counting rclone's own requests. Seen that
 * way on rclone 1.60: one PUT with X-Amz-Copy-Source per object, no GET, and
 * then a HEAD of the copy, which `--s3-no-head` does not drop (it applies to
 * uploads only), so rclone makes 2 requests per object to the pipeline's 1.
 *
 * The remote is configured on the fly through RCLONE_CONFIG_<NAME>_* and an
 * in-memory config (`--config ""`): nothing is read from or written to the
 * user's rclone.conf. The user's AWS_* and RCLONE_* variables are not passed
 * on: AWS_CA_BUNDLE alone makes rclone 1.60 refuse to build its HTTP client,
 * and none of them should change what is measured.
 */
import { spawn } from "node:child_process";
import { parseStatCpu } from "./cpu.ts";
import { RequestCounter, type RequestCounts } from "./requests.ts";

const REMOTE = "s3fanoutbench";

/** Emulators accept any credentials; these are the ones the project's clients send to one. */
const EMULATOR_CREDENTIALS = { accessKeyId: "test", secretAccessKey: "test" };

export interface PeerSettings {
  /** The rclone executable: a path, or a name looked up on PATH. */
  readonly rclone: string;
  readonly endpoint: string;
  readonly source: string;
  readonly destination: string;
  /** --transfers and --checkers alike. */
  readonly transfers: number;
}

/** The arguments of the copy, as run and as reported. */
export function rcloneCopyArgs(s: PeerSettings): string[] {
  return [
    "copy",
    `${REMOTE}:${s.source}`,
    `${REMOTE}:${s.destination}`,
    "--transfers",
    String(s.transfers),
    "--checkers",
    String(s.transfers),
    "--s3-no-check-bucket",
    "--fast-list",
    "--config",
    "",
  ];
}

function rcloneEnv(endpoint: string): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [name, value] of Object.entries(process.env)) if (!name.startsWith("AWS_") && !name.startsWith("RCLONE_")) env[name] = value;
  const prefix = `RCLONE_CONFIG_${REMOTE.toUpperCase()}_`;
  Object.assign(env, {
    [`${prefix}TYPE`]: "s3",
    [`${prefix}PROVIDER`]: "Other",
    [`${prefix}ENDPOINT`]: endpoint,
    [`${prefix}ACCESS_KEY_ID`]: EMULATOR_CREDENTIALS.accessKeyId,
    [`${prefix}SECRET_ACCESS_KEY`]: EMULATOR_CREDENTIALS.secretAccessKey,
    [`${prefix}REGION`]: "us-east-1",
    [`${prefix}FORCE_PATH_STYLE`]: "true",
  });
  return env;
}

/** rclone's version line, or why it cannot be run (the phase is then skipped with that note). */
export function rcloneVersion(rclone: string): Promise<{ version: string } | { missing: string }> {
  return new Promise((resolve) => {
    const child = spawn(rclone, ["version"], { stdio: ["ignore", "pipe", "ignore"], env: rcloneEnv("http://127.0.0.1:1") });
    let out = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
    });
    child.on("error", (e: NodeJS.ErrnoException) =>
      resolve({ missing: e.code === "ENOENT" ? `${rclone} not found` : `${rclone} cannot be run (${e.code ?? e.message})` }),
    );
    child.on("close", (code) => {
      const first = out.trim().split("\n")[0] ?? "";
      resolve(code === 0 && first !== "" ? { version: first.trim() } : { missing: `${rclone} version exited with ${code}` });
    });
  });
}

export interface PeerRun {
  readonly seconds: number;
  /** User + system CPU seconds of rclone's process tree, start-up included (a few ms for a Go binary). */
  readonly cpuSeconds: number;
  readonly exitCode: number | null;
  /** The last lines of rclone's stderr (its errors), when it failed. */
  readonly error: string | null;
  /** Its requests by operation, read from `--dump headers` (the check run only). */
  readonly requests: RequestCounts | null;
}

/**
 * Runs the copy once and measures its wall time and the CPU of its whole
 * process tree.
 *
 * How the CPU is read: rclone runs under `/bin/sh -c '"$@"; cat /proc/$$/stat'`.
 * Once rclone has exited, the shell has waited for it, so the shell's
 * cutime and cstime (the CPU of its reaped children, theirs included) hold
 * rclone's whole user + system time, which the shell then prints as the
 * last line of stdout (rclone's copy writes nothing there). That is the
 * kernel's own rusage accounting, read after the process ended, with nothing
 * to race: sampling /proc/<rclone pid>/stat from here could only read it
 * before rclone's last threads finished, or miss it once it is reaped. It
 * needs only sh and /proc, which the bench's other CPU figures already
 * need, not GNU time. The shell's own CPU (near nothing) is added, as part
 * of the tree.
 *
 * With `countRequests`, rclone also dumps every request's headers to stderr
 * (`--dump headers`), and they are counted by operation: list, CopyObject
 * (a PUT with X-Amz-Copy-Source), HEAD, GET, PUT. The dump slows rclone, so
 * that run is a check, never timed.
 */
export function runRclone(s: PeerSettings, countRequests = false): Promise<PeerRun> {
  const args = [...rcloneCopyArgs(s), ...(countRequests ? ["--dump", "headers", "-vv"] : [])];
  const script = '"$@"; rc=$?; cat /proc/$$/stat; exit $rc';
  return new Promise((resolve, reject) => {
    const started = performance.now();
    const child = spawn("/bin/sh", ["-c", script, "sh", s.rclone, ...args], {
      env: rcloneEnv(s.endpoint),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let stdout = "";
    let tail: string[] = [];
    let partial = "";
    const dumped = countRequests ? new DumpedRequests() : undefined;
    child.stdout.on("data", (d: Buffer) => {
      stdout += d.toString();
    });
    child.stderr.on("data", (d: Buffer) => {
      const lines = (partial + d.toString()).split("\n");
      partial = lines.pop() ?? "";
      for (const line of lines) {
        dumped?.line(line);
        if (!countRequests || /ERROR|NOTICE|Failed/.test(line)) tail = [...tail.slice(-4), line];
      }
    });
    child.on("error", reject);
    child.on("close", (code) => {
      const seconds = (performance.now() - started) / 1000;
      dumped?.line(partial);
      const cpu = parseStatCpu(stdout.trim().split("\n").at(-1) ?? "");
      if (cpu === undefined) {
        reject(new Error(`rclone's CPU could not be read (exit ${code}): ${tail.join(" | ")}`));
        return;
      }
      resolve({
        seconds,
        cpuSeconds: cpu.self + cpu.children,
        exitCode: code,
        error: code === 0 ? null : tail.join(" | ").trim() || `exit ${code}`,
        requests: dumped?.counts() ?? null,
      });
    });
  });
}

/** A request line as rclone's --dump headers logs it, e.g. `DEBUG : PUT /bucket/key HTTP/1.1`. */
const REQUEST_LINE = /\b(GET|PUT|HEAD|POST|DELETE) (\/[^\s?]*)(\?\S*)? HTTP\/1\.1/g;
const COPY_SOURCE = /^\s*x-amz-copy-source:/i;

/**
 * rclone's requests, from its header dump, under the SDK's command names.
 * Concurrent requests interleave in the dump, so PUTs on objects and
 * copy-source headers are tallied apart: each CopyObject is a PUT with
 * exactly one such header, and the rest of the PUTs are PutObjects.
 */
export class DumpedRequests {
  private readonly commands = new Map<string, number>();
  private objectPuts = 0;
  private copySources = 0;

  line(text: string): void {
    if (COPY_SOURCE.test(text)) {
      this.copySources++;
      return;
    }
    for (const [, method = "", path = "", query = ""] of text.matchAll(REQUEST_LINE)) {
      const onBucket = path.split("/").filter((p) => p !== "").length <= 1;
      if (method === "PUT" && !onBucket) {
        this.objectPuts++;
        continue;
      }
      const command =
        method === "GET"
          ? onBucket
            ? query.includes("list-type=2")
              ? "ListObjectsV2"
              : query.includes("uploads")
                ? "ListMultipartUploads"
                : "ListObjects"
            : "GetObject"
          : method === "HEAD"
            ? onBucket
              ? "HeadBucket"
              : "HeadObject"
            : method === "PUT"
              ? "CreateBucket"
              : method;
      this.commands.set(command, (this.commands.get(command) ?? 0) + 1);
    }
  }

  counts(): RequestCounts {
    const counter = new RequestCounter();
    const all = [...this.commands, ["CopyObject", this.copySources] as const, ["PutObject", this.objectPuts - this.copySources] as const];
    for (const [command, n] of all) for (let i = 0; i < n; i++) counter.record("s3", command);
    return counter.counts;
  }
}
