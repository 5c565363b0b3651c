/** The embedded emulator: fauxqs serves S3 and SQS on one port (patched at install, see patches/). */
export interface Emulator {
  readonly endpoint: string;
  /** The emulator's process id, when it runs in a child process. */
  readonly pid?: number | undefined;
  stop(): Promise<void>;
}

export async function startEmulator(port = 0): Promise<Emulator> {
  // fauxqs announces node:sqlite's experimental status once; it is noise here.
  const { emitWarning } = process;
  process.emitWarning = ((warning: string | Error, ...rest: unknown[]) => {
    if (String(warning).includes("SQLite")) return;
    (emitWarning as (...a: unknown[]) => void).call(process, warning, ...rest);
  }) as typeof process.emitWarning;
  const { startFauxqs } = await import("fauxqs"); // after the filter: node:sqlite warns on load
  const server = await startFauxqs({ port, logger: false });
  return { endpoint: server.address, stop: () => server.stop() };
}

/**
 * The emulator in a child process, so that it has a core of its own and its
 * memory is not ours (tests, benchmarks). Resolves once it is listening.
 */
export async function spawnEmulator(port = 0): Promise<Emulator> {
  const { spawn } = await import("node:child_process");
  const { fileURLToPath } = await import("node:url");
  const script = fileURLToPath(new URL("../emulator.ts", import.meta.url));
  const root = fileURLToPath(new URL("../..", import.meta.url));
  const child = spawn(process.execPath, ["--import", "tsx", script, "--port", String(port)], {
    cwd: root,
    stdio: ["ignore", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const endpoint = await new Promise<string>((resolve, reject) => {
    let out = "";
    let err = "";
    child.stdout.on("data", (d: Buffer) => {
      out += d.toString();
      const match = /listening on (http:\/\/\S+)/.exec(out);
      if (match?.[1]) resolve(match[1]);
    });
    child.stderr.on("data", (d: Buffer) => {
      err += d.toString();
    });
    child.once("exit", (code) => reject(new Error(`emulator exited with ${code}: ${err.trim().split("\n").at(-1) ?? ""}`)));
  });
  return {
    endpoint,
    pid: child.pid,
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}
