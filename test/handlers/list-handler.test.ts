/**
 * The list handler over the real S3 and SQS adapters, with the SDK clients'
 * `send` mocked: what it asks S3, what it enqueues, what it records, and
 * which records it reports as failed.
 */

import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ListObjectsV2Command, type ListObjectsV2CommandInput, type ListObjectsV2CommandOutput } from "@aws-sdk/client-s3";
import { SendMessageBatchCommand, type SendMessageBatchCommandInput } from "@aws-sdk/client-sqs";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import type { PipelineConfig } from "../../lambdas/config.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { copyBody, type JobRef, type ListTask, listBody, parseCopyBody, parseListBody } from "../../lambdas/core/messages.ts";
import { createListHandler } from "../../lambdas/list/handler.ts";
import {
  fakeContext,
  mockedClients,
  parseJsonObject,
  QUEUE_URLS,
  RecordingLedger,
  s3Error,
  sendRequests,
  sentTo,
  silentLogger,
  sqsEvent,
  sqsRecord,
  testConfig,
  testJob,
} from "./support/harness.ts";

function setup(config: PipelineConfig = testConfig()) {
  const clients = mockedClients();
  const ledger = new RecordingLedger();
  const halt = new LocalHaltSignal();
  const handler = createListHandler({
    store: new S3ObjectStore(clients.s3),
    sink: new SqsMessageSink(clients.sqs, config.queues),
    ledger,
    halt,
    config,
    logger: silentLogger(),
  });
  return { ...clients, ledger, halt, handler };
}

function listTask(job: JobRef, range: ListTask["range"] = {}, extra: { token?: string; hop?: number } = {}): ListTask {
  return { job, range, token: extra.token, hop: extra.hop ?? 0 };
}

/** A ListObjectsV2 answer as S3 gives it with EncodingType=url (keys already encoded by the caller). */
function page(encodedKeys: readonly string[], nextToken?: string): ListObjectsV2CommandOutput {
  return {
    $metadata: { httpStatusCode: 200 },
    EncodingType: "url",
    IsTruncated: nextToken !== undefined,
    NextContinuationToken: nextToken,
    KeyCount: encodedKeys.length,
    Contents: encodedKeys.map((Key, i) => ({ Key, Size: i + 1, ETag: `"etag-${i}"` })),
  };
}

function listCalls(s3Mock: ReturnType<typeof setup>["s3Mock"]): ListObjectsV2CommandInput[] {
  return s3Mock.commandCalls(ListObjectsV2Command).map((c) => c.args[0].input);
}

function emittedKeys(sqsMock: ReturnType<typeof setup>["sqsMock"]): string[] {
  return sentTo(sqsMock, QUEUE_URLS.copy).flatMap((m) => parseCopyBody(m.body).items.map((i) => i.key));
}

function numberedKeys(prefix: string, count: number): string[] {
  return Array.from({ length: count }, (_, i) => `${prefix}${String(i).padStart(5, "0")}`);
}

describe("list handler", () => {
  describe("listing", () => {
    it("asks S3 for url-encoded keys starting after the range start, under the job prefix", async () => {
      // Prepare
      const { s3Mock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page([]));
      const body = listBody(listTask(testJob({ sourcePrefix: "data/" }), { startAfter: "data/b", endAt: "data/m" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const calls = listCalls(s3Mock);
      assert.equal(calls.length, 1);
      assert.equal(calls[0]?.Bucket, "src");
      assert.equal(calls[0]?.Prefix, "data/");
      assert.equal(calls[0]?.EncodingType, "url");
      assert.equal(calls[0]?.StartAfter, "data/b");
      assert.equal(calls[0]?.ContinuationToken, undefined);
      assert.equal(calls[0]?.MaxKeys, 1000);
    });

    it("decodes listed keys as S3 encodes them: + is a space and %2B is a plus", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["%01control", "a+b", "a%2Bb", "caf%C3%A9+%F0%9F%98%80", "dir/x%20y"]));
      const body = listBody(listTask(testJob()));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(emittedKeys(sqsMock), ["\u0001control", "a b", "a+b", "café 😀", "dir/x y"]);
    });

    it("carries each listed key's size and ETag into the copy message", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves({
        EncodingType: "url",
        IsTruncated: false,
        Contents: [{ Key: "big+file", Size: 5_000_000_000, ETag: '"abc-12"' }],
        $metadata: {},
      });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext());

      // Assess
      const [message] = sentTo(sqsMock, QUEUE_URLS.copy);
      assert.ok(message);
      assert.deepEqual(parseCopyBody(message.body).items, [{ key: "big file", size: 5_000_000_000, etag: '"abc-12"' }]);
    });

    it("resumes with the message's continuation token rather than StartAfter", async () => {
      // Prepare
      const { s3Mock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page([]));
      const body = listBody(listTask(testJob(), { startAfter: "k5", endAt: "k9" }, { token: "opaque-token", hop: 3 }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const [call] = listCalls(s3Mock);
      assert.equal(call?.ContinuationToken, "opaque-token");
      assert.equal(call?.StartAfter, undefined);
      assert.equal(call?.EncodingType, "url");
    });

    it("falls back to StartAfter at the last key seen when S3 refuses the continuation token", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock
        .on(ListObjectsV2Command)
        .rejectsOnce(s3Error("InvalidArgument", 400, "The continuation token provided is incorrect"))
        .resolves(page(["k6", "k7"]));
      const body = listBody(listTask(testJob(), { startAfter: "k5", endAt: "k9" }, { token: "stale-token" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const calls = listCalls(s3Mock);
      assert.equal(calls.length, 2);
      assert.equal(calls[1]?.ContinuationToken, undefined);
      assert.equal(calls[1]?.StartAfter, "k5");
      assert.deepEqual(emittedKeys(sqsMock), ["k6", "k7"]);
    });

    it("pages on with the continuation token while time remains and records the whole range as done", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock
        .on(ListObjectsV2Command)
        .resolvesOnce(page(["a", "b"], "token-2"))
        .resolvesOnce(page(["c", "d"], "token-3"))
        .resolvesOnce(page(["e"]));
      const body = listBody(listTask(testJob(), { endAt: "z" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext(900_000));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const calls = listCalls(s3Mock);
      assert.deepEqual(
        calls.map((c) => c.ContinuationToken),
        [undefined, "token-2", "token-3"],
      );
      assert.deepEqual(emittedKeys(sqsMock), ["a", "b", "c", "d", "e"]);
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.list), []);
      assert.equal(ledger.portionRecords.length, 1);
      assert.deepEqual(ledger.portionRecords[0]?.range, { startAfter: undefined, endAt: "z" });
      assert.equal(ledger.portionRecords[0]?.continued, false);
      assert.equal(ledger.portionRecords[0]?.listed, 5);
    });

    it("stops at the end of its range and emits no key past endAt", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["b", "m", "m0", "n", "z"], "more"));
      const body = listBody(listTask(testJob(), { startAfter: "a", endAt: "m" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(listCalls(s3Mock).length, 1);
      assert.deepEqual(emittedKeys(sqsMock), ["b", "m"]);
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.list), []);
      assert.equal(ledger.portionRecords.length, 1);
      assert.equal(ledger.portionRecords[0]?.continued, false);
      assert.equal(ledger.portionRecords[0]?.listed, 2);
    });

    it("stops at the end of its range in UTF-8 byte order, not UTF-16 order", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      // S3 order: U+E000 (EE 80 80) < U+FFFD (EF BF BD) < U+1F600 (F0 9F 98 80).
      s3Mock.on(ListObjectsV2Command).resolves(page(["a", "%EE%80%80", "%EF%BF%BD", "%F0%9F%98%80"], "more"));
      const body = listBody(listTask(testJob(), { endAt: "\uFFFD" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.deepEqual(emittedKeys(sqsMock), ["a", "\uE000", "\uFFFD"]);
      assert.equal(listCalls(s3Mock).length, 1);
    });

    it("records an empty range as listed without sending copy work", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves({ $metadata: {}, IsTruncated: false, KeyCount: 0 });

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(testJob(), { startAfter: "q", endAt: "r" })))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
      assert.deepEqual(
        ledger.portionRecords.map((p) => [p.range, p.listed, p.batches.length]),
        [[{ startAfter: "q", endAt: "r" }, 0, 0]],
      );
    });
  });

  describe("emitting copy work", () => {
    it("packs keys into copy messages of at most 100 keys, sent at most 10 per SendMessageBatch", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      const keys = numberedKeys("k", 1_234);
      s3Mock.on(ListObjectsV2Command).resolves(page(keys));

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const requests = sendRequests(sqsMock).filter((r) => r.queueUrl === QUEUE_URLS.copy);
      assert.ok(requests.every((r) => r.entries.length >= 1 && r.entries.length <= 10));
      const messages = requests.flatMap((r) => r.entries);
      assert.equal(messages.length, 13);
      const perMessage = messages.map((m) => parseCopyBody(m.body).items.length);
      assert.ok(perMessage.every((n) => n >= 1 && n <= 100));
      assert.deepEqual(emittedKeys(sqsMock), keys);
      assert.equal(ledger.portionRecords[0]?.batches.length, 13);
      assert.equal(ledger.summary().listed, 1_234);
    });

    it("sends keys SQS would reject (control characters, noncharacters) as ASCII-only bodies", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["%00nul", "%01%02", "%EF%BF%BE", "x%0D%0A"], "more"));
      const job = testJob({ sourcePrefix: "" });

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(job)))), fakeContext(1_000));

      // Assess
      const bodies = sendRequests(sqsMock).flatMap((r) => r.entries.map((e) => e.body));
      assert.ok(bodies.length >= 2);
      assert.ok(bodies.every((b) => /^[\x20-\x7e]*$/.test(b)));
      assert.deepEqual(emittedKeys(sqsMock), ["\u0000nul", "\u0001\u0002", "\uFFFE", "x\r\n"]);
      const [continuation] = sentTo(sqsMock, QUEUE_URLS.list);
      assert.equal(parseListBody(continuation?.body ?? "").range.startAfter, "x\r\n");
    });

    it("re-sends only the copy messages SQS did not take", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup(testConfig({ limits: { maxKeys: 1, maxBytes: 64 * 1024 } }));
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1", "k2", "k3"]));
      sqsMock
        .on(SendMessageBatchCommand)
        .resolvesOnce({
          Successful: [{ Id: "0", MessageId: "m0", MD5OfMessageBody: "x" }],
          Failed: [
            { Id: "1", SenderFault: false, Code: "InternalError" },
            { Id: "2", SenderFault: false, Code: "InternalError" },
          ],
        })
        .resolves({ Successful: [], Failed: [] });

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const requests = sendRequests(sqsMock);
      assert.equal(requests.length, 2);
      const keysOf = (bodies: readonly string[]) => bodies.flatMap((b) => parseCopyBody(b).items.map((i) => i.key));
      assert.deepEqual(keysOf(requests[1]?.entries.map((e) => e.body) ?? []), ["k2", "k3"]);
      assert.equal(ledger.portionRecords[0]?.batches.length, 3);
    });

    it("gives every copy message in a SendMessageBatch request a distinct entry id", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(numberedKeys("k", 700)));

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext());

      // Assess
      const inputs: SendMessageBatchCommandInput[] = sqsMock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
      for (const input of inputs) {
        const ids = (input.Entries ?? []).map((e) => e.Id);
        assert.equal(new Set(ids).size, ids.length);
      }
    });
  });

  describe("continuation before the deadline", () => {
    it("re-enqueues the rest of its range with the continuation token and the last key seen", async () => {
      // Prepare
      const config = testConfig({ listSafetyMs: 60_000 });
      const { s3Mock, sqsMock, handler } = setup(config);
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1", "k2", "k3"], "token-after-k3"));
      const job = testJob();
      const body = listBody(listTask(job, { startAfter: "k0", endAt: "k9" }, { hop: 4 }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext(59_999));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(listCalls(s3Mock).length, 1);
      assert.deepEqual(emittedKeys(sqsMock), ["k1", "k2", "k3"]);
      const continuations = sentTo(sqsMock, QUEUE_URLS.list);
      assert.equal(continuations.length, 1);
      const next = parseListBody(continuations[0]?.body ?? "");
      assert.deepEqual(next, { job, range: { startAfter: "k3", endAt: "k9" }, token: "token-after-k3", hop: 5 });
    });

    it("records the finished stretch of the range as a continued portion", async () => {
      // Prepare
      const { s3Mock, ledger, handler } = setup(testConfig({ listSafetyMs: 60_000 }));
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1", "k2", "k3"], "token-after-k3"));
      const body = listBody(listTask(testJob(), { startAfter: "k0", endAt: "k9" }));

      // Act
      await handler(sqsEvent(sqsRecord(body)), fakeContext(1_000));

      // Assess
      assert.equal(ledger.portionRecords.length, 1);
      const portion = ledger.portionRecords[0];
      assert.deepEqual(portion?.range, { startAfter: "k0", endAt: "k3" });
      assert.equal(portion?.continued, true);
      assert.equal(portion?.listed, 3);
      assert.equal(portion?.batches.length, 1);
    });

    it("does not claim the whole key space when it continues after an empty first page", async () => {
      // Prepare
      // S3 may answer a truncated page with no keys (e.g. over many delete markers).
      const { s3Mock, sqsMock, ledger, handler } = setup(testConfig({ listSafetyMs: 60_000 }));
      s3Mock.on(ListObjectsV2Command).resolves(page([], "token-2"));
      const body = listBody(listTask(testJob(), { endAt: "m" }));

      // Act
      const result = await handler(sqsEvent(sqsRecord(body)), fakeContext(1_000));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const next = parseListBody(sentTo(sqsMock, QUEUE_URLS.list)[0]?.body ?? "");
      assert.deepEqual(next.range, { startAfter: undefined, endAt: "m" });
      assert.equal(next.token, "token-2");
      assert.ok(
        ledger.portionRecords.every((p) => p.range.endAt !== undefined),
        "a portion of (-inf, m] must not end at +inf",
      );
      assert.equal(ledger.summary().rangesCovered, false);
    });

    it("does not continue when the page it read was the last one", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1"]));

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext(10));

      // Assess
      assert.deepEqual(sentTo(sqsMock, QUEUE_URLS.list), []);
      assert.equal(ledger.portionRecords[0]?.continued, false);
    });
  });

  describe("failures", () => {
    it("reports the record as failed when SendMessageBatch of copy work fails, and records nothing as done", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1", "k2"], "token-2"));
      sqsMock.on(SendMessageBatchCommand).rejects(s3Error("ServiceUnavailable", 503));
      const record = sqsRecord(listBody(listTask(testJob())));

      // Act
      const result = await handler(sqsEvent(record), fakeContext(1_000));

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(ledger.portionRecords, []);
      assert.equal(sentTo(sqsMock, QUEUE_URLS.list).length, 0);
    });

    it("reports the record as failed when SQS refuses copy entries as the sender's fault", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1"]));
      sqsMock.on(SendMessageBatchCommand).resolves({
        Successful: [],
        Failed: [{ Id: "0", SenderFault: true, Code: "InvalidMessageContents", Message: "bad" }],
      });
      const record = sqsRecord(listBody(listTask(testJob())));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(ledger.portionRecords, []);
    });

    it("reports the record as failed when its continuation cannot be enqueued", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1"], "token-2"));
      sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.list }).rejects(s3Error("InternalError", 500));
      const record = sqsRecord(listBody(listTask(testJob())));

      // Act
      const result = await handler(sqsEvent(record), fakeContext(1_000));

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.deepEqual(ledger.portionRecords, []);
    });

    it("reports the record as failed when listing fails", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).rejects(s3Error("InternalError", 500));
      const record = sqsRecord(listBody(listTask(testJob())));

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
    });

    it("reports only the failing record of a batch of two", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command, { Bucket: "good-src" }).resolves(page(["g1", "g2"]));
      s3Mock.on(ListObjectsV2Command, { Bucket: "bad-src" }).resolves(page(["b1", "b2"]));
      sqsMock.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommandInput) => {
        const bodies = (input.Entries ?? []).map((e) => e.MessageBody ?? "");
        if (bodies.some((b) => parseCopyBody(b).job.id === "job-bad")) return Promise.reject(s3Error("InternalError", 500));
        return Promise.resolve({ Successful: [], Failed: [] });
      });
      const good = sqsRecord(listBody(listTask(testJob({ id: "job-good", sourceBucket: "good-src" }))));
      const bad = sqsRecord(listBody(listTask(testJob({ id: "job-bad", sourceBucket: "bad-src" }))));

      // Act
      const result = await handler(sqsEvent(good, bad), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: bad.messageId }]);
      assert.deepEqual(
        ledger.portionRecords.map((p) => p.jobId),
        ["job-good"],
      );
    });
  });

  describe("poison messages", () => {
    const malformed: readonly (readonly [string, string, RegExp])[] = [
      ["a body that is not JSON", "{not json", /not JSON/],
      ["a body of another message version", JSON.stringify({ v: 99, type: "list" }), /version 99/],
      [
        "a copy message on the list queue",
        copyBody({ job: testJob(), batchId: "b1", attempt: 0, items: [{ key: "k", size: 1 }] }),
        /expected a list message/,
      ],
      ["a list message missing its job", JSON.stringify({ v: 1, type: "list", range: {}, hop: 0 }), /invalid list message/],
    ];
    for (const [what, body, reason] of malformed) {
      it(`parks ${what} in the list DLQ with the reason and acknowledges it`, async () => {
        // Prepare
        const { s3Mock, sqsMock, handler } = setup();
        const record = sqsRecord(body);

        // Act
        const result = await handler(sqsEvent(record), fakeContext());

        // Assess
        assert.deepEqual(result.batchItemFailures, []);
        assert.equal(listCalls(s3Mock).length, 0);
        const parked = sentTo(sqsMock, QUEUE_URLS.listDlq);
        assert.equal(parked.length, 1);
        const poison = parseJsonObject(parked[0]?.body ?? "");
        assert.equal(poison.type, "poison");
        assert.match(String(poison.reason), reason);
        assert.equal(poison.body, body);
        assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 1);
      });
    }

    it("parks a list message whose transport-encoded range bound is not valid percent-encoding", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      const body = JSON.stringify({
        v: 1,
        type: "list",
        job: { id: "job-1", source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } },
        range: { startAfter: "%E0%A4%A" },
        hop: 0,
      });
      const record = sqsRecord(body);

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(listCalls(s3Mock).length, 0);
      const parked = sentTo(sqsMock, QUEUE_URLS.listDlq);
      assert.equal(parked.length, 1);
      assert.equal(parseJsonObject(parked[0]?.body ?? "").type, "poison");
    });

    it("reports a poison record as failed when the list DLQ cannot take it", async () => {
      // Prepare
      const { sqsMock, handler } = setup();
      sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.listDlq }).rejects(s3Error("InternalError", 500));
      const record = sqsRecord("{not json");

      // Act
      const result = await handler(sqsEvent(record), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
    });

    it("keeps listing the valid record of a batch that also holds a poison one", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["k1"]));
      const poison = sqsRecord("[]");
      const valid = sqsRecord(listBody(listTask(testJob())));

      // Act
      const result = await handler(sqsEvent(poison, valid), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(sentTo(sqsMock, QUEUE_URLS.listDlq).length, 1);
      assert.deepEqual(emittedKeys(sqsMock), ["k1"]);
    });
  });

  describe("halt", () => {
    it("lists nothing and enqueues nothing for a halted job, and acknowledges the message", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, halt, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["a", "b"], "token-1"));
      const job = testJob();
      halt.halt(job.id);

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(job)))), fakeContext(1));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(listCalls(s3Mock).length, 0);
      assert.equal(sqsMock.commandCalls(SendMessageBatchCommand).length, 0);
      assert.equal(ledger.summary().portions, 0);
    });

    it("stops re-enqueueing itself once the job is halted mid-range", async () => {
      // Prepare: the halt lands while the first page is being listed.
      const { s3Mock, sqsMock, halt, handler } = setup();
      const job = testJob();
      s3Mock.on(ListObjectsV2Command).callsFake(async () => {
        halt.halt(job.id);
        return page(["a", "b"], "token-1");
      });

      // Act: a deadline so near that it would continue after this page.
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(job)))), fakeContext(1));

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      assert.equal(sentTo(sqsMock, QUEUE_URLS.list).length, 0);
      assert.deepEqual(emittedKeys(sqsMock), []);
    });
  });

  describe("splitting a range that proves large", () => {
    it("enqueues the rest of the range as split ranges that, with its own, cover it exactly", async () => {
      // Prepare: a full first page of numbered keys in a range open above.
      const { s3Mock, sqsMock, ledger, handler } = setup(
        testConfig({ listPageSize: 4, listSplitParts: 3, listSplitAfterPages: 1, listSplitPartPages: 1 }),
      );
      const keys = ["n-0000", "n-0001", "n-0002", "n-0003", "n-0004"];
      s3Mock
        .on(ListObjectsV2Command)
        .resolvesOnce(page(keys.slice(0, 4), "t1"))
        .resolves(page(["n-0004"]));
      const job = testJob();

      // Act
      const result = await handler(sqsEvent(sqsRecord(listBody(listTask(job, { startAfter: "m" })))), fakeContext());

      // Assess
      assert.deepEqual(result.batchItemFailures, []);
      const splits = sentTo(sqsMock, QUEUE_URLS.list).map((m) => parseListBody(m.body).range);
      // 4 keys over n-0000..n-0003: pieces of a page (4 keys), then 2 and 4 pages, the rest open.
      assert.deepEqual(splits, [
        { startAfter: "n-0006", endAt: "n-0012" },
        { startAfter: "n-0012", endAt: "n-0024" },
        { startAfter: "n-0024", endAt: undefined },
      ]);
      // The invocation kept (m, n-0006] and listed it to its end.
      assert.deepEqual(
        ledger.portionRecords.map((p) => p.range),
        [{ startAfter: "m", endAt: "n-0006" }],
      );
      assert.deepEqual(emittedKeys(sqsMock), keys);
    });

    it("staggers the split ranges: the i-th becomes receivable after i x listSplitStaggerSeconds", async () => {
      // Prepare
      const config = testConfig({ listPageSize: 4, listSplitParts: 3, listSplitAfterPages: 1, listSplitPartPages: 1 });
      const { s3Mock, sqsMock, handler } = setup({ ...config, listSplitStaggerSeconds: 4 });
      s3Mock
        .on(ListObjectsV2Command)
        .resolvesOnce(page(["n-0000", "n-0001", "n-0002", "n-0003"], "t1"))
        .resolves(page(["n-0004"]));

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob(), { startAfter: "m" })))), fakeContext());

      // Assess
      assert.deepEqual(
        sentTo(sqsMock, QUEUE_URLS.list).map((m) => [parseListBody(m.body).range.startAfter, m.delaySeconds]),
        [
          ["n-0006", 4],
          ["n-0012", 8],
          ["n-0024", 12],
        ],
      );
    });

    it("sends split ranges without a delay when no stagger is set", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup(
        testConfig({ listPageSize: 4, listSplitParts: 3, listSplitAfterPages: 1, listSplitPartPages: 1 }),
      );
      s3Mock
        .on(ListObjectsV2Command)
        .resolvesOnce(page(["n-0000", "n-0001", "n-0002", "n-0003"], "t1"))
        .resolves(page(["n-0004"]));

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob(), { startAfter: "m" })))), fakeContext());

      // Assess
      const sent = sentTo(sqsMock, QUEUE_URLS.list);
      assert.equal(sent.length, 3);
      assert.deepEqual(
        sent.map((m) => m.delaySeconds),
        [undefined, undefined, undefined],
      );
    });

    it("does not split when splitting is off or the page is not full", async () => {
      // Prepare
      const { s3Mock, sqsMock, handler } = setup(testConfig({ listPageSize: 10, listSplitParts: 8, listSplitAfterPages: 1 }));
      s3Mock
        .on(ListObjectsV2Command)
        .resolvesOnce(page(["a", "b"], "t1"))
        .resolves(page(["c"]));

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(testJob())))), fakeContext());

      // Assess
      assert.equal(sentTo(sqsMock, QUEUE_URLS.list).length, 0);
    });
  });

  describe("include and exclude patterns", () => {
    it("emits only the keys the job's patterns select and counts the others as skipped", async () => {
      // Prepare
      const { s3Mock, sqsMock, ledger, handler } = setup();
      s3Mock.on(ListObjectsV2Command).resolves(page(["d/a.json", "d/b.csv", "d/tmp/c.json", "d/x/y.json"]));
      const job = { ...testJob({ sourcePrefix: "d/" }), options: { include: ["**.json"], exclude: ["tmp/**"] } };

      // Act
      await handler(sqsEvent(sqsRecord(listBody(listTask(job)))), fakeContext());

      // Assess
      assert.deepEqual(emittedKeys(sqsMock), ["d/a.json", "d/x/y.json"]);
      assert.equal(ledger.portionRecords[0]?.skipped, 2);
      assert.equal(ledger.summary().skipped, 2);
    });
  });
});
