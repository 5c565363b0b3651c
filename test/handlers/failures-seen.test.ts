/**
 * Every failure is seen: each key that fails and each record returned for a
 * retry leaves a log line (WARN or ERROR) with job, batch, key, error code and
 * attempt, carrying the Lambda context; failures are counted by error code in
 * EMF; a listing that cannot succeed is parked on its first failure, and a
 * redriven one lists again.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Metrics } from "@aws-lambda-powertools/metrics";
import { CopyObjectCommand, ListObjectsV2Command } from "@aws-sdk/client-s3";
import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand } from "@aws-sdk/client-sqs";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { SqsMessageSink } from "../../lambdas/aws/sqsSink.ts";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { copyBody, listBody, parseListBody } from "../../lambdas/core/messages.ts";
import { recordRetrySeconds } from "../../lambdas/core/retry.ts";
import { createListHandler } from "../../lambdas/list/handler.ts";
import { METRICS_NAMESPACE, PipelineMetric, SERVICE_NAME } from "../../lambdas/telemetry.ts";
import {
  captureJsonLines,
  fakeContext,
  jsonLogger,
  mockedClients,
  parseJsonObject,
  QUEUE_URLS,
  RecordingLedger,
  s3Error,
  sentTo,
  sqsEvent,
  sqsRecord,
  testConfig,
  testJob,
} from "./support/harness.ts";

function deps() {
  const clients = mockedClients();
  const config = testConfig();
  const store = new S3ObjectStore(clients.s3);
  const sink = new SqsMessageSink(clients.sqs, config.queues);
  return {
    clients,
    common: {
      store,
      multipart: store,
      sink,
      redelivery: sink,
      ledger: new RecordingLedger(),
      halt: new LocalHaltSignal(),
      config,
      logger: jsonLogger(),
      metrics: new Metrics({ namespace: METRICS_NAMESPACE, serviceName: SERVICE_NAME }),
    },
  };
}

const byMessage = (lines: Record<string, unknown>[], message: string) => lines.filter((l) => l.message === message);

/** Values of a metric across EMF lines, with the dimensions each line declared. */
function emf(lines: Record<string, unknown>[], metric: string): { value: unknown; dimensions: string[]; line: Record<string, unknown> }[] {
  return lines.flatMap((line) => {
    const aws = line._aws as { CloudWatchMetrics?: { Dimensions: string[][]; Metrics: { Name: string }[] }[] } | undefined;
    const directive = aws?.CloudWatchMetrics?.find((d) => d.Metrics.some((m) => m.Name === metric));
    return directive ? [{ value: line[metric], dimensions: directive.Dimensions.flat(), line }] : [];
  });
}

describe("failures are seen", () => {
  it("logs a key that fails for good at ERROR with job, batch, key, error code and attempt, in the Lambda context", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock.on(CopyObjectCommand).rejects(s3Error("AccessDenied", 403, "Access Denied"));
    const handler = createCopyHandler(common);
    const body = copyBody({ job: testJob({ id: "job-9" }), batchId: "batch-7", attempt: 1, items: [{ key: "dir/😀 k", size: 5 }] });

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(sqsRecord(body)), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, []);
    const [failed, ...more] = byMessage(lines, "copy failed");
    assert.equal(more.length, 0);
    assert.ok(failed);
    assert.equal(failed.level, "ERROR");
    assert.equal(failed.jobId, "job-9");
    assert.equal(failed.batchId, "batch-7");
    assert.equal(failed.key, "dir/😀 k");
    assert.equal(failed.errorCode, "AccessDenied");
    assert.equal(failed.attempt, 2);
    assert.equal(failed.function_request_id, "request-1");
    assert.equal(failed.function_name, "s3-fanout-test");
    const [byCode] = emf(lines, PipelineMetric.FailuresByCode);
    assert.ok(byCode, "a FailuresByCode EMF line");
    assert.equal(byCode.value, 1);
    assert.deepEqual(byCode.dimensions.sort(), ["errorCode", "service"]);
    assert.equal(byCode.line.errorCode, "AccessDenied");
    assert.equal(byCode.line.service, SERVICE_NAME);
    assert.deepEqual(
      emf(lines, PipelineMetric.CopyFailures).map((m) => m.value),
      [1],
    );
  });

  it("marks only an instance's first invocation as a cold start, as Lambda's context does", async () => {
    // Prepare: Powertools reports cold starts only where Lambda says the environment started on demand.
    const initialization = process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    process.env.AWS_LAMBDA_INITIALIZATION_TYPE = "on-demand";
    const { clients, common } = deps();
    const handler = createCopyHandler(common);
    if (initialization === undefined) delete process.env.AWS_LAMBDA_INITIALIZATION_TYPE;
    else process.env.AWS_LAMBDA_INITIALIZATION_TYPE = initialization;
    clients.s3Mock.on(CopyObjectCommand).rejects(s3Error("AccessDenied", 403));
    const event = () => sqsEvent(sqsRecord(copyBody({ job: testJob(), batchId: "b", attempt: 0, items: [{ key: "k", size: 1 }] })));

    // Act
    const first = await captureJsonLines(() => handler(event(), fakeContext()));
    const second = await captureJsonLines(() => handler(event(), { ...fakeContext(), awsRequestId: "request-2" }));

    // Assess
    const line = (r: typeof first) => byMessage(r.lines, "copy failed")[0];
    assert.deepEqual([line(first)?.cold_start, line(first)?.function_request_id], [true, "request-1"]);
    assert.deepEqual([line(second)?.cold_start, line(second)?.function_request_id], [false, "request-2"]);
  });

  it("logs each failed try of a key at WARN with its attempt and try", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock
      .on(CopyObjectCommand)
      .rejectsOnce(s3Error("InternalError", 500))
      .resolves({ CopyObjectResult: { ETag: '"e"' } });
    const handler = createCopyHandler(common);
    const body = copyBody({ job: testJob(), batchId: "batch-1", attempt: 0, items: [{ key: "k", size: 5 }] });

    // Act
    const { lines } = await captureJsonLines(() => handler(sqsEvent(sqsRecord(body)), fakeContext()));

    // Assess
    const retries = byMessage(lines, "copy retry");
    assert.deepEqual(
      retries.map((l) => [l.level, l.key, l.errorCode, l.attempt, l.try]),
      [["WARN", "k", "InternalError", 1, 1]],
    );
    assert.deepEqual(byMessage(lines, "copy failed"), []);
  });

  it("logs a record returned for a retry at ERROR with its job, batch and error, and counts it", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock.on(CopyObjectCommand).rejects(s3Error("AccessDenied", 403));
    clients.sqsMock.on(SendMessageBatchCommand, { QueueUrl: QUEUE_URLS.copyDlq }).rejects(s3Error("InternalError", 500));
    const handler = createCopyHandler(common);
    const record = sqsRecord(copyBody({ job: testJob({ id: "job-3" }), batchId: "batch-3", attempt: 0, items: [{ key: "k", size: 1 }] }));

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(record), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
    const [failed] = byMessage(lines, "record failed");
    assert.ok(failed);
    assert.equal(failed.level, "ERROR");
    assert.equal(failed.messageId, record.messageId);
    assert.equal(failed.jobId, "job-3");
    assert.equal(failed.batchId, "batch-3");
    assert.equal(failed.errorCode, "InternalError");
    assert.equal(failed.receiveCount, 1);
    assert.deepEqual(
      emf(lines, PipelineMetric.RecordFailures).map((m) => m.value),
      [1],
    );
  });

  it("brings a failed record back after a backoff by its receive count, not after the visibility timeout", async () => {
    // Prepare: listing fails transiently (past the SDK's retries), so the record of this second delivery fails.
    const { clients, common } = deps();
    clients.s3Mock.on(ListObjectsV2Command).rejects(s3Error("InternalError", 500));
    clients.sqsMock.on(ChangeMessageVisibilityBatchCommand).resolves({ Successful: [{ Id: "0" }], Failed: [] });
    const handler = createListHandler(common);
    const record = sqsRecord(listBody({ job: testJob(), range: {}, hop: 0 }));
    const second = { ...record, attributes: { ...record.attributes, ApproximateReceiveCount: "2" } };

    // Act
    const { result } = await captureJsonLines(() => handler(sqsEvent(second), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
    const calls = clients.sqsMock.commandCalls(ChangeMessageVisibilityBatchCommand).map((c) => c.args[0].input);
    assert.deepEqual(calls, [
      { QueueUrl: QUEUE_URLS.list, Entries: [{ Id: "0", ReceiptHandle: record.receiptHandle, VisibilityTimeout: 240 }] },
    ]);
    assert.deepEqual([1, 2, 3, 4, 5, 9].map(recordRetrySeconds), [60, 240, 900, 900, 900, 900]);
  });

  it("leaves failed records to the visibility timeout, with a WARN, when SQS refuses the change", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock.on(ListObjectsV2Command).rejects(s3Error("InternalError", 500));
    clients.sqsMock.on(ChangeMessageVisibilityBatchCommand).rejects(s3Error("AccessDenied", 403));
    const handler = createListHandler(common);
    const record = sqsRecord(listBody({ job: testJob(), range: {}, hop: 0 }));

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(record), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: record.messageId }]);
    assert.deepEqual(
      byMessage(lines, "failed records wait out the visibility timeout").map((l) => [l.level, l.errorCode, l.records]),
      [["WARN", "AccessDenied", 1]],
    );
  });

  it("parks a listing that gets AccessDenied in the list DLQ on its first failure, with the error, and logs it", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock.on(ListObjectsV2Command).rejects(s3Error("AccessDenied", 403, "Access Denied"));
    const handler = createListHandler(common);
    const body = listBody({ job: testJob({ id: "job-5" }), range: { startAfter: "a", endAt: "m" }, hop: 0 });

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(sqsRecord(body)), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, [], "parked, not retried");
    const [parked, ...more] = sentTo(clients.sqsMock, QUEUE_URLS.listDlq);
    assert.equal(more.length, 0);
    assert.ok(parked);
    const record = parseJsonObject(parked.body);
    assert.equal(record.type, "list-failure");
    assert.deepEqual((record.error as { code: string }).code, "AccessDenied");
    assert.match(String(record.reason), /^AccessDenied: /);
    const [line] = byMessage(lines, "listing parked");
    assert.ok(line);
    assert.equal(line.level, "ERROR");
    assert.equal(line.jobId, "job-5");
    assert.equal(line.errorCode, "AccessDenied");
    assert.equal(line.startAfter, "a");
    assert.equal(line.endAt, "m");
    assert.equal(line.function_request_id, "request-1");
    assert.deepEqual(
      emf(lines, PipelineMetric.ListFailures).map((m) => m.value),
      [1],
    );
    assert.equal(common.ledger.portionRecords.length, 0);
  });

  it("parks a listing of a bucket that does not exist, and retries one that failed transiently", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock
      .on(ListObjectsV2Command, { Bucket: "gone" })
      .rejects(s3Error("NoSuchBucket", 404))
      .on(ListObjectsV2Command, { Bucket: "src" })
      .rejects(s3Error("InternalError", 500));
    const handler = createListHandler(common);
    const gone = sqsRecord(listBody({ job: testJob({ sourceBucket: "gone" }), range: {}, hop: 0 }));
    const flaky = sqsRecord(listBody({ job: testJob(), range: {}, hop: 0 }));

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(gone, flaky), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, [{ itemIdentifier: flaky.messageId }]);
    assert.equal(sentTo(clients.sqsMock, QUEUE_URLS.listDlq).length, 1);
    assert.deepEqual(
      byMessage(lines, "listing parked").map((l) => l.errorCode),
      ["NoSuchBucket"],
    );
    assert.deepEqual(
      byMessage(lines, "record failed").map((l) => [l.level, l.errorCode, l.messageId]),
      [["ERROR", "InternalError", flaky.messageId]],
    );
  });

  it("parks a redriven listing that fails for good again as the listing it was, never wrapped twice", async () => {
    // Prepare
    const { clients, common } = deps();
    clients.s3Mock.on(ListObjectsV2Command).rejects(s3Error("AccessDenied", 403));
    const handler = createListHandler(common);
    const original = listBody({ job: testJob(), range: { startAfter: "a" }, hop: 1 });

    // Act: parked, redriven (the body as it was parked), denied again.
    await captureJsonLines(() => handler(sqsEvent(sqsRecord(original)), fakeContext()));
    const [first] = sentTo(clients.sqsMock, QUEUE_URLS.listDlq);
    assert.ok(first);
    await captureJsonLines(() => handler(sqsEvent(sqsRecord(first.body)), fakeContext()));

    // Assess
    const [, second] = sentTo(clients.sqsMock, QUEUE_URLS.listDlq);
    assert.ok(second);
    assert.equal(parseJsonObject(second.body).body, original);
    assert.deepEqual(parseListBody(second.body), parseListBody(original));
  });

  it("counts poison in the metric the failures alarm sums", async () => {
    // Prepare
    const { common } = deps();
    const handler = createCopyHandler(common);

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(sqsRecord("{not json")), fakeContext()));

    // Assess
    assert.deepEqual(result.batchItemFailures, []);
    assert.deepEqual(
      emf(lines, PipelineMetric.PoisonMessages).map((m) => m.value),
      [1],
    );
    assert.equal(byMessage(lines, "poison message parked")[0]?.level, "ERROR");
  });

  it("lists a parked listing again when it is redriven, as the message it was", () => {
    // Prepare
    const task = { job: testJob(), range: { startAfter: "\u0001a", endAt: "z😀" }, token: "t", hop: 2 };

    // Act
    const wrapped = JSON.stringify({ v: 1, type: "list-failure", reason: "AccessDenied: x", body: listBody(task) });

    // Assess
    assert.deepEqual(parseListBody(wrapped), parseListBody(listBody(task)));
    assert.throws(() => parseListBody(JSON.stringify({ v: 1, type: "list-failure", body: wrapped })), /expected a list message/);
  });
});
