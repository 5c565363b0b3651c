/**
 * One Lambda execution environment for a bundled function, as Lambda makes
 * it: the function's code copied into a fresh directory with no package.json
 * above it, a Node process of its own (the project's Node, test/support/
 * lambdaHost.cjs standing in for the runtime) started there with exactly the
 * template's environment plus what Lambda sets, the module the Handler names
 * loaded once (the cold start), then one invocation at a time with a
 * Lambda-like context. Everything the function writes to stdout and stderr,
 * which Lambda sends to CloudWatch Logs, is kept line by line.
 */
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { copyFileSync, cpSync, existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join, parse } from "node:path";
import { fileURLToPath } from "node:url";
import type { FunctionSpec } from "./emulatedDeployment.ts";

const HOST = fileURLToPath(new URL("./lambdaHost.cjs", import.meta.url));

/** Variables Lambda sets itself and refuses in a function's configuration. */
export const LAMBDA_RESERVED_VARIABLES = [
  "_HANDLER",
  "_X_AMZN_TRACE_ID",
  "AWS_DEFAULT_REGION",
  "AWS_REGION",
  "AWS_EXECUTION_ENV",
  "AWS_LAMBDA_FUNCTION_NAME",
  "AWS_LAMBDA_FUNCTION_MEMORY_SIZE",
  "AWS_LAMBDA_FUNCTION_VERSION",
  "AWS_LAMBDA_INITIALIZATION_TYPE",
  "AWS_LAMBDA_LOG_GROUP_NAME",
  "AWS_LAMBDA_LOG_STREAM_NAME",
  "AWS_ACCESS_KEY",
  "AWS_ACCESS_KEY_ID",
  "AWS_SECRET_ACCESS_KEY",
  "AWS_SESSION_TOKEN",
  "AWS_LAMBDA_RUNTIME_API",
  "LAMBDA_TASK_ROOT",
  "LAMBDA_RUNTIME_DIR",
] as const;

export interface LogLine {
  readonly functionName: string;
  readonly stream: "stdout" | "stderr";
  readonly text: string;
  /** The line parsed, when it is one JSON object (Powertools' log lines, EMF metrics). */
  readonly json: Record<string, unknown> | undefined;
}

export interface SandboxOptions {
  readonly fn: FunctionSpec;
  readonly region: string;
  /** AWS_ENDPOINT_URL: where the SDK clients in the bundle send every request (the emulator, or a proxy before it). */
  readonly endpoint: string;
  readonly onLog?: (line: LogLine) => void;
}

export interface InvocationResult {
  readonly requestId: string;
  readonly ok: boolean;
  /** What the handler returned (ok) or how it failed. */
  readonly value?: unknown;
  readonly error?: { readonly errorType: string; readonly errorMessage: string };
  /** The environment was killed: past the function's timeout, or it exited. */
  readonly died: boolean;
  /** Handler time, measured in the environment. */
  readonly ms: number;
  /** CPU time of the environment's process during the invocation. */
  readonly cpuMs: number;
}

/** Whether a package.json sits in `dir` or any directory above it (it would change how Node loads the bundle). */
export function packageJsonAbove(dir: string): string | undefined {
  for (let d = dir; ; d = dirname(d)) {
    if (existsSync(join(d, "package.json"))) return join(d, "package.json");
    if (d === parse(d).root) return undefined;
  }
}

/** The file a Handler string names in a code directory ("dir/index.handler" -> dir/index.js, .mjs or .cjs), as the runtime looks. */
export function handlerFile(codeDir: string, handler: string): string | undefined {
  const slash = handler.lastIndexOf("/");
  const module = handler.slice(slash + 1).split(".")[0] ?? "";
  const base = join(codeDir, handler.slice(0, slash + 1), module);
  return [".js", ".mjs", ".cjs"].map((ext) => base + ext).find((file) => existsSync(file));
}

/** The environment Lambda gives the function: its configuration's variables, then Lambda's own. */
export function lambdaEnvironment(
  fn: FunctionSpec,
  place: {
    readonly region: string;
    readonly endpoint: string;
    readonly taskRoot: string;
    readonly runtimeDir: string;
    readonly logStream: string;
  },
): Record<string, string> {
  return {
    ...fn.environment,
    _HANDLER: fn.handler,
    AWS_REGION: place.region,
    AWS_DEFAULT_REGION: place.region,
    AWS_EXECUTION_ENV: `AWS_Lambda_${fn.runtime}`,
    AWS_LAMBDA_FUNCTION_NAME: fn.name,
    AWS_LAMBDA_FUNCTION_MEMORY_SIZE: String(fn.memoryMb),
    AWS_LAMBDA_FUNCTION_VERSION: "$LATEST",
    AWS_LAMBDA_INITIALIZATION_TYPE: "on-demand",
    AWS_LAMBDA_LOG_GROUP_NAME: fn.logGroupName,
    AWS_LAMBDA_LOG_STREAM_NAME: place.logStream,
    ...(fn.logFormat === "JSON" ? { AWS_LAMBDA_LOG_FORMAT: "JSON", AWS_LAMBDA_LOG_LEVEL: fn.applicationLogLevel ?? "INFO" } : {}),
    // The execution role's temporary credentials; the emulator takes any.
    AWS_ACCESS_KEY_ID: "test",
    AWS_SECRET_ACCESS_KEY: "test",
    AWS_SESSION_TOKEN: "test",
    LAMBDA_TASK_ROOT: place.taskRoot,
    LAMBDA_RUNTIME_DIR: place.runtimeDir,
    TZ: ":UTC",
    LANG: "en_US.UTF-8",
    PATH: "/usr/local/bin:/usr/bin/:/bin",
    // Not Lambda's: every SDK client in the bundle honours it, so AWS calls go to the emulator.
    AWS_ENDPOINT_URL: place.endpoint,
  };
}

interface Ready {
  readonly importMs: number;
  readonly importCpuMs: number;
  readonly env: Record<string, string>;
  readonly version: string;
  readonly cwd: string;
}

type HostMessage =
  | ({ type: "ready" } & Ready)
  | { type: "init-error"; error: { errorType: string; errorMessage: string } }
  | {
      type: "result";
      id: number;
      ok: boolean;
      value?: unknown;
      error?: { errorType: string; errorMessage: string };
      ms: number;
      cpuMs: number;
    };

export class LambdaInstance {
  private next = 0;
  private readonly waiting = new Map<number, (m: Extract<HostMessage, { type: "result" }>) => void>();
  private exited = false;
  private readonly exit: Promise<void>;

  private constructor(
    readonly fn: FunctionSpec,
    private readonly child: ChildProcess,
    private readonly dir: string,
    readonly taskRoot: string,
    readonly logStream: string,
    readonly environment: Readonly<Record<string, string>>,
    /** What the environment saw once the module was loaded. */
    readonly ready: Ready,
    /** From spawning the process to the module loaded, Node's own start-up included. */
    readonly startMs: number,
  ) {
    // A send to an environment that has just died is reported by its invocation, not as an error event.
    child.on("error", () => undefined);
    this.exit = new Promise((resolve) => {
      if (child.exitCode !== null || child.signalCode !== null) resolve();
      child.once("exit", () => resolve());
    });
    void this.exit.then(() => {
      this.exited = true;
    });
  }

  /** A fresh environment: code copied, process started, handler module loaded. Rejects when the module cannot be loaded. */
  static async start(options: SandboxOptions): Promise<LambdaInstance> {
    const { fn } = options;
    if (fn.codeDir === undefined) throw new Error(`${fn.logicalId} has inline code, not a bundle`);
    const dir = mkdtempSync(join(tmpdir(), "lambda-env-"));
    const taskRoot = join(dir, "task");
    const runtimeDir = join(dir, "runtime");
    cpSync(fn.codeDir, taskRoot, { recursive: true });
    mkdirSync(runtimeDir);
    const host = join(runtimeDir, "host.cjs");
    copyFileSync(HOST, host);
    const above = packageJsonAbove(taskRoot);
    if (above !== undefined) throw new Error(`${above} is above the function's code directory: Node would read it, Lambda has none`);
    const day = new Date().toISOString().slice(0, 10).replaceAll("-", "/");
    const logStream = `${day}/[$LATEST]${randomBytes(16).toString("hex")}`;
    const environment = lambdaEnvironment(fn, { region: options.region, endpoint: options.endpoint, taskRoot, runtimeDir, logStream });
    const started = performance.now();
    const child = spawn(process.execPath, [host], { cwd: taskRoot, env: environment, stdio: ["ignore", "pipe", "pipe", "ipc"] });
    for (const stream of ["stdout", "stderr"] as const) {
      let partial = "";
      child[stream]?.on("data", (d: Buffer) => {
        const lines = (partial + d.toString()).split("\n");
        partial = lines.pop() ?? "";
        for (const text of lines) if (text !== "") options.onLog?.({ functionName: fn.name, stream, text, json: parseLine(text) });
      });
    }
    const ready = await new Promise<Ready>((resolve, reject) => {
      child.once("error", reject);
      child.once("exit", (code, signal) =>
        reject(new Error(`${fn.logicalId}: environment exited (${code ?? signal}) before its module loaded`)),
      );
      child.once("message", (m: HostMessage) => {
        if (m.type === "ready") resolve(m);
        else if (m.type === "init-error") reject(new Error(`${fn.logicalId}: ${m.error.errorType}: ${m.error.errorMessage}`));
      });
    }).catch((err: unknown) => {
      child.kill("SIGKILL");
      rmSync(dir, { recursive: true, force: true });
      throw err;
    });
    const instance = new LambdaInstance(fn, child, dir, taskRoot, logStream, environment, ready, performance.now() - started);
    child.on("message", (m: HostMessage) => {
      if (m.type === "result") instance.waiting.get(m.id)?.(m);
    });
    return instance;
  }

  get alive(): boolean {
    return !this.exited;
  }

  /**
   * One invocation. Past the function's timeout the environment is killed, as Lambda does, and the
   * invocation fails; so does one whose environment dies under it.
   */
  invoke(event: unknown): Promise<InvocationResult> {
    const { fn } = this;
    const requestId = randomUUID();
    const died = (errorType: string, errorMessage: string, ms: number): InvocationResult => ({
      requestId,
      ok: false,
      died: true,
      ms,
      cpuMs: 0,
      error: { errorType, errorMessage },
    });
    if (this.exited) return Promise.resolve(died("Runtime.ExitError", "environment gone", 0));
    const id = ++this.next;
    const deadlineMs = Date.now() + fn.timeoutSeconds * 1000;
    return new Promise<InvocationResult>((resolve) => {
      const finish = (result: InvocationResult) => {
        clearTimeout(timer);
        this.waiting.delete(id);
        resolve(result);
      };
      const timer = setTimeout(() => {
        this.child.kill("SIGKILL");
        finish(died("Sandbox.Timedout", "Task timed out", fn.timeoutSeconds * 1000));
      }, fn.timeoutSeconds * 1000);
      void this.exit.then(() => finish(died("Runtime.ExitError", "environment exited", 0)));
      this.waiting.set(id, (m) => finish({ requestId, ok: m.ok, value: m.value, error: m.error, died: false, ms: m.ms, cpuMs: m.cpuMs }));
      this.child.send({
        type: "invoke",
        id,
        event,
        context: {
          functionName: fn.name,
          functionVersion: "$LATEST",
          invokedFunctionArn: fn.arn,
          memoryLimitInMB: String(fn.memoryMb),
          awsRequestId: requestId,
          logGroupName: fn.logGroupName,
          logStreamName: this.logStream,
          deadlineMs,
        },
      });
    });
  }

  /** Ends the environment and removes its directory. */
  async stop(): Promise<void> {
    if (!this.exited) this.child.kill("SIGKILL");
    await this.exit;
    rmSync(this.dir, { recursive: true, force: true });
  }
}

function parseLine(text: string): Record<string, unknown> | undefined {
  if (!text.startsWith("{")) return undefined;
  try {
    const value: unknown = JSON.parse(text);
    return typeof value === "object" && value !== null && !Array.isArray(value) ? (value as Record<string, unknown>) : undefined;
  } catch {
    return undefined;
  }
}
