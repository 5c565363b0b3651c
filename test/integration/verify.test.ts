/** `npm run verify` after a job: finds exactly the differences made since. */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { awkwardKeys, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { runOperator, verifyDifferences } from "../support/localStack.ts";

describe("npm run verify", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("reports a fresh copy identical, then exactly the differences made after it", async () => {
    // Prepare: a job copies src/ to dst/copy/.
    const source = bucketName("ver-src");
    const destination = bucketName("ver-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const keys = [...awkwardKeys(), ...generatedKeys(500)];
    await putObjects(emulator.s3, source, keys.map(seedObject));
    const job = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
    });
    assert.equal(job.failed, 0);
    const args = ["--source", `s3://${source}`, "--dest", `s3://${destination}/copy/`, "--json"];

    // Act: verify the fresh copy.
    const clean = await runOperator("verify", args, emulator.endpoint);

    // Assess
    assert.equal(clean.code, 0, clean.stderr);
    const cleanSummary = JSON.parse(clean.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, number>;
    assert.equal(cleanSummary.differences, 0);
    assert.equal(cleanSummary.matching, keys.length);

    // Prepare: change both sides.
    const s3 = emulator.s3;
    await s3.send(new DeleteObjectCommand({ Bucket: destination, Key: "copy/tab\tkey" }));
    await s3.send(new DeleteObjectCommand({ Bucket: destination, Key: "copy/\u{1f600}/smile" }));
    await s3.send(new PutObjectCommand({ Bucket: destination, Key: "copy/a b+c%20d", Body: "changed, and longer than before" }));
    await s3.send(new PutObjectCommand({ Bucket: destination, Key: "copy/extra\nkey", Body: "x" }));
    await s3.send(new PutObjectCommand({ Bucket: destination, Key: "outside-the-selection", Body: "x" }));
    await s3.send(new PutObjectCommand({ Bucket: source, Key: "new-since-the-job", Body: "x" }));

    // Act
    const changed = await runOperator("verify", args, emulator.endpoint);

    // Assess
    assert.equal(changed.code, 1);
    assert.deepEqual(
      verifyDifferences(changed.stdout).sort(),
      [
        ["different size", "a b+c%20d"],
        ["extra", "extra\nkey"],
        ["missing", "\u{1f600}/smile"],
        ["missing", "new-since-the-job"],
        ["missing", "tab\tkey"],
      ].sort(),
    );
    const summary = JSON.parse(changed.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, number>;
    assert.deepEqual([summary.differences, summary.missing, summary.extra, summary.different], [5, 3, 1, 1]);
  });

  it("refuses a missing bucket with one line and exit 3", async () => {
    const run = await runOperator("verify", ["--source", "s3://no-such-bucket-x", "--dest", "s3://no-such-bucket-y"], emulator.endpoint);
    assert.equal(run.code, 3);
    assert.match(run.stderr, /^error: source bucket "no-such-bucket-x" does not exist\n$/);
  });
});
