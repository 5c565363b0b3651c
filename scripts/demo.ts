/**
 * npm run demo: starts the embedded emulator, seeds a bucket with a few
 * thousand objects (every awkward key included), copies it with the real
 * handlers through the local runtime, and verifies every object.
 */

import { createS3Client } from "../lambdas/aws/clients.ts";
import { UsageError } from "../lambdas/core/errors.ts";
import { EXIT, parseCommandArgs, positiveInt, runCommand } from "./lib/cli.ts";
import { startEmulator } from "./lib/emulator.ts";
import { jobProgress } from "./lib/progress.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "./lib/seed.ts";
import { runLocalJob } from "./local/job.ts";

const USAGE = "usage: npm run demo -- [--objects N] [--json]   (default 3000 generated objects plus every awkward key)";

async function main(): Promise<number> {
  const args = parseCommandArgs(process.argv.slice(2), {
    objects: { type: "string" },
    json: { type: "boolean", default: false },
    help: { type: "boolean", short: "h" },
  });
  if (args.help) {
    process.stdout.write(`${USAGE}\n`);
    return EXIT.ok;
  }
  const count = positiveInt(args.objects, "objects", 3000);
  if (count > 200_000) throw new UsageError("--objects is capped at 200000 for the demo");
  const emulator = await startEmulator(0);
  try {
    const s3 = createS3Client({ endpoint: emulator.endpoint });
    const keys = [...awkwardKeys(), ...generatedKeys(count)];
    const objects = keys.map(seedObject);
    process.stderr.write(
      `emulator on ${emulator.endpoint}; seeding s3://demo-source with ${objects.length} objects (${awkwardKeys().length} awkward keys)...\n`,
    );
    await ensureBucket(s3, "demo-source");
    await ensureBucket(s3, "demo-destination");
    await putObjects(s3, "demo-source", objects);

    const progress = jobProgress(true);
    const result = await runLocalJob({
      source: { bucket: "demo-source", prefix: "" },
      destination: { bucket: "demo-destination", prefix: "copied/" },
      endpoint: emulator.endpoint,
      // A short list deadline shows ranges continuing themselves.
      listTimeoutMs: 1_500,
      pageSize: 250,
      logLevel: "SILENT",
      onProgress: (s) => progress.update(s),
    });
    progress.stop();

    process.stderr.write("verifying every object (bytes, content type, metadata)...\n");
    const mismatches = await checkObjects(s3, "demo-destination", objects, (k) => `copied/${k}`);
    for (const m of mismatches.slice(0, 20)) process.stderr.write(`MISMATCH ${JSON.stringify(m.key)}: ${m.problem}\n`);
    const ok = result.complete && result.failed === 0 && result.copied === objects.length && mismatches.length === 0;
    const lines = [
      `s3://demo-source -> s3://demo-destination/copied/  (job ${result.jobId})`,
      `  listed   ${result.listed} keys in ${result.ranges} range portions`,
      `  copied   ${result.copied} objects, ${result.bytes} bytes, in ${result.seconds.toFixed(1)} s (${Math.round(result.copied / result.seconds)} objects/s)`,
      `  failed   ${result.failed}, vanished ${result.vanished}`,
      `  verified ${objects.length - mismatches.length}/${objects.length} objects identical`,
      ok ? "demo OK" : "demo FAILED",
    ];
    process.stderr.write(`${lines.join("\n")}\n`);
    if (args.json) {
      process.stdout.write(
        `${JSON.stringify({ ok, objects: objects.length, listed: result.listed, copied: result.copied, failed: result.failed, verified: objects.length - mismatches.length, ranges: result.ranges, seconds: Number(result.seconds.toFixed(3)) })}\n`,
      );
    }
    return ok ? EXIT.ok : EXIT.failed;
  } finally {
    await emulator.stop();
  }
}

await runCommand(main);
