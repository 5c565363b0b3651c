/** npm run emulator -- [--port N]: serves the embedded S3/SQS emulator (fauxqs, patched) in the foreground. */
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { startEmulator } from "./lib/emulator.ts";

const USAGE = "usage: npm run emulator -- [--port N]   (default port 4566)";

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), { port: { type: "string" }, help: { type: "boolean", short: "h" } });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const port = args.port === "0" ? 0 : positiveInt(args.port, "port", 4566); // 0: a free port chosen by the OS
  const emulator = await startEmulator(port);
  process.stdout.write(`emulator listening on ${emulator.endpoint} (S3 and SQS); Ctrl-C to stop\n`);
  process.stdout.write(
    `  export AWS_ENDPOINT_URL=${emulator.endpoint} AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1\n`,
  );
  await new Promise<void>((resolve) => {
    process.once("SIGINT", resolve);
    process.once("SIGTERM", resolve);
  });
  await emulator.stop();
  return EXIT.ok;
}

await runCommand(main);
