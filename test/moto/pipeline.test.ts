/**
 * The pipeline against moto's server (the second emulator, issue 15): real
 * handlers, real queues, the local event-source runtime, over HTTP to an
 * S3/SQS implementation that is not the one the project patched. Each case
 * moto cannot show as AWS would is its own test, skipped with the difference named.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import {
  AbortMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, type TestEmulator } from "../support/emulator.ts";
import { MiB, putLarge } from "../support/largeObject.ts";
import { listKeys } from "../support/localStack.ts";
import { MOTO_DIFFERENCES, motoKeys, motoTier, startMoto } from "../support/moto.ts";

const tier = await motoTier();

describe("pipeline on moto", { skip: tier.skip }, () => {
  let moto: TestEmulator;

  before(async () => {
    moto = await startMoto(tier.server ?? "");
  });

  after(async () => {
    await moto?.stop();
  });

  async function seeded(keys: readonly string[]) {
    const source = bucketName("moto-src");
    const destination = bucketName("moto-dst");
    await ensureBucket(moto.s3, source);
    await ensureBucket(moto.s3, destination);
    const objects = keys.map(seedObject);
    await putObjects(moto.s3, source, objects, 16);
    return { source, destination, objects };
  }

  it("copies every awkward key moto can store intact, with content type and metadata, under a new prefix", async () => {
    // Prepare
    const { source, destination, objects } = await seeded(motoKeys());

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.complete, true);
    assert.equal(result.listed, objects.length);
    assert.equal(result.copied, objects.length);
    assert.equal(result.failed, 0);
    assert.deepEqual(await checkObjects(moto.s3, destination, objects, (k) => `copy/${k}`), []);
    assert.deepEqual(await listKeys(moto.s3, destination), sortKeys(objects.map((o) => `copy/${o.key}`)));
  });

  it("copies 1,200 objects listed over many pages and continued ranges, each exactly once", async () => {
    // Prepare
    const { source, destination, objects } = await seeded([...motoKeys(), ...generatedKeys(1_200, "z/")]);

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: moto.endpoint,
      pageSize: 50,
      listTimeoutMs: 1_500,
      listSafetyMs: 1_400,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.complete, true);
    assert.equal(result.listed, objects.length);
    assert.equal(result.copied, objects.length);
    assert.equal(result.failed, 0);
    assert.deepEqual(await listKeys(moto.s3, destination), sortKeys(objects.map((o) => o.key)));
  });

  it("copies a 12 MiB object by parts (UploadPartCopy), with its metadata and source ETag recorded", async () => {
    // Prepare
    const source = bucketName("moto-big-src");
    const destination = bucketName("moto-big-dst");
    await ensureBucket(moto.s3, source);
    await ensureBucket(moto.s3, destination);
    await putLarge(moto.s3, source, "big/video.mp4", 12 * MiB);
    const sourceHead = await moto.s3.send(new HeadObjectCommand({ Bucket: source, Key: "big/video.mp4" }));

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: moto.endpoint,
      jobOptions: { multipartThreshold: 8 * MiB, partSize: 6 * MiB },
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.complete, true, JSON.stringify(result.failures));
    assert.equal(result.copied, 1);
    const head = await moto.s3.send(new HeadObjectCommand({ Bucket: destination, Key: "big/video.mp4" }));
    assert.equal(head.ContentLength, 12 * MiB);
    assert.equal(head.ContentType, "video/mp4");
    assert.deepEqual(head.Metadata?.owner, "team-a");
    assert.equal(head.Metadata?.["s3fanout-source-etag"], sourceHead.ETag);
    assert.match(head.ETag ?? "", /-2"$/, "two parts of 6 MiB");
  });

  it("copies a key with a newline in it", { skip: MOTO_DIFFERENCES.newlineKey }, async () => {
    // Prepare
    const { source, destination, objects } = await seeded(["new\nline"]);

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.copied, 1);
    assert.deepEqual(await checkObjects(moto.s3, destination, objects), []);
  });

  it("fails a key whose destination name is over 1,024 bytes with KeyTooLongError, and copies the rest", {
    skip: MOTO_DIFFERENCES.longKeys,
  }, async () => {
    // Prepare: the longest awkward keys fit at the source (1,024 bytes) but not under a prefix.
    const long = awkwardKeys().filter((k) => Buffer.byteLength(k) === 1_024);
    const { source, destination } = await seeded([...long, "short"]);

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "p/" },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.copied, 1);
    assert.equal(result.failed, long.length);
    assert.ok(result.failures.every((f) => f.error.code === "KeyTooLongError"));
  });

  /** UploadPartCopy of the first part of `key` into a new upload, on the condition that its ETag is `ifMatch`. */
  async function partCopyIfMatch(bucket: string, key: string, ifMatch: string): Promise<string> {
    const { UploadId } = await moto.s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: `${key}.copy` }));
    try {
      await moto.s3.send(
        new UploadPartCopyCommand({
          Bucket: bucket,
          Key: `${key}.copy`,
          UploadId,
          PartNumber: 1,
          CopySource: `${bucket}/${encodeURIComponent(key)}`,
          CopySourceRange: "bytes=0-0",
          CopySourceIfMatch: ifMatch,
        }),
      );
      return "copied";
    } catch (err) {
      return String((err as Error).name);
    } finally {
      await moto.s3.send(new AbortMultipartUploadCommand({ Bucket: bucket, Key: `${key}.copy`, UploadId }));
    }
  }

  it("refuses a part copy whose source no longer has the ETag it was planned from", {
    skip: MOTO_DIFFERENCES.copySourceIfMatch,
  }, async () => {
    // Prepare
    const bucket = bucketName("moto-ifmatch");
    await ensureBucket(moto.s3, bucket);
    await moto.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "before" }));
    const planned = (await moto.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: "k" }))).ETag ?? "";
    await moto.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "after, changed" }));

    // Act
    const outcome = await partCopyIfMatch(bucket, "k", planned);

    // Assess
    assert.equal(outcome, "PreconditionFailed");
  });

  it("stores what the moto differences above say it does (so a skip stays honest)", async () => {
    // Prepare
    const bucket = bucketName("moto-diff");
    await ensureBucket(moto.s3, bucket);
    await moto.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "k", Body: "now" }));
    const overLong = `p/${awkwardKeys().find((k) => Buffer.byteLength(k) === 1_024) ?? ""}`;

    // Act
    const newline = await moto.s3.send(new PutObjectCommand({ Bucket: bucket, Key: "new\nline", Body: "x" })).then(
      () => "stored",
      (err: unknown) => String((err as Error).name),
    );
    const long = await moto.s3.send(new PutObjectCommand({ Bucket: bucket, Key: overLong, Body: "x" })).then(
      () => "stored",
      (err: unknown) => String((err as Error).name),
    );

    const ifMatch = await partCopyIfMatch(bucket, "k", '"00000000000000000000000000000000"');

    // Assess: AWS stores the first, refuses the second with KeyTooLongError and the third with PreconditionFailed.
    assert.notEqual(newline, "stored", "moto now stores keys with a newline: run that case");
    assert.equal(long, "stored", "moto now refuses keys over 1,024 bytes: run that case");
    assert.equal(ifMatch, "copied", "moto now honours x-amz-copy-source-if-match on UploadPartCopy: run that case");
  });
});
