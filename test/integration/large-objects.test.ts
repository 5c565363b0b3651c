/** Objects above the multipart threshold, copied by parts through `npm run local`, against the emulator. */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, GetObjectTaggingCommand, HeadObjectCommand, PutObjectCommand } from "@aws-sdk/client-s3";
import { ensureBucket } from "../../scripts/lib/seed.ts";
import { s3VerifyDeps, verifySelections } from "../../scripts/lib/verify.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { MiB, putLarge } from "../support/largeObject.ts";
import { runOperator } from "../support/localStack.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");

describe("large objects", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("copies a 20 MiB object by parts with its bytes, content headers, metadata and tags", async () => {
    // Prepare
    const source = bucketName("big-src");
    const destination = bucketName("big-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const body = await putLarge(emulator.s3, source, "videos/a b+c.mp4", 20 * MiB);
    await emulator.s3.send(new PutObjectCommand({ Bucket: source, Key: "videos/small.txt", Body: "small", ContentType: "text/plain" }));

    // Act
    const run = await runOperator(
      "local",
      [
        "--source",
        `s3://${source}/videos/`,
        "--dest",
        `s3://${destination}/v/`,
        "--multipart-threshold",
        "8MiB",
        "--part-size",
        "5MiB",
        "--json",
      ],
      emulator.endpoint,
    );

    // Assess
    assert.equal(run.code, 0, run.stderr);
    const summary = JSON.parse(run.stdout.trim().split("\n").at(-1) ?? "{}") as Record<string, number>;
    assert.equal(summary.copied, 2);
    assert.equal(summary.failed, 0);
    assert.equal(summary.bytes, 20 * MiB + 5);
    const copy = await emulator.s3.send(new GetObjectCommand({ Bucket: destination, Key: "v/a b+c.mp4" }));
    const bytes = await copy.Body?.transformToByteArray();
    assert.ok(bytes);
    assert.equal(bytes.length, body.length);
    assert.equal(sha(bytes), sha(body));
    assert.equal(copy.ContentType, "video/mp4");
    assert.equal(copy.CacheControl, "max-age=600");
    assert.equal(copy.Metadata?.owner, "team-a");
    assert.equal(copy.Metadata?.["camera-id"], "42");
    assert.match(copy.ETag ?? "", /-4"$/, "copied in 4 parts");
    const sourceHead = await emulator.s3.send(new HeadObjectCommand({ Bucket: source, Key: "videos/a b+c.mp4" }));
    assert.equal(copy.Metadata?.["s3fanout-source-etag"], sourceHead.ETag);
    const tags = await emulator.s3.send(new GetObjectTaggingCommand({ Bucket: destination, Key: "v/a b+c.mp4" }));
    assert.deepEqual((tags.TagSet ?? []).map((t) => `${t.Key}=${t.Value}`).sort(), ["project=apollo", "tier=gold"]);
    const small = await emulator.s3.send(new GetObjectCommand({ Bucket: destination, Key: "v/small.txt" }));
    assert.equal(await small.Body?.transformToString(), "small");

    // Act: verify recognises the copy by parts as identical, by its recorded source ETag.
    const counts = await verifySelections({
      source: { bucket: source, prefix: "videos/" },
      destination: { bucket: destination, prefix: "v/" },
      ...s3VerifyDeps(emulator.s3),
    });

    // Assess
    assert.deepEqual([counts.matching, counts.differences], [2, 0]);
  });
});
