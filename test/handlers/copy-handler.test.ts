/**
 * The copy handler over the real S3 and SQS adapters, with the SDK clients'
 * `send` mocked: what it asks S3 to copy, how it retries, what it re-enqueues
 * or parks in the DLQ, what it records, and which records it reports failed.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  type CopyObjectCommandInput,
  CreateMultipartUploadCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListPartsCommand,
  NoSuchKey,
  S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import { SendMessageBatchCommand, type SendMessageBatchCommandInput } from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import type { PipelineConfig } from "../../lambdas/config.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { batchIdOf } from "../../lambdas/core/ids.ts";
import { decodeKey } from "../../lambdas/core/keyCodec.ts";
import { AdaptiveLimiter } from "../../lambdas/core/limiter.ts";
import { type CopyItem, type CopyTask, copyBody, type JobRef, listBody, parseCopyBody } from "../../lambdas/core/messages.ts";
import {
  fakeContext,
  gate,
  mockedClients,
  parseJsonObject,
  QUEUE_URLS,
  RecordingLedger,
  s3Error,
  sentTo,
  settleEventLoop,
  silentLogger,
  sqsEvent,
  sqsRecord,
  testConfig,
  testJob,
} from "./support/harness.ts";

function setup(config: PipelineConfig = testConfig(), limiter?: AdaptiveLimiter) {
  const clients = mockedClients();
  const ledger = new RecordingLedger();
  const halt = new LocalHaltSignal();
  const store = new S3ObjectStore(clients.s3);
  const handler = createCopyHandler({
    store,
    multipart: store,
    sink: new SqsMessageSink(clients.sqs, config.queues),
    ledger,
    halt,
    config,
    logger: silentLogger(),
    limiter,
  });
  return { ...clients, ledger, halt, handler };
}

function copyTask(job: JobRef, items: readonly CopyItem[], extra: { attempt?: number; batchId?: string } = {}): CopyTask {
  return { job, batchId: extra.batchId ?? "batch-1", attempt: extra.attempt ?? 0, items };
}

function items(...keys: string[]): CopyItem[] {
  return keys.map((key, i) => ({ key, size: 10 * (i + 1), etag: `"etag-${i}"` }));
}

function copyCalls(s3Mock: ReturnType<typeof setup>["s3Mock"]): CopyObjectCommandInput[] {
  return s3Mock.commandCalls(CopyObjectCommand).map((c) => c.args[0].input);
}

function callsFor(s3Mock: ReturnType<typeof setup>["s3Mock"], destinationKey: string): number {
  return copyCalls(s3Mock).filter((c) => c.Key === destinationKey).length;
}

/** Parsed copy DLQ records, with their key decoded. */
function dlqRecords(sqsMock: ReturnType<typeof setup>["sqsMock"]) {
  return sentTo(sqsMock, QUEUE_URLS.copyDlq).map((m) => {
    const record = parseJsonObject(m.body);
    const error = record.error;
    return {
      type: record.type,
      key: typeof record.key === "string" ? decodeKey(record.key) : undefined,
      attempts: record.attempts,
      batch: record.batch,
      code: typeof error === "object" && error !== null && "code" in error ? error.code : undefined,
      status: typeof error === "object" && error !== null && "status" in error ? error.status : undefined,
    };
  });
}

describe("copy handler", () => {
  describe("copying", () => {
    it("copies each key server-side with a URL-encoded CopySource and metadata carried over", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const body = copyBody(copyTask(testJob(), items("a b+c%20d")));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(copyCalls(s3Mock), [
        { Bucket: "dst", Key: "a b+c%20d", CopySource: "src/a%20b%2Bc%2520d", MetadataDirective: "COPY" },
      ]);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
      assert.deepEqual(
        ledger.batchRecords.map((o) => [o.batchId, o.copied, o.copiedBytes, o.failed.length, o.vanished.length, o.children.length]),
        [["batch-1", 1, 10, 0, 0, 0]],
      );
    });

    it("rewrites the source prefix to the destination prefix and keeps slashes in CopySource", async () => {
      // Prepare
      const { s3Mock, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const job = testJob({ sourcePrefix: "in/", destinationPrefix: "archive/2024/" });
      const body = copyBody(copyTask(job, items("in/a b", "in/dir/é😀", "in/ctl\u0001?#&")));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const byKey = new Map(copyCalls(s3Mock).map((c) => [c.Key, c]));
      assert.deepEqual([...byKey.keys()].sort(), ["archive/2024/a b", "archive/2024/ctl\u0001?#&", "archive/2024/dir/é😀"]);
      assert.equal(byKey.get("archive/2024/a b")?.CopySource, "src/in/a%20b");
      assert.equal(byKey.get("archive/2024/dir/é😀")?.CopySource, "src/in/dir/%C3%A9%F0%9F%98%80");
      assert.equal(byKey.get("archive/2024/ctl\u0001?#&")?.CopySource, "src/in/ctl%01%3F%23%26");
      assert.ok(copyCalls(s3Mock).every((c) => c.Bucket === "dst" && c.MetadataDirective === "COPY"));
    });
  });

  describe("recording", () => {
    it("records the outcomes of every batch of an invocation in one ledger write, naming each copied key", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const job = testJob();
      const bodies = [
        copyBody(copyTask(job, items("a1", "a2"), { batchId: "batch-a" })),
        "not json",
        copyBody(copyTask(job, items("b1"), { batchId: "batch-b" })),
        copyBody(copyTask(job, items("c1", "c2", "c3"), { batchId: "batch-c" })),
      ];

      // Act
      const result = await handler(sqsEvent(...bodies.map((b, i) => sqsRecord(b, `m${i}`))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(ledger.writes, [["batch-a", "batch-b", "batch-c"]]);
      assert.deepEqual(
        ledger.batchRecords.map((o) => [o.batchId, o.copiedKeys]),
        [
          ["batch-a", ["a1", "a2"]],
          ["batch-b", ["b1"]],
          ["batch-c", ["c1", "c2", "c3"]],
        ],
      );
      assert.equal(sentTo(sqsMock, QUEUE_URLS.copyDlq).length, 1, "the poison record is parked");
    });

    it("fails every record of the invocation when their outcomes cannot be recorded, so all come back", async () => {
      // Prepare
      const { s3Mock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      ledger.recordBatches = async () => {
        throw new Error("ledger bucket unreachable");
      };
      const job = testJob();

      // Act
      const result = await handler(
        sqsEvent(
          sqsRecord(copyBody(copyTask(job, items("a"), { batchId: "batch-a" })), "m1"),
          sqsRecord(copyBody(copyTask(job, items("b"), { batchId: "batch-b" })), "m2"),
        ),
        fakeContext(),
      );

      // Assess
      assert.deepEqual(
        result.batchItemFailures.map((f) => f.itemIdentifier),
        ["m1", "m2"],
      );
    });
  });

  describe("copying a named version", () => {
    it("copies the version a manifest row named, by CopyObject and by parts, and reports it with a failure", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      const MiB = 1024 ** 2;
      s3Mock.on(CopyObjectCommand, { Key: "small" }).resolves({});
      s3Mock.on(CopyObjectCommand, { Key: "denied" }).rejects(s3Error("AccessDenied", 403));
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 12 * MiB, ETag: '"big-2"', Metadata: {} });
      s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "up-v" });
      s3Mock
        .on(UploadPartCopyCommand)
        .callsFake(async (input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"p${input.PartNumber}"` } }));
      s3Mock.on(CompleteMultipartUploadCommand).resolves({});
      const job = { ...testJob(), options: { multipartThreshold: 8 * MiB, partSize: 5 * MiB } };
      const body = copyBody(
        copyTask(job, [
          { key: "small", size: 3, etag: '"s"', versionId: "v1.small+/=" },
          { key: "big", size: 12 * MiB, etag: '"big-2"', versionId: "v2big" },
          { key: "denied", size: 3, versionId: "v3" },
          { key: "current", size: 3 },
        ]),
      );
      s3Mock.on(CopyObjectCommand, { Key: "current" }).resolves({});

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const sources = new Map(copyCalls(s3Mock).map((c) => [c.Key, c.CopySource]));
      assert.equal(sources.get("small"), "src/small?versionId=v1.small%2B%2F%3D");
      assert.equal(sources.get("denied"), "src/denied?versionId=v3");
      assert.equal(sources.get("current"), "src/current", "no version named: the current one");
      assert.deepEqual(
        s3Mock.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.VersionId),
        ["v2big"],
      );
      assert.deepEqual(
        s3Mock.commandCalls(GetObjectTaggingCommand).map((c) => c.args[0].input.VersionId),
        ["v2big"],
      );
      const parts = s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySource);
      assert.deepEqual(parts, ["src/big?versionId=v2big", "src/big?versionId=v2big", "src/big?versionId=v2big"]);
      const dlq = sentTo(sqsMock, QUEUE_URLS.copyDlq).map((m) => parseJsonObject(m.body));
      assert.deepEqual(
        dlq.map((r) => [r.key, r.versionId]),
        [["denied", "v3"]],
      );
      assert.deepEqual(parseCopyBody(String(dlq.length > 0 ? sentTo(sqsMock, QUEUE_URLS.copyDlq)[0]?.body : "")).items, [
        { key: "denied", size: 3, etag: undefined, versionId: "v3" },
      ]);
      assert.deepEqual(
        ledger.batchRecords.flatMap((o) => o.failed.map((f) => [f.key, f.versionId])),
        [["denied", "v3"]],
      );
    });

    it("keeps a version id through the wire form and gives it a batch id of its own", () => {
      // Prepare
      const job = testJob();
      const plain = copyTask(job, [{ key: "k", size: 1 }]);
      const versioned = copyTask(job, [{ key: "k", size: 1, versionId: "abc" }]);

      // Act
      const parsed = parseCopyBody(copyBody(versioned));

      // Assess
      assert.deepEqual(parsed.items, [{ key: "k", size: 1, etag: undefined, versionId: "abc" }]);
      assert.notEqual(batchIdOf(job.id, plain.items, 0), batchIdOf(job.id, versioned.items, 0));
    });
  });

  describe("copying by parts", () => {
    const GiB = 1024 ** 3;
    const MiB = 1024 ** 2;

    function multipartMocks(s3Mock: ReturnType<typeof setup>["s3Mock"], size: number) {
      s3Mock.on(HeadObjectCommand).resolves({
        ContentLength: size,
        ETag: '"src-etag-7"',
        ContentType: "video/mp4",
        CacheControl: "max-age=60",
        ContentDisposition: "attachment",
        Metadata: { owner: "team-a" },
      });
      s3Mock.on(GetObjectTaggingCommand).resolves({
        TagSet: [
          { Key: "a", Value: "1" },
          { Key: "b", Value: "x y" },
        ],
      });
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "upload-1" });
      s3Mock
        .on(UploadPartCopyCommand)
        .callsFake(async (input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"part-${input.PartNumber}"` } }));
      s3Mock.on(CompleteMultipartUploadCommand).resolves({ ETag: '"whole-96"' });
    }

    it("copies an object above CopyObject's 5 GiB limit by parts, with its headers, metadata and tags", async () => {
      // Prepare
      const { s3Mock, ledger, handler } = setup();
      const size = 6 * GiB;
      multipartMocks(s3Mock, size);
      const body = copyBody(copyTask(testJob(), [{ key: "huge video.mp4", size, etag: '"src-etag-7"' }]));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      const create = s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input;
      assert.equal(create?.Bucket, "dst");
      assert.equal(create?.Key, "huge video.mp4");
      assert.equal(create?.ContentType, "video/mp4");
      assert.equal(create?.CacheControl, "max-age=60");
      assert.equal(create?.ContentDisposition, "attachment");
      assert.deepEqual(create?.Metadata, { owner: "team-a", "s3fanout-source-etag": '"src-etag-7"' });
      assert.equal(create?.Tagging, "a=1&b=x%20y");
      const parts = s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input);
      assert.equal(parts.length, Math.ceil(size / (64 * MiB)));
      assert.ok(
        parts.every((p) => p.CopySource === "src/huge%20video.mp4" && p.CopySourceIfMatch === '"src-etag-7"' && p.UploadId === "upload-1"),
      );
      const ranges = parts.map((p) => p.CopySourceRange).sort();
      assert.ok(ranges.includes(`bytes=0-${64 * MiB - 1}`));
      assert.ok(ranges.includes(`bytes=${size - 64 * MiB}-${size - 1}`));
      const complete = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input;
      const numbers = complete?.MultipartUpload?.Parts?.map((p) => p.PartNumber) ?? [];
      assert.deepEqual(
        numbers,
        [...numbers].sort((a, b) => (a ?? 0) - (b ?? 0)),
      );
      assert.equal(numbers.length, parts.length);
      assert.equal(ledger.batchRecords[0]?.copied, 1);
      assert.equal(ledger.batchRecords[0]?.copiedBytes, size);
    });

    it("hands an unfinished copy by parts to the next delivery with its upload id, which copies only the missing parts", async () => {
      // Prepare: a job threshold of 8 MiB and 5 MiB parts; the deadline arrives after 2 parts.
      const { s3Mock, sqsMock, handler } = setup(testConfig({ copySafetyMs: 1_000, partConcurrency: 1 }));
      const size = 20 * MiB;
      multipartMocks(s3Mock, size);
      let remaining = 60_000;
      s3Mock.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber?: number }) => {
        remaining = 500; // the invocation is nearly out of time once a part is in
        return { CopyPartResult: { ETag: `"part-${input.PartNumber}"` } };
      });
      const job = { ...testJob(), options: { multipartThreshold: 8 * MiB, partSize: 5 * MiB } };
      const context = { ...fakeContext(), getRemainingTimeInMillis: () => remaining };

      // Act
      const first = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [{ key: "big.bin", size, etag: '"src-etag-7"' }])))), context);

      // Assess: some parts copied, none completed, the key re-enqueued with its upload.
      assert.deepEqual(first.batchItemFailures, []);
      const copiedFirst = s3Mock.commandCalls(UploadPartCopyCommand).length;
      assert.ok(copiedFirst >= 1 && copiedFirst < 4, `copied ${copiedFirst} parts`);
      assert.equal(s3Mock.commandCalls(CompleteMultipartUploadCommand).length, 0);
      const next = sentTo(sqsMock, QUEUE_URLS.copy).map((m) => parseCopyBody(m.body));
      assert.equal(next.length, 1);
      assert.deepEqual(next[0]?.items, [{ key: "big.bin", size, etag: '"src-etag-7"', uploadId: "upload-1" }]);

      // Act: the next delivery, with time, lists the parts there and copies the rest.
      const done = s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.PartNumber ?? 0);
      s3Mock.on(ListPartsCommand).resolves({ Parts: done.map((n) => ({ PartNumber: n, ETag: `"part-${n}"` })), IsTruncated: false });
      s3Mock
        .on(UploadPartCopyCommand)
        .callsFake(async (input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"part-${input.PartNumber}"` } }));
      const resumedTask = next[0];
      assert.ok(resumedTask);
      const second = await handler(sqsEvent(sqsRecord(copyBody(resumedTask))), fakeContext());

      // Assess
      assert.deepEqual(second.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(CreateMultipartUploadCommand).length, 1, "no second upload");
      assert.equal(s3Mock.commandCalls(UploadPartCopyCommand).length, 4, "each part copied once");
      const parts = s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.MultipartUpload?.Parts;
      assert.deepEqual(
        parts?.map((p) => [p.PartNumber, p.ETag]),
        [1, 2, 3, 4].map((n) => [n, `"part-${n}"`]),
      );
    });

    it("aborts the upload and parks the key when a part fails for good", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      const size = 6 * GiB;
      multipartMocks(s3Mock, size);
      s3Mock.on(UploadPartCopyCommand).rejects(s3Error("AccessDenied", 403));
      s3Mock.on(AbortMultipartUploadCommand).resolves({});

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(testJob(), [{ key: "huge.bin", size }])))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-1");
      assert.equal(s3Mock.commandCalls(CompleteMultipartUploadCommand).length, 0);
      assert.deepEqual(
        dlqRecords(sqsMock).map((r) => [r.key, r.code]),
        [["huge.bin", "AccessDenied"]],
      );
      assert.equal(ledger.batchRecords[0]?.failed.length, 1);
    });

    it("starts over from the new version when the source changed since the parts were copied", async () => {
      // Prepare: the message carries an upload begun from version "old".
      const { s3Mock, handler } = setup();
      const size = 6 * GiB;
      multipartMocks(s3Mock, size);
      s3Mock.on(AbortMultipartUploadCommand).resolves({});
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "upload-2" });
      const item = { key: "huge.bin", size, etag: '"old"', uploadId: "upload-1" };

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(testJob(), [item])))), fakeContext());

      // Assess
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-1");
      assert.equal(s3Mock.commandCalls(ListPartsCommand).length, 0);
      assert.ok(s3Mock.commandCalls(UploadPartCopyCommand).every((c) => c.args[0].input.UploadId === "upload-2"));
      assert.equal(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-2");
    });
  });

  describe("sources changed since listing", () => {
    const MiB = 1024 ** 2;
    const job = { ...testJob(), options: { multipartThreshold: 8 * MiB, partSize: 5 * MiB } };
    const listed = { key: "big.bin", size: 20 * MiB, etag: '"0123456789abcdef0123456789abcdef-4"' };

    function partsMocks(s3Mock: ReturnType<typeof setup>["s3Mock"]) {
      let uploads = 0;
      s3Mock.on(GetObjectTaggingCommand).resolves({ TagSet: [] });
      s3Mock.on(CreateMultipartUploadCommand).callsFake(async () => ({ UploadId: `upload-${++uploads}` }));
      s3Mock
        .on(UploadPartCopyCommand)
        .callsFake(async (input: { PartNumber?: number }) => ({ CopyPartResult: { ETag: `"part-${input.PartNumber}"` } }));
      s3Mock.on(CompleteMultipartUploadCommand).resolves({});
      s3Mock.on(AbortMultipartUploadCommand).resolves({});
      s3Mock.on(CopyObjectCommand).resolves({});
    }

    it("copies by CopyObject an object listed by parts and emptied since, counting the bytes it has now", async () => {
      // Prepare
      const { s3Mock, ledger, handler } = setup();
      partsMocks(s3Mock);
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 0, ETag: '"d41d8cd98f00b204e9800998ecf8427e"' });

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [listed])))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(CreateMultipartUploadCommand).length, 0);
      assert.deepEqual(
        copyCalls(s3Mock).map((c) => c.Key),
        ["big.bin"],
      );
      assert.deepEqual([ledger.batchRecords[0]?.copied, ledger.batchRecords[0]?.copiedBytes], [1, 0]);
    });

    it("plans the parts from the HEAD, not from the listing", async () => {
      // Prepare: listed at 20 MiB, 12 MiB when copied.
      const { s3Mock, ledger, handler } = setup();
      partsMocks(s3Mock);
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 12 * MiB, ETag: '"fedcba9876543210fedcba9876543210-3"' });

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [listed])))), fakeContext());

      // Assess
      const ranges = s3Mock.commandCalls(UploadPartCopyCommand).map((c) => c.args[0].input.CopySourceRange);
      assert.deepEqual(ranges.sort(), [`bytes=0-${5 * MiB - 1}`, `bytes=${10 * MiB}-${12 * MiB - 1}`, `bytes=${5 * MiB}-${10 * MiB - 1}`]);
      assert.deepEqual([ledger.batchRecords[0]?.copied, ledger.batchRecords[0]?.copiedBytes], [1, 12 * MiB]);
    });

    it("counts an object deleted since listing as vanished and aborts the upload an earlier delivery began", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      partsMocks(s3Mock);
      s3Mock.on(HeadObjectCommand).rejects(s3Error("NotFound", 404));

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [{ ...listed, uploadId: "upload-0" }])))), fakeContext());

      // Assess
      assert.deepEqual(ledger.batchRecords[0]?.vanished, ["big.bin"]);
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-0");
      assert.equal(sentTo(sqsMock, QUEUE_URLS.copy).length + sentTo(sqsMock, QUEUE_URLS.copyDlq).length, 0);
    });

    it("starts again from a fresh HEAD, in the same delivery, when a part finds the source changed (412)", async () => {
      // Prepare: the source is "old" at the first HEAD and "new" from then on; parts of "old" are refused.
      const { s3Mock, sqsMock, ledger, handler } = setup();
      partsMocks(s3Mock);
      s3Mock
        .on(HeadObjectCommand)
        .resolvesOnce({ ContentLength: 20 * MiB, ETag: '"old"' })
        .resolves({ ContentLength: 20 * MiB, ETag: '"new"' });
      s3Mock.on(UploadPartCopyCommand).callsFake(async (input: { PartNumber?: number; CopySourceIfMatch?: string }) => {
        if (input.CopySourceIfMatch !== '"new"') throw s3Error("PreconditionFailed", 412);
        return { CopyPartResult: { ETag: `"part-${input.PartNumber}"` } };
      });

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [listed])))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-1");
      assert.equal(s3Mock.commandCalls(CompleteMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-2");
      assert.equal(s3Mock.commandCalls(CreateMultipartUploadCommand)[1]?.args[0].input.Metadata?.["s3fanout-source-etag"], '"new"');
      assert.equal(ledger.batchRecords[0]?.copied, 1);
      assert.equal(sentTo(sqsMock, QUEUE_URLS.copy).length, 0, "nothing left for a later delivery");
    });

    it("starts again when the source changed by the time its parts were copied, on an endpoint that ignores if-match", async () => {
      // Prepare: every part succeeds, but the HEAD before completing finds a new version.
      const { s3Mock, ledger, handler } = setup();
      partsMocks(s3Mock);
      s3Mock
        .on(HeadObjectCommand)
        .resolvesOnce({ ContentLength: 20 * MiB, ETag: '"old"' })
        .resolves({ ContentLength: 20 * MiB, ETag: '"new"' });

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [listed])))), fakeContext());

      // Assess
      const completed = s3Mock.commandCalls(CompleteMultipartUploadCommand).map((c) => c.args[0].input.UploadId);
      assert.deepEqual(completed, ["upload-2"]);
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand)[0]?.args[0].input.UploadId, "upload-1");
      assert.ok(
        s3Mock
          .commandCalls(UploadPartCopyCommand)
          .filter((c) => c.args[0].input.UploadId === "upload-2")
          .every((c) => c.args[0].input.CopySourceIfMatch === '"new"'),
      );
      assert.equal(ledger.batchRecords[0]?.copied, 1);
    });

    it("re-enqueues a key whose source keeps changing, after a bounded number of fresh starts", async () => {
      // Prepare: a new version at every HEAD.
      const { s3Mock, sqsMock, ledger, handler } = setup();
      partsMocks(s3Mock);
      let version = 0;
      s3Mock.on(HeadObjectCommand).callsFake(async () => ({ ContentLength: 20 * MiB, ETag: `"v${++version}"` }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [listed])))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(CompleteMultipartUploadCommand).length, 0);
      assert.equal(s3Mock.commandCalls(CreateMultipartUploadCommand).length, 3, "the first start and two fresh ones");
      assert.equal(s3Mock.commandCalls(AbortMultipartUploadCommand).length, 3, "no upload left behind");
      const next = sentTo(sqsMock, QUEUE_URLS.copy).map((m) => parseCopyBody(m.body));
      assert.deepEqual(
        next.map((t) => [t.attempt, t.items.map((i) => [i.key, i.uploadId])]),
        [[1, [["big.bin", undefined]]]],
      );
      assert.equal(ledger.batchRecords[0]?.copied, 0);
    });
  });

  describe("copying, continued", () => {
    it("parks a key outside the job's source prefix in the DLQ without copying it", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const body = copyBody(copyTask(testJob({ sourcePrefix: "in/" }), items("elsewhere/k")));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      assert.deepEqual(
        dlqRecords(sqsMock).map((r) => [r.type, r.key]),
        [["copy-failure", "elsewhere/k"]],
      );
    });
  });

  describe("transient errors", () => {
    const transient: readonly (readonly [string, number])[] = [
      ["SlowDown", 503],
      ["InternalError", 500],
      ["ServiceUnavailable", 503],
    ];
    for (const [code, status] of transient) {
      it(`retries a ${code} (${status}) within the invocation and then copies`, async () => {
        // Prepare
        const { s3Mock, sqsMock, ledger, handler } = setup();
        s3Mock.on(CopyObjectCommand).rejectsOnce(s3Error(code, status)).resolves({});
        const body = copyBody(copyTask(testJob(), items("k1")));

        // Act
        const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

        // Assess
        assert.deepEqual(result.batchItemFailures, []);
        assert.equal(copyCalls(s3Mock).length, 2);
        assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
        assert.equal(ledger.batchRecords[0]?.copied, 1);
        assert.deepEqual(ledger.batchRecords[0]?.failed, []);
      });
    }

    it("retries a network error that never got an HTTP answer", async () => {
      // Prepare
      const { s3Mock, ledger, handler } = setup();
      s3Mock
        .on(CopyObjectCommand)
        .rejectsOnce(Object.assign(new Error("socket hang up"), { code: "ECONNRESET" }))
        .resolves({});

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(testJob(), items("k1"))))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 2);
      assert.equal(ledger.batchRecords[0]?.copied, 1);
    });

    it("halves the shared concurrency limit when S3 says SlowDown", async () => {
      // Prepare
      const limiter = new AdaptiveLimiter({ max: 8 });
      const { s3Mock, handler } = setup(testConfig({ copyConcurrency: 8 }), limiter);
      s3Mock.on(CopyObjectCommand).rejectsOnce(s3Error("SlowDown", 503)).resolves({});

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(testJob(), items("k1"))))), fakeContext());

      // Assess
      assert.equal(limiter.limit, 4);
    });

    it("re-enqueues a key that keeps failing as a new copy message with attempt+1 and only the failing keys", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      s3Mock.on(CopyObjectCommand, { Key: "bad" }).rejects(s3Error("InternalError", 500));
      const job = testJob();
      const record = sqsRecord(copyBody(copyTask(job, items("ok1", "bad", "ok2"), { attempt: 0, batchId: "parent" })));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(callsFor(s3Mock, "bad"), 3);
      assert.equal(callsFor(s3Mock, "ok1"), 1);
      const requeued = sentTo(sqsMock, QUEUE_URLS.copy);
      assert.equal(requeued.length, 1);
      const child = parseCopyBody(requeued[0]?.body ?? "");
      assert.equal(child.attempt, 1);
      assert.deepEqual(child.job, job);
      assert.deepEqual(child.items, [{ key: "bad", size: 20, etag: '"etag-1"' }]);
      assert.notEqual(child.batchId, "parent");
      assert.deepEqual(dlqRecords(sqsMock), []);
      const outcome = ledger.batchRecords[0];
      assert.equal(outcome?.batchId, "parent");
      assert.equal(outcome?.copied, 2);
      assert.deepEqual(outcome?.failed, []);
      assert.deepEqual(
        outcome?.children.map((c) => c.batchId),
        [child.batchId],
      );
    });

    it("parks keys still failing at the last delivery in the copy DLQ, one record per key with its error code", async () => {
      // Prepare
      const config = testConfig();
      const lastAttempt = config.copyPolicy.maxDeliveries - 1;
      const { s3Mock, sqsMock, ledger, handler } = setup(config);
      s3Mock.on(CopyObjectCommand).resolves({});
      s3Mock.on(CopyObjectCommand, { Key: "bad 1" }).rejects(s3Error("InternalError", 500));
      s3Mock.on(CopyObjectCommand, { Key: "bad+2" }).rejects(s3Error("SlowDown", 503));
      const body = copyBody(copyTask(testJob(), items("bad 1", "fine", "bad+2"), { attempt: lastAttempt, batchId: "last" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(callsFor(s3Mock, "bad 1"), config.copyPolicy.triesPerDelivery);
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.copy), []);
      const parked = dlqRecords(sqsMock).sort((a, b) => String(a.key).localeCompare(String(b.key)));
      assert.deepEqual(parked, [
        { type: "copy-failure", key: "bad 1", attempts: 3, batch: "last", code: "InternalError", status: 500 },
        { type: "copy-failure", key: "bad+2", attempts: 3, batch: "last", code: "SlowDown", status: 503 },
      ]);
      assert.equal(ledger.batchRecords[0]?.copied, 1);
      assert.deepEqual(ledger.batchRecords[0]?.failed.map((f) => f.key).sort(), ["bad 1", "bad+2"]);
    });
  });

  describe("throttled keys", () => {
    const policy = { triesPerDelivery: 2, maxDeliveries: 3, maxThrottledDeliveries: 6, backoff: { baseMs: 1, capMs: 2 } };

    it("gives a throttled key more deliveries than other transient errors before the DLQ", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup(testConfig({ copyPolicy: policy }));
      s3Mock.on(CopyObjectCommand, { Key: "slow" }).rejects(s3Error("SlowDown", 503));
      s3Mock.on(CopyObjectCommand, { Key: "bad" }).rejects(s3Error("InternalError", 500));
      const body = copyBody(copyTask(testJob(), items("slow", "bad"), { attempt: policy.maxDeliveries - 1 }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const requeued = sentTo(sqsMock, QUEUE_URLS.copy).map((m) => parseCopyBody(m.body));
      assert.deepEqual(
        requeued.map((c) => [c.attempt, c.items.map((i) => i.key)]),
        [[policy.maxDeliveries, ["slow"]]],
      );
      assert.deepEqual(
        dlqRecords(sqsMock).map((r) => [r.key, r.code]),
        [["bad", "InternalError"]],
      );
    });

    it("keeps COPY_MAX_DELIVERIES for throttled keys when it is the larger", async () => {
      // Prepare: 3 deliveries for any transient error, 2 for a throttled key: the larger stands.
      const { s3Mock, sqsMock, handler } = setup(testConfig({ copyPolicy: { ...policy, maxThrottledDeliveries: 2 } }));
      s3Mock.on(CopyObjectCommand).rejects(s3Error("SlowDown", 503));
      const body = copyBody(copyTask(testJob(), items("slow"), { attempt: 1 }));

      // Act
      await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(
        sentTo(sqsMock, QUEUE_URLS.copy).map((m) => parseCopyBody(m.body).attempt),
        [2],
      );
      assert.deepEqual(dlqRecords(sqsMock), []);
    });

    it("parks a key throttled at its last throttled delivery in the copy DLQ", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup(testConfig({ copyPolicy: policy }));
      s3Mock.on(CopyObjectCommand).rejects(s3Error("SlowDown", 503));
      const body = copyBody(copyTask(testJob(), items("slow"), { attempt: policy.maxThrottledDeliveries - 1, batchId: "last" }));

      // Act
      await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.copy), []);
      assert.deepEqual(dlqRecords(sqsMock), [
        { type: "copy-failure", key: "slow", attempts: policy.maxThrottledDeliveries, batch: "last", code: "SlowDown", status: 503 },
      ]);
    });
  });

  describe("permanent errors and vanished keys", () => {
    it("does not retry AccessDenied and parks the key in the DLQ straight away", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).rejects(s3Error("AccessDenied", 403, "Access Denied"));
      const body = copyBody(copyTask(testJob(), items("secret"), { attempt: 0 }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 1);
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.copy), []);
      assert.deepEqual(dlqRecords(sqsMock), [
        { type: "copy-failure", key: "secret", attempts: 1, batch: "batch-1", code: "AccessDenied", status: 403 },
      ]);
      assert.deepEqual(
        ledger.failures().map((f) => [f.key, f.error.code]),
        [["secret", "AccessDenied"]],
      );
    });

    it("counts a key that vanished from the source as vanished, not failed", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      s3Mock
        .on(CopyObjectCommand, { Key: "gone" })
        .rejects(new NoSuchKey({ message: "The specified key does not exist.", $metadata: { httpStatusCode: 404 } }));
      const body = copyBody(copyTask(testJob(), items("kept", "gone")));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(callsFor(s3Mock, "gone"), 1);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
      const outcome = ledger.batchRecords[0];
      assert.deepEqual(outcome?.vanished, ["gone"]);
      assert.deepEqual(outcome?.failed, []);
      assert.equal(outcome?.copied, 1);
    });
  });

  describe("concurrency", () => {
    it("keeps many copies in flight at once, bounded by copyConcurrency", async () => {
      // Prepare
      const concurrency = 4;
      const { s3Mock, ledger, handler } = setup(testConfig({ copyConcurrency: concurrency }));
      const release = gate();
      const saturated = gate();
      let inFlight = 0;
      let maxInFlight = 0;
      s3Mock.on(CopyObjectCommand).callsFake(async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        if (inFlight >= concurrency) saturated.open();
        await release.promise;
        inFlight--;
        return {};
      });
      const keys = Array.from({ length: 12 }, (_, i) => `k${i}`);
      const body = copyBody(copyTask(testJob(), items(...keys)));

      // Act
      const pending = handler(sqsEvent(sqsRecord(body)), fakeContext());
      await Promise.race([saturated.promise, settleEventLoop(500)]);
      await settleEventLoop();
      const inFlightWhileHeld = inFlight;
      release.open();
      const result = await pending;

      // Assess
      assert.equal(inFlightWhileHeld, concurrency);
      assert.ok(maxInFlight > 1);
      assert.ok(maxInFlight <= concurrency);
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 12);
      assert.equal(ledger.batchRecords[0]?.copied, 12);
    });

    it("shares one concurrency bound across the records of a batch", async () => {
      // Prepare
      const concurrency = 3;
      const { s3Mock, handler } = setup(testConfig({ copyConcurrency: concurrency }));
      const release = gate();
      let inFlight = 0;
      let maxInFlight = 0;
      s3Mock.on(CopyObjectCommand).callsFake(async () => {
        inFlight++;
        maxInFlight = Math.max(maxInFlight, inFlight);
        await release.promise;
        inFlight--;
        return {};
      });
      const first = sqsRecord(copyBody(copyTask(testJob({ id: "job-a" }), items("a1", "a2", "a3", "a4"))));
      const second = sqsRecord(copyBody(copyTask(testJob({ id: "job-b" }), items("b1", "b2", "b3", "b4"))));

      // Act
      const pending = handler(sqsEvent(first, second), fakeContext());
      await settleEventLoop(100);
      const inFlightWhileHeld = inFlight;
      release.open();
      const result = await pending;

      // Assess
      assert.equal(inFlightWhileHeld, concurrency);
      assert.ok(maxInFlight <= concurrency);
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 8);
    });
  });

  describe("deadline", () => {
    it("starts no copy when too little time remains and re-enqueues the keys at the same attempt", async () => {
      // Prepare
      const config = testConfig({ copySafetyMs: 20_000 });
      const { s3Mock, sqsMock, ledger, handler } = setup(config);
      s3Mock.on(CopyObjectCommand).resolves({});
      const body = copyBody(copyTask(testJob(), items("k1", "k2"), { attempt: 1 }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext(19_999));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      const requeued = sentTo(sqsMock, QUEUE_URLS.copy).map((m) => parseCopyBody(m.body));
      assert.equal(requeued.length, 1);
      assert.equal(requeued[0]?.attempt, 1);
      assert.deepEqual(
        requeued[0]?.items.map((i) => i.key),
        ["k1", "k2"],
      );
      assert.deepEqual(dlqRecords(sqsMock), []);
      assert.equal(ledger.batchRecords[0]?.children.length, 1);
    });
  });

  describe("failures and poison", () => {
    it("parks a malformed record in the copy DLQ as poison and does not report it failed", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      const record = sqsRecord(JSON.stringify({ v: 1, type: "copy", job: testJob(), batch: "b", attempt: 0, items: [] }));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      const parked = sentTo(sqsMock, QUEUE_URLS.copyDlq);
      assert.equal(parked.length, 1);
      const poison = parseJsonObject(parked[0]?.body ?? "");
      assert.equal(poison.type, "poison");
      assert.match(String(poison.reason), /invalid copy message at items/);
      assert.equal(poison.body, record.body);
    });

    it("parks a list message delivered to the copy queue as poison", async () => {
      // Prepare
      const { sqsMock, handler } = setup();
      const record = sqsRecord(listBody({ job: testJob(), range: {}, hop: 0 }));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const [parked] = sentTo(sqsMock, QUEUE_URLS.copyDlq);
      assert.match(String(parseJsonObject(parked?.body ?? "").reason), /expected a copy message/);
    });

    it("parks a copy message whose transport-encoded key is not valid percent-encoding as poison", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      const wireJob = { id: "job-1", source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } };
      const record = sqsRecord(JSON.stringify({ v: 1, type: "copy", job: wireJob, batch: "b", attempt: 0, items: [{ k: "100%", s: 1 }] }));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      const parked = sentTo(sqsMock, QUEUE_URLS.copyDlq);
      assert.equal(parked.length, 1);
      assert.equal(parseJsonObject(parked[0]?.body ?? "").type, "poison");
    });

    it("reports a poison record as failed when the copy DLQ cannot take it", async () => {
      // Prepare
      const { sqsMock, handler } = setup();
      sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.copyDlq }).rejects(s3Error("InternalError", 500));
      const record = sqsRecord("not json at all");

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
    });

    it("reports the record as failed when its DLQ records cannot be sent, and records no outcome", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).rejects(s3Error("AccessDenied", 403));
      sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.copyDlq }).rejects(s3Error("InternalError", 500));
      const record = sqsRecord(copyBody(copyTask(testJob(), items("k1"))));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(ledger.batchRecords, []);
    });

    it("reports the record as failed when its retry message cannot be enqueued", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).rejects(s3Error("InternalError", 500));
      sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.copy }).rejects(s3Error("InternalError", 500));
      const record = sqsRecord(copyBody(copyTask(testJob(), items("k1"))));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(ledger.batchRecords, []);
    });

    it("reports only the failing record of a batch of two", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      s3Mock.on(CopyObjectCommand, { Key: "b1" }).rejects(s3Error("InternalError", 500));
      sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
        if (input.QueueUrl === QUEUE_URLS.copy) return Promise.reject(s3Error("InternalError", 500));
        return Promise.resolve({ Successful: [], Failed: [] });
      });
      const good = sqsRecord(copyBody(copyTask(testJob({ id: "job-good" }), items("g1", "g2"), { batchId: "good" })));
      const bad = sqsRecord(copyBody(copyTask(testJob({ id: "job-bad" }), items("b1"), { batchId: "bad" })));

      // Act
      const result = await handler(sqsEvent(good, bad), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: bad.messageId }]);
      assert.deepEqual(
        ledger.batchRecords.map((o) => o.batchId),
        ["good"],
      );
    });
  });

  describe("halt", () => {
    it("starts no copy and re-enqueues nothing for a halted job", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, halt, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const job = testJob();
      halt.halt(job.id);

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, items("a", "b", "c"))))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 0);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
      assert.equal(ledger.batchRecords[0]?.halted, 3);
    });

    it("does not retry a failing key once the job is halted", async () => {
      // Prepare: the first copy fails transiently and the halt lands meanwhile.
      const { s3Mock, sqsMock, ledger, halt, handler } = setup();
      const job = testJob();
      s3Mock.on(CopyObjectCommand).callsFake(async () => {
        halt.halt(job.id);
        throw s3Error("InternalError", 500, "try again");
      });

      // Act
      const result = await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, items("a"))))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(copyCalls(s3Mock).length, 1);
      assert.equal(sentTo(sqsMock, QUEUE_URLS.copy).length, 0);
      assert.equal(ledger.batchRecords[0]?.halted, 1);
    });
  });

  describe("copy options", () => {
    const options = {
      storageClass: "STANDARD_IA",
      acl: "bucket-owner-full-control",
      sse: "aws:kms",
      sseKmsKeyId: "arn:aws:kms:us-east-1:000000000000:key/k1",
      checksumAlgorithm: "SHA256",
      requesterPays: true,
      metadataDirective: "REPLACE",
      metadata: { team: "data" },
      taggingDirective: "REPLACE",
      tagging: "env=prod",
    } as const;

    it("passes every option of the job to CopyObject", async () => {
      // Prepare
      const { s3Mock, handler } = setup();
      s3Mock.on(CopyObjectCommand).resolves({});
      const job = { ...testJob(), options };

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, items("a"))))), fakeContext());

      // Assess
      const input = copyCalls(s3Mock)[0];
      assert.equal(input?.StorageClass, "STANDARD_IA");
      assert.equal(input?.ACL, "bucket-owner-full-control");
      assert.equal(input?.ServerSideEncryption, "aws:kms");
      assert.equal(input?.SSEKMSKeyId, "arn:aws:kms:us-east-1:000000000000:key/k1");
      assert.equal(input?.ChecksumAlgorithm, "SHA256");
      assert.equal(input?.RequestPayer, "requester");
      assert.equal(input?.MetadataDirective, "REPLACE");
      assert.deepEqual(input?.Metadata, { team: "data" });
      assert.equal(input?.TaggingDirective, "REPLACE");
      assert.equal(input?.Tagging, "env=prod");
    });

    it("passes them to a copy by parts too, replacing metadata and tags without reading the source's", async () => {
      // Prepare
      const { s3Mock, handler } = setup();
      s3Mock
        .on(HeadObjectCommand)
        .resolves({ ContentLength: 6 * 1024 ** 3, ETag: '"e-9"', ContentType: "video/mp4", Metadata: { old: "x" } });
      s3Mock.on(CreateMultipartUploadCommand).resolves({ UploadId: "u" });
      s3Mock.on(UploadPartCopyCommand).resolves({ CopyPartResult: { ETag: '"p"' } });
      s3Mock.on(CompleteMultipartUploadCommand).resolves({});
      const job = { ...testJob(), options };

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, [{ key: "big", size: 6 * 1024 ** 3 }])))), fakeContext());

      // Assess
      assert.equal(s3Mock.commandCalls(GetObjectTaggingCommand).length, 0);
      const create = s3Mock.commandCalls(CreateMultipartUploadCommand)[0]?.args[0].input;
      assert.equal(create?.StorageClass, "STANDARD_IA");
      assert.equal(create?.ACL, "bucket-owner-full-control");
      assert.equal(create?.SSEKMSKeyId, "arn:aws:kms:us-east-1:000000000000:key/k1");
      assert.equal(create?.ChecksumAlgorithm, "SHA256");
      assert.equal(create?.Tagging, "env=prod");
      assert.equal(create?.ContentType, undefined);
      assert.deepEqual(create?.Metadata, { team: "data", "s3fanout-source-etag": '"e-9"' });
      assert.ok(s3Mock.commandCalls(UploadPartCopyCommand).every((c) => c.args[0].input.RequestPayer === "requester"));
      assert.equal(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input.RequestPayer, "requester");
    });

    it("writes through a client of the destination region when the job names one", async () => {
      // Prepare
      const { s3, s3Mock: home, sqs } = mockedClients();
      const remoteClient = new S3Client({ region: "eu-west-1", credentials: { accessKeyId: "test", secretAccessKey: "test" } });
      const remote = mockClient(remoteClient);
      remote.on(CopyObjectCommand).resolves({});
      const regions: string[] = [];
      const config = testConfig();
      const store = new S3ObjectStore(s3, (region) => {
        regions.push(region);
        return remoteClient;
      });
      const handler = createCopyHandler({
        store,
        multipart: store,
        sink: new SqsMessageSink(sqs, config.queues),
        ledger: new RecordingLedger(),
        halt: new LocalHaltSignal(),
        config,
        logger: silentLogger(),
      });
      const job = { ...testJob(), options: { destinationRegion: "eu-west-1" } };

      // Act
      await handler(sqsEvent(sqsRecord(copyBody(copyTask(job, items("a"))))), fakeContext());

      // Assess
      assert.deepEqual(regions, ["eu-west-1"]);
      assert.equal(remote.commandCalls(CopyObjectCommand).length, 1);
      assert.equal(home.commandCalls(CopyObjectCommand).length, 0);
    });
  });
});
