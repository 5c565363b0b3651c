/**
 * Sync mode against the emulator: a rerun over an unchanged bucket copies
 * nothing and names every key skipped in the ledger, with no HEAD but for
 * the copy by parts; after changes on both sides it copies exactly what
 * differs.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createS3Client } from "../../lambdas/aws/clients.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { LOCAL_LEDGER_BUCKET, type LocalJobOptions, runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { MiB, putLarge } from "../support/largeObject.ts";
import { lastJson, runOperator } from "../support/localStack.ts";

/** An S3 client that counts the commands it sends, by name. */
function countingClient(endpoint: string): { s3: S3Client; counts: Map<string, number> } {
  const s3 = createS3Client({ endpoint });
  const counts = new Map<string, number>();
  s3.middlewareStack.add(
    (next, context) => (args) => {
      const name = String(context.commandName);
      counts.set(name, (counts.get(name) ?? 0) + 1);
      return next(args);
    },
    { step: "initialize", name: "countCommands" },
  );
  return { s3, counts };
}

describe("sync", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("copies nothing over an unchanged copy, names every key skipped, then copies exactly what changed", async () => {
    // Prepare: a source of awkward keys, many pages of small ones and one object a copy by parts made.
    const source = bucketName("sync-src");
    const destination = bucketName("sync-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const small = [...awkwardKeys(), ...generatedKeys(2_500, "g/")].map(seedObject);
    await putObjects(emulator.s3, source, small);
    await putLarge(emulator.s3, source, "big/video.mp4", 12 * MiB);
    const allKeys = sortKeys([...small.map((o) => o.key), "big/video.mp4"]);
    const job: LocalJobOptions = {
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
      // Parts of 6 MiB where the source has 5 MiB ones: the copy's ETag cannot match the source's.
      jobOptions: { sync: true, multipartThreshold: 8 * MiB, partSize: 6 * MiB },
    };
    const first = await runLocalJob(job);
    assert.equal(first.complete, true);
    assert.equal(first.copied, allKeys.length, "into an empty destination a sync copies everything");
    assert.equal(first.skipped, 0);

    // Act: sync again, nothing changed.
    const { s3, counts } = countingClient(emulator.endpoint);
    const again = await runLocalJob({ ...job, s3 });

    // Assess: nothing copied, each key skipped once and named in the ledger; listings only, one HEAD.
    assert.deepEqual(
      { complete: again.complete, listed: again.listed, copied: again.copied, skipped: again.skipped, failed: again.failed },
      { complete: true, listed: allKeys.length, copied: 0, skipped: allKeys.length, failed: 0 },
    );
    const records = await new S3Ledger(emulator.s3, LOCAL_LEDGER_BUCKET).readRecords(again.jobId);
    const named = records.portions.flatMap((p) => p.identical ?? []);
    assert.deepEqual(sortKeys(named), allKeys, "every key named identical exactly once");
    assert.ok((counts.get("ListObjectsV2Command") ?? 0) > 0, "the counter sees the job's requests");
    assert.equal(counts.get("CopyObjectCommand") ?? 0, 0);
    assert.equal(counts.get("UploadPartCopyCommand") ?? 0, 0);
    assert.equal(counts.get("HeadObjectCommand"), 1, "only the copy by parts is HEADed, to read the source ETag it recorded");

    // Prepare: change both sides.
    const changed = small.filter((_, i) => i % 997 === 3).map((o) => o.key);
    for (const key of changed) await emulator.s3.send(new PutObjectCommand({ Bucket: source, Key: key, Body: `changed ${key}` }));
    const deleted = [small[10]?.key ?? "", small[2_000]?.key ?? ""];
    for (const key of deleted) await emulator.s3.send(new DeleteObjectCommand({ Bucket: destination, Key: `copy/${key}` }));
    const added = seedObject("g/new-after-first-sync \u{1f600}", 99_999);
    await putObjects(emulator.s3, source, [added]);
    const extra = "copy/only-in-destination";
    await emulator.s3.send(new PutObjectCommand({ Bucket: destination, Key: extra, Body: "x" }));

    // Act
    const third = await runLocalJob(job);

    // Assess: exactly the changed, deleted and added keys copied; the destination's extra key left alone.
    const differing = new Set([...changed, ...deleted, added.key]);
    assert.equal(third.complete, true);
    assert.equal(third.copied, differing.size);
    assert.equal(third.skipped, allKeys.length + 1 - differing.size);
    const thirdRecords = await new S3Ledger(emulator.s3, LOCAL_LEDGER_BUCKET).readRecords(third.jobId);
    const copiedKeys = [...thirdRecords.outcomes.values()].flatMap((o) => o.copiedKeys ?? []);
    assert.deepEqual(sortKeys(copiedKeys), sortKeys([...differing]));
    assert.deepEqual(
      await checkObjects(emulator.s3, destination, [added, ...small.filter((o) => deleted.includes(o.key))], (k) => `copy/${k}`),
      [],
    );
    const verify = await runOperator(
      "verify",
      ["--source", `s3://${source}`, "--dest", `s3://${destination}/copy/`, "--json"],
      emulator.endpoint,
    );
    assert.equal(lastJson(verify).differences, 1, "only the extra destination key differs");
  });

  it("refuses --sync with --manifest in one line, exit 2", async () => {
    const run = await runOperator(
      "local",
      ["--source", "s3://a-src/", "--dest", "s3://b-dst/", "--manifest", "s3://m/keys.csv", "--sync"],
      emulator.endpoint,
    );
    assert.equal(run.code, 2);
    assert.match(run.stderr, /--sync compares listings and cannot take --manifest/);
  });
});
