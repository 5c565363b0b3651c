/**
 * The list handler reading manifest chunks, over the real S3 and SQS
 * adapters with the SDK clients' `send` mocked: the Range GETs it makes, the
 * HEADs, what it enqueues and records, continuation, and what it parks.
 */

import assert from "node:assert/strict";
import { Readable } from "node:stream";
import { describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { GetObjectCommand, type GetObjectCommandInput, HeadObjectCommand } from "@aws-sdk/client-s3";
import { S3ManifestSource } from "../../lambdas/aws/s3Manifest.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import type { PipelineConfig } from "../../lambdas/config.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { type ManifestTask, planChunks } from "../../lambdas/core/manifest.ts";
import { type JobRef, listBody, parseCopyBody, parseListBody } from "../../lambdas/core/messages.ts";
import { createListHandler } from "../../lambdas/list/handler.ts";
import {
  fakeContext,
  mockedClients,
  parseJsonObject,
  QUEUE_URLS,
  RecordingLedger,
  s3Error,
  sentTo,
  silentLogger,
  sqsEvent,
  sqsRecord,
  testConfig,
  testJob,
} from "./support/harness.ts";

const MANIFEST_ETAG = '"manifest-etag"';

/** A mocked S3 serving `files` (by key) to GetObject, honouring Range and If-Match as S3 does. */
function setup(files: Record<string, Buffer>, config: PipelineConfig = testConfig()) {
  const clients = mockedClients();
  const ledger = new RecordingLedger();
  const halt = new LocalHaltSignal();
  clients.s3Mock.on(GetObjectCommand).callsFake((input: GetObjectCommandInput) => {
    const file = files[input.Key ?? ""];
    if (file === undefined) throw s3Error("NoSuchKey", 404);
    if (input.IfMatch !== undefined && input.IfMatch !== MANIFEST_ETAG) throw s3Error("PreconditionFailed", 412);
    const start = Number(/^bytes=(\d+)-$/.exec(input.Range ?? "")?.[1] ?? 0);
    if (start >= file.length && start > 0) throw s3Error("InvalidRange", 416);
    return { Body: Readable.from([file.subarray(start)]) };
  });
  const store = new S3ObjectStore(clients.s3);
  const handler = createListHandler({
    store,
    multipart: store,
    manifests: new S3ManifestSource(clients.s3),
    sink: new SqsMessageSink(clients.sqs, config.queues),
    ledger,
    halt,
    config,
    logger: silentLogger(),
  });
  return { ...clients, ledger, halt, handler };
}

function chunkTask(job: JobRef, manifest: Partial<ManifestTask> & Pick<ManifestTask, "key" | "end">, hop = 0) {
  return {
    job,
    range: {},
    hop,
    manifest: {
      bucket: "manifests",
      etag: MANIFEST_ETAG,
      format: "csv" as const,
      gzip: false,
      chunk: 0,
      of: 1,
      start: 0,
      row: 0,
      byte: 0,
      ...manifest,
    },
  };
}

function copyItems(sqsMock: ReturnType<typeof setup>["sqsMock"]) {
  return sentTo(sqsMock, QUEUE_URLS.copy).flatMap((m) => parseCopyBody(m.body).items);
}

function getCalls(s3Mock: ReturnType<typeof setup>["s3Mock"]): GetObjectCommandInput[] {
  return s3Mock.commandCalls(GetObjectCommand).map((c) => c.args[0].input);
}

function headedKeys(s3Mock: ReturnType<typeof setup>["s3Mock"]): string[] {
  return s3Mock.commandCalls(HeadObjectCommand).map((c) => c.args[0].input.Key ?? "");
}

describe("list handler on manifest chunks", () => {
  describe("Batch Operations CSV", () => {
    it("copies the rows naming the source bucket under its prefix, with size and ETag from a HEAD of each", async () => {
      // Prepare
      const csv = Buffer.from(
        ["src,data/a+b", "src,data/plus%2Bsign", "other-bucket,data/x", "src,elsewhere/y", '"src","data/caf%C3%A9,%22q%22"', ""].join("\n"),
      );
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv });
      s3Mock
        .on(HeadObjectCommand)
        .callsFake((input: { Key?: string }) => ({ ContentLength: (input.Key ?? "").length, ETag: `"e-${input.Key}"` }));
      const job = testJob({ sourcePrefix: "data/", destinationPrefix: "copy/" });

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(chunkTask(job, { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(copyItems(sqsMock), [
        { key: "data/a b", size: 8, etag: '"e-data/a b"' },
        { key: "data/plus+sign", size: 14, etag: '"e-data/plus+sign"' },
        { key: 'data/café,"q"', size: 13, etag: '"e-data/café,"q""' },
      ]);
      assert.deepEqual(headedKeys(s3Mock), ["data/a b", "data/plus+sign", 'data/café,"q"']);
      assert.equal(ledger.portionRecords.length, 1);
      const [portion] = ledger.portionRecords;
      assert.deepEqual(portion?.chunk, { id: 0, of: 1, from: 0, to: 5 });
      assert.equal(portion?.continued, false);
      assert.equal(portion?.skipped, 2);
      assert.equal(ledger.summary().rangesCovered, true);
      assert.equal(ledger.summary().listed, 3);
    });

    it("carries the version a row names to the copier, HEADing that version, so one key at two versions is two copies", async () => {
      // Prepare
      const csv = Buffer.from(["src,k,v1", "src,k,v2", "src,plain", ""].join("\n"));
      const { s3Mock, sqsMock, handler } = setup({ "keys.csv": csv });
      s3Mock
        .on(HeadObjectCommand)
        .callsFake((input: { Key?: string; VersionId?: string }) => ({ ContentLength: 5, ETag: `"e-${input.VersionId ?? "current"}"` }));

      // Act
      const result = await handler(
        sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))),
        fakeContext(),
      );

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(
        s3Mock.commandCalls(HeadObjectCommand).map((c) => [c.args[0].input.Key, c.args[0].input.VersionId]),
        [
          ["k", "v1"],
          ["k", "v2"],
          ["plain", undefined],
        ],
      );
      assert.deepEqual(
        copyItems(sqsMock).map((i) => [i.key, i.versionId, i.etag]),
        [
          ["k", "v1", '"e-v1"'],
          ["k", "v2", '"e-v2"'],
          ["plain", undefined, '"e-current"'],
        ],
      );
    });

    it("skips rows the job's include and exclude patterns leave out, without a HEAD, and HEADs as requester when the job pays", async () => {
      // Prepare
      const csv = Buffer.from("src,logs/a.log\nsrc,logs/b.tmp\nsrc,img/c.png\n");
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });
      const job: JobRef = { ...testJob(), options: { include: ["logs/**"], exclude: ["**/*.tmp"], requesterPays: true } };

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(job, { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["logs/a.log"],
      );
      assert.deepEqual(headedKeys(s3Mock), ["logs/a.log"]);
      assert.equal(s3Mock.commandCalls(HeadObjectCommand)[0]?.args[0].input.RequestPayer, "requester");
      assert.equal(ledger.summary().skipped, 2);
    });

    it("reads the first row of a manifest that starts with a byte order mark", async () => {
      // Prepare
      const csv = Buffer.from("\uFEFFsrc,first\nsrc,second\n");
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["first", "second"],
      );
      assert.equal(ledger.summary().skipped, 0);
    });

    it("reports a named key that does not exist as vanished, without sending it to be copied", async () => {
      // Prepare
      const csv = Buffer.from("src,here\nsrc,gone\n");
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand, { Key: "gone" }).rejects(s3Error("NotFound", 404));
      s3Mock.on(HeadObjectCommand, { Key: "here" }).resolves({ ContentLength: 4, ETag: '"h"' });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["here"],
      );
      assert.deepEqual(
        ledger.batchRecords.map((o) => o.vanished),
        [["gone"]],
      );
      const summary = ledger.summary();
      assert.equal(summary.listed, 2);
      assert.equal(summary.vanished, 1);
      assert.equal(summary.pendingBatches, 1);
    });

    it("leaves a key whose HEAD is refused for good to the copier, with size 0, so its error is reported per key", async () => {
      // Prepare
      const csv = Buffer.from("src,locked\n");
      const { s3Mock, sqsMock, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).rejects(s3Error("Forbidden", 403));

      // Act
      const result = await handler(
        sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))),
        fakeContext(),
      );

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(copyItems(sqsMock), [{ key: "locked", size: 0, etag: undefined }]);
    });

    it("records a row that names no readable key as failed, with the row it was on", async () => {
      // Prepare
      const csv = Buffer.from("src,ok\nsrc,bad%ZZ\nsrc\n");
      const { s3Mock, ledger, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      const failed = ledger.batchRecords.flatMap((o) => o.failed);
      assert.deepEqual(
        failed.map((f) => [f.key, f.error.code]),
        [
          ["bad%ZZ", "InvalidManifestRow"],
          ["(chunk 0 row 2)", "InvalidManifestRow"],
        ],
      );
      assert.match(failed[0]?.error.message ?? "", /row 1, byte 7/);
      assert.equal(ledger.summary().failed, 2);
    });

    it("reads a chunk from one byte before its start, to find the first row that starts in it, pinned to the manifest's ETag", async () => {
      // Prepare
      const csv = Buffer.from("src,first-key\nsrc,second\nsrc,third\n");
      const [, second] = planChunks([{ bucket: "manifests", key: "keys.csv", size: csv.length, format: "csv" }], 12);
      assert.ok(second);
      const { s3Mock, sqsMock, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });

      // Act
      await handler(
        sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { ...second, etag: MANIFEST_ETAG, row: 0, byte: second.start })))),
        fakeContext(),
      );

      // Assess
      assert.deepEqual(
        getCalls(s3Mock).map((c) => [c.Range, c.IfMatch]),
        [["bytes=11-", MANIFEST_ETAG]],
      );
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["second"],
      );
    });
  });

  describe("S3 Inventory", () => {
    const schema = "Bucket, Key, Size, LastModifiedDate, ETag, IsDeleteMarker";

    it("takes size and ETag from a gzip data file's rows and HEADs nothing", async () => {
      // Prepare
      const rows = [
        '"src","a%2Fb+c","12","2024-01-01T00:00:00.000Z","0cc175b9c0f1b6a831c399e269772661","false"',
        '"src","deleted","","2024-01-01T00:00:00.000Z","","true"',
        '"src","big","6000000000","2024-01-01T00:00:00.000Z","9e107d9d372bb6826bd81d3542a419d6-700","false"',
      ];
      const data = gzipSync(Buffer.from(`${rows.join("\n")}\n`));
      const { s3Mock, sqsMock, ledger, handler } = setup({ "inv/data/1.csv.gz": data });
      const task = chunkTask(testJob(), {
        key: "inv/data/1.csv.gz",
        etag: undefined,
        format: "inventory",
        gzip: true,
        schema,
        end: data.length,
      });

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(task))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(s3Mock.commandCalls(HeadObjectCommand).length, 0);
      assert.deepEqual(copyItems(sqsMock), [
        { key: "a/b c", size: 12, etag: '"0cc175b9c0f1b6a831c399e269772661"' },
        { key: "big", size: 6_000_000_000, etag: '"9e107d9d372bb6826bd81d3542a419d6-700"' },
      ]);
      assert.equal(ledger.summary().skipped, 1);
    });

    it("continues a gzip file by rows: the next invocation reads it again from its start and skips the rows handled", async () => {
      // Prepare
      const rows = Array.from({ length: 5 }, (_, i) => `src,k${i},1,2024-01-01T00:00:00.000Z,e${i},false`);
      const data = gzipSync(Buffer.from(rows.join("\n")));
      const config = testConfig({ listPageSize: 2, listSafetyMs: 60_000 });
      const { s3Mock, sqsMock, ledger, handler } = setup({ "d.csv.gz": data }, config);
      const task = chunkTask(testJob(), { key: "d.csv.gz", etag: undefined, format: "inventory", gzip: true, schema, end: data.length });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(task))), fakeContext(1_000));
      const [continuation] = sentTo(sqsMock, QUEUE_URLS.list);
      assert.ok(continuation);
      const next = parseListBody(continuation.body);
      await handler(sqsEvent(sqsRecord(continuation.body)), fakeContext(900_000));

      // Assess
      assert.equal(next.manifest?.row, 2);
      assert.equal(next.hop, 1);
      assert.deepEqual(
        getCalls(s3Mock).map((c) => c.Range),
        [undefined, undefined],
      );
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["k0", "k1", "k2", "k3", "k4"],
      );
      assert.deepEqual(
        ledger.portionRecords.map((p) => [p.chunk?.from, p.chunk?.to, p.continued]),
        [
          [0, 2, true],
          [2, 5, false],
        ],
      );
      assert.equal(ledger.summary().rangesCovered, true);
    });
  });

  describe("continuation before the deadline", () => {
    it("hands the rest of a plain chunk on at a page boundary, resuming at the next row's byte offset", async () => {
      // Prepare
      const csv = Buffer.from("src,k0\nsrc,k1\nsrc,k2\nsrc,k3\nsrc,k4\n");
      const config = testConfig({ listPageSize: 2, listSafetyMs: 60_000 });
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv }, config);
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });
      const body = listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length }));

      // Act
      await handler(sqsEvent(sqsRecord(body)), fakeContext(59_999));
      const continuations = sentTo(sqsMock, QUEUE_URLS.list);
      const first = continuations[0];
      assert.ok(first);
      await handler(sqsEvent(sqsRecord(first.body)), fakeContext(900_000));

      // Assess
      assert.equal(continuations.length, 1);
      const next = parseListBody(first.body);
      assert.deepEqual([next.manifest?.row, next.manifest?.byte, next.hop], [2, 14, 1]);
      assert.deepEqual(
        getCalls(s3Mock).map((c) => c.Range),
        [undefined, "bytes=14-"],
      );
      assert.deepEqual(
        copyItems(sqsMock).map((i) => i.key),
        ["k0", "k1", "k2", "k3", "k4"],
      );
      assert.deepEqual(
        ledger.portionRecords.map((p) => [p.chunk?.from, p.chunk?.to, p.continued]),
        [
          [0, 2, true],
          [2, 5, false],
        ],
      );
    });

    it("finishes rather than continues when the page it stopped at was the chunk's last", async () => {
      // Prepare
      const csv = Buffer.from("src,k0\nsrc,k1\n");
      const { s3Mock, sqsMock, ledger, handler } = setup({ "keys.csv": csv }, testConfig({ listPageSize: 2, listSafetyMs: 60_000 }));
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))), fakeContext(1));

      // Assess
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.list), []);
      assert.deepEqual(
        ledger.portionRecords.map((p) => p.continued),
        [false],
      );
    });
  });

  describe("what cannot succeed", () => {
    it("parks a chunk whose CSV is malformed in the list DLQ with the reason, instead of retrying it", async () => {
      // Prepare
      const csv = Buffer.from('src,"unterminated\n');
      const { sqsMock, ledger, handler } = setup({ "keys.csv": csv });
      const body = listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const [parked] = sentTo(sqsMock, QUEUE_URLS.listDlq);
      assert.ok(parked);
      const failure = parseJsonObject(parked.body);
      assert.equal(failure.type, "list-failure");
      assert.match(String(failure.reason), /^InvalidManifest: .*unterminated quoted field/);
      assert.equal(failure.body, body);
      assert.deepEqual(ledger.portionRecords, []);
    });

    it("parks a chunk whose manifest changed since the job began", async () => {
      // Prepare
      const csv = Buffer.from("src,k\n");
      const { sqsMock, handler } = setup({ "keys.csv": csv });

      // Act
      await handler(
        sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", etag: '"other"', end: csv.length })))),
        fakeContext(),
      );

      // Assess
      const [parked] = sentTo(sqsMock, QUEUE_URLS.listDlq);
      assert.match(String(parseJsonObject(parked?.body ?? "{}").reason), /changed since the job began/);
    });

    it("leaves the record to be retried when reading the manifest fails transiently", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup({});
      s3Mock.on(GetObjectCommand).rejects(s3Error("InternalError", 500));
      const record = sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: 10 })));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.listDlq), []);
    });

    it("sends nothing and records nothing for a halted job", async () => {
      // Prepare
      const csv = Buffer.from("src,k\n");
      const { s3Mock, sqsMock, ledger, halt, handler } = setup({ "keys.csv": csv });
      s3Mock.on(HeadObjectCommand).resolves({ ContentLength: 1, ETag: '"x"' });
      halt.halt("job-1");

      // Act
      await handler(sqsEvent(sqsRecord(listBody(chunkTask(testJob(), { key: "keys.csv", end: csv.length })))), fakeContext());

      // Assess
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.copy), []);
      assert.deepEqual(ledger.portionRecords, []);
    });
  });
});
