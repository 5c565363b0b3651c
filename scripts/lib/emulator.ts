/** The embedded emulator: fauxqs serves S3 and SQS on one port (patched at install, see patches/). */
export interface Emulator {
  readonly endpoint: string;
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
