/**
 * Objects that change after they were listed are copied as they now are. A
 * proxy between the pipeline and the emulator rewrites a source object at the
 * moment the copier first touches it: between listing and HEAD (emptied,
 * grown, deleted), and during its copy by parts. Real SDK clients, the local
 * runtime, the emulator.
 */
import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { DeleteObjectCommand, GetObjectCommand, HeadObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { ensureBucket } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { assertSameObjects, bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { listen, readBody, replyS3Error, replyWith, upstreamTo } from "../support/forward.ts";
import { MiB, putLarge } from "../support/largeObject.ts";

const sha = (b: Uint8Array) => createHash("sha256").update(b).digest("hex");
const unquoted = (etag: string | undefined) => (etag ?? "").replaceAll('"', "");

/**
 * Runs a change to the source when the copier first HEADs an object, or first copies a part of it.
 * It also answers UploadPartCopy's x-amz-copy-source-if-match as S3 does (412 PreconditionFailed
 * when the source's ETag differs), which the emulator ignores.
 */
async function startChangingProxy(target: string, s3: S3Client) {
  const upstream = upstreamTo(target);
  const onHead = new Map<string, () => Promise<void>>();
  const onPart = new Map<string, () => Promise<void>>();
  const seen = { heads: 0, preconditionFailed: 0 };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://proxy");
    const path = decodeURIComponent(url.pathname);
    const change = req.method === "HEAD" ? onHead.get(path) : undefined;
    if (change) {
      onHead.delete(path);
      seen.heads++;
      await change();
    }
    const copySource = req.headers["x-amz-copy-source"];
    if (req.method === "PUT" && typeof copySource === "string" && url.searchParams.has("partNumber")) {
      const source = `/${decodeURIComponent(copySource).replace(/^\//, "")}`;
      const midCopy = onPart.get(source);
      if (midCopy) {
        onPart.delete(source);
        await midCopy();
      }
      const ifMatch = req.headers["x-amz-copy-source-if-match"];
      if (typeof ifMatch === "string") {
        const [bucket = "", ...key] = source.slice(1).split("/");
        const now = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key.join("/") })).catch(() => undefined);
        if (unquoted(now?.ETag) !== unquoted(ifMatch)) {
          seen.preconditionFailed++;
          replyS3Error(res, 412, "PreconditionFailed", "At least one of the pre-conditions you specified did not hold");
          return;
        }
      }
    }
    replyWith(res, await upstream.send(req, body));
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return { endpoint: proxy.endpoint, onHead, onPart, seen, close: proxy.close };
}

describe("sources changed after listing", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  it("copies each object as it is at its copy: emptied by CopyObject, regrown by parts from a fresh HEAD, deleted as vanished, changed mid-copy from the start", async () => {
    // Prepare: four 12 MiB objects listed with multipart ETags, and one small object.
    const source = bucketName("chg-src");
    const destination = bucketName("chg-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    for (const key of ["emptied.bin", "regrown.bin", "deleted.bin", "changed.bin"]) await putLarge(emulator.s3, source, key, 12 * MiB);
    await emulator.s3.send(new PutObjectCommand({ Bucket: source, Key: "small.txt", Body: "small" }));
    const proxy = await startChangingProxy(emulator.endpoint, emulator.s3);
    const put = (key: string, body: string) => async () => {
      await emulator.s3.send(new PutObjectCommand({ Bucket: source, Key: key, Body: body }));
    };
    proxy.onHead.set(`/${source}/emptied.bin`, put("emptied.bin", ""));
    proxy.onHead.set(`/${source}/regrown.bin`, async () => {
      await putLarge(emulator.s3, source, "regrown.bin", 21 * MiB);
    });
    proxy.onHead.set(`/${source}/deleted.bin`, async () => {
      await emulator.s3.send(new DeleteObjectCommand({ Bucket: source, Key: "deleted.bin" }));
    });
    proxy.onPart.set(`/${source}/changed.bin`, async () => {
      await putLarge(emulator.s3, source, "changed.bin", 16 * MiB);
    });

    // Act
    let result: Awaited<ReturnType<typeof runLocalJob>>;
    try {
      result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: destination, prefix: "" },
        endpoint: proxy.endpoint,
        jobOptions: { multipartThreshold: 8 * MiB, partSize: 5 * MiB },
        logLevel: "SILENT",
      });
    } finally {
      await proxy.close();
    }

    // Assess: every change happened where it was meant to, and the job finished with no failure.
    assert.equal(proxy.seen.heads, 3);
    assert.ok(proxy.seen.preconditionFailed >= 1, "a part of the changed object was refused");
    assert.equal(result.complete, true);
    assert.deepEqual(
      { listed: result.listed, copied: result.copied, vanished: result.vanishedKeys, failed: result.failures.map((f) => f.key) },
      { listed: 5, copied: 4, vanished: ["deleted.bin"], failed: [] },
    );
    assert.equal(result.bytes, 0 + 21 * MiB + 16 * MiB + 5, "bytes as copied, not as listed");
    // The destination holds each object as the source holds it now, byte for byte.
    for (const [key, size] of [
      ["emptied.bin", 0],
      ["regrown.bin", 21 * MiB],
      ["changed.bin", 16 * MiB],
      ["small.txt", 5],
    ] as const) {
      const [from, to] = await Promise.all(
        [source, destination].map(async (bucket) => {
          const out = await emulator.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          return (await out.Body?.transformToByteArray()) ?? new Uint8Array();
        }),
      );
      assert.equal(to?.length, size, key);
      assert.equal(sha(to ?? new Uint8Array()), sha(from ?? new Uint8Array()), key);
    }
    await assertSameObjects(emulator.s3, source, destination, 4);
  });
});
