/**
 * A stand-in for Lambda's Node.js runtime, for one execution environment:
 * run with the function's code directory as the working directory and the
 * function's environment, it loads the module its handler string names
 * (LAMBDA_TASK_ROOT, _HANDLER) as the runtime does, then invokes the export
 * for each event the parent sends over the IPC channel, with a Lambda-like
 * context. Plain CommonJS with no dependencies, so that nothing of the
 * project (no tsx, no package.json) is involved in loading the bundle.
 *
 * Messages from the parent: { type: "invoke", id, event, context: { awsRequestId, deadlineMs, ... } }.
 * Messages to it: { type: "ready", importMs, importCpuMs, env, version, cwd } once the module is loaded,
 * { type: "init-error", error } if it cannot be, { type: "result", id, ok, value | error, ms, cpuMs } per invocation.
 * The function's own output (Powertools' JSON log lines, EMF metrics) goes to stdout and stderr untouched.
 */
"use strict";

const path = require("node:path");
const fs = require("node:fs");
const { pathToFileURL } = require("node:url");

/** An error as the runtime reports it: errorType, errorMessage, stack lines. */
function describe(err) {
  if (err instanceof Error) return { errorType: err.name, errorMessage: err.message, trace: String(err.stack ?? "").split("\n") };
  return { errorType: typeof err, errorMessage: String(err), trace: [] };
}

/** CPU time (user + system) of this process since `since`, ms: what contention for the machine's cores does not inflate. */
function cpuMs(since) {
  const { user, system } = process.cpuUsage(since);
  return (user + system) / 1000;
}

function send(message) {
  if (process.send) process.send(message);
}

/**
 * "dir/file.export.path" -> the module file "dir/file" (tried as .js, .mjs, .cjs, as the runtime does)
 * and the export path ["export", "path"].
 */
function splitHandler(taskRoot, handler) {
  const slash = handler.lastIndexOf("/");
  const dir = handler.slice(0, slash + 1);
  const match = /^([^.]*)\.(.*)$/.exec(handler.slice(slash + 1));
  if (!match) throw new Error(`Bad handler ${handler}`);
  const base = path.resolve(taskRoot, dir, match[1]);
  for (const ext of [".js", ".mjs", ".cjs"]) {
    if (fs.existsSync(base + ext)) return { file: base + ext, exportPath: match[2].split(".") };
  }
  const err = new Error(`Cannot find module '${dir}${match[1]}'`);
  err.name = "Runtime.ImportModuleError";
  throw err;
}

async function load() {
  const taskRoot = process.env.LAMBDA_TASK_ROOT ?? process.cwd();
  const { file, exportPath } = splitHandler(taskRoot, process.env._HANDLER ?? "index.handler");
  // CommonJS is required (a .js file with no package.json saying otherwise is CommonJS); ES modules are imported.
  const mod = file.endsWith(".mjs") ? await import(pathToFileURL(file).href) : require(file);
  let fn = mod;
  for (const name of exportPath) fn = fn?.[name];
  if (typeof fn !== "function") {
    const err = new Error(`${path.basename(file)}.${exportPath.join(".")} is undefined or not exported`);
    err.name = "Runtime.HandlerNotFound";
    throw err;
  }
  return fn;
}

function contextOf(c) {
  return {
    callbackWaitsForEmptyEventLoop: true,
    functionName: c.functionName,
    functionVersion: c.functionVersion,
    invokedFunctionArn: c.invokedFunctionArn,
    memoryLimitInMB: c.memoryLimitInMB,
    awsRequestId: c.awsRequestId,
    logGroupName: c.logGroupName,
    logStreamName: c.logStreamName,
    getRemainingTimeInMillis: () => Math.max(0, c.deadlineMs - Date.now()),
    done: () => undefined,
    fail: () => undefined,
    succeed: () => undefined,
  };
}

/** Calls the handler: a promise-returning one, or one that takes a callback (three parameters). */
function call(fn, event, context) {
  if (fn.length >= 3) {
    return new Promise((resolve, reject) => {
      const result = fn(event, context, (err, value) => (err ? reject(err) : resolve(value)));
      if (result && typeof result.then === "function") result.then(resolve, reject);
    });
  }
  return Promise.resolve().then(() => fn(event, context));
}

async function main() {
  // The environment as the process was given it: modules may add to it as they load (Powertools sets AWS_SDK_UA_APP_ID).
  const env = { ...process.env };
  const started = performance.now();
  const cpu = process.cpuUsage();
  let fn;
  try {
    fn = await load();
  } catch (err) {
    send({ type: "init-error", error: describe(err) });
    process.exitCode = 1;
    process.disconnect?.();
    return;
  }
  send({
    type: "ready",
    importMs: performance.now() - started,
    importCpuMs: cpuMs(cpu),
    env,
    version: process.version,
    cwd: process.cwd(),
  });
  process.on("message", async (message) => {
    if (message?.type !== "invoke") return;
    const t0 = performance.now();
    const c0 = process.cpuUsage();
    try {
      const value = await call(fn, message.event, contextOf(message.context));
      send({ type: "result", id: message.id, ok: true, value: value ?? null, ms: performance.now() - t0, cpuMs: cpuMs(c0) });
    } catch (err) {
      send({ type: "result", id: message.id, ok: false, error: describe(err), ms: performance.now() - t0, cpuMs: cpuMs(c0) });
    }
  });
}

// An error that escapes the handler's promise kills the environment on Lambda; the parent sees the exit.
process.on("unhandledRejection", (err) => {
  process.stderr.write(`${JSON.stringify({ runtime: "unhandledRejection", ...describe(err) })}\n`);
  process.exit(128);
});

main();
