/**
 * Measures what faults cost a `local` job: the same job (awkward keys plus
 * generated ones, 3,547 keys by default) run straight against the emulator
 * and then through the fault proxy failing a share of requests with every
 * fault kind (reset-after included: lost receives). Not a test: it prints
 * wall times, which tests never assert on.
 *
 *   npx tsx test/support/measureFaults.ts [--objects N] [--rate R] [--seed N]
 *
 * The last stdout line is one JSON object with both runs.
 */
import { parseArgs } from "node:util";
import { awkwardKeys, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { type LocalJobResult, runLocalJob } from "../../scripts/local/job.ts";
import { assertSameObjects, bucketName, startTestEmulator, type TestEmulator } from "./emulator.ts";
import { type Fault, startFaultProxy } from "./faultProxy.ts";

const ALL_FAULTS: readonly Fault[] = ["slowdown", "internal", "reset-before", "reset-after", "slow"];

async function run(emulator: TestEmulator, endpoint: string, source: string, keys: number) {
  const destination = bucketName("measure-dst");
  await ensureBucket(emulator.s3, destination);
  const result: LocalJobResult = await runLocalJob({
    source: { bucket: source, prefix: "" },
    destination: { bucket: destination, prefix: "" },
    endpoint,
    logLevel: "SILENT",
  });
  await assertSameObjects(emulator.s3, source, destination, keys);
  const { complete, listed, copied, failed, vanished, dlq, seconds } = result;
  return { seconds: Math.round(seconds * 10) / 10, complete, listed, copied, failed, vanished, dlq };
}

const { values } = parseArgs({ options: { objects: { type: "string" }, rate: { type: "string" }, seed: { type: "string" } } });
const emulator = await startTestEmulator();
try {
  const keys = [...awkwardKeys(), ...generatedKeys(Number(values.objects ?? 3_483))];
  const source = bucketName("measure-src");
  await ensureBucket(emulator.s3, source);
  await putObjects(emulator.s3, source, keys.map(seedObject), 64);
  process.stderr.write(`${keys.length} keys seeded; the job without faults...\n`);
  const clean = await run(emulator, emulator.endpoint, source, keys.length);
  process.stderr.write(`${JSON.stringify(clean)}\nthe same job through the fault proxy...\n`);
  const rate = Number(values.rate ?? 0.1);
  const proxy = await startFaultProxy({ target: emulator.endpoint, rate, seed: Number(values.seed ?? 42), faults: ALL_FAULTS });
  let faulty: Awaited<ReturnType<typeof run>>;
  try {
    faulty = await run(emulator, proxy.endpoint, source, keys.length);
  } finally {
    await proxy.close();
  }
  const report = {
    keys: keys.length,
    rate,
    clean,
    faulty: { ...faulty, requests: proxy.requests, injected: proxy.injected },
    extraSeconds: Math.round((faulty.seconds - clean.seconds) * 10) / 10,
  };
  process.stdout.write(`${JSON.stringify(report)}\n`);
} finally {
  await emulator.stop();
}
