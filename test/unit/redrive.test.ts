/**
 * Redrive and report, without a network: a redriven DLQ failure record is
 * copy work, the copier carries `redriveOf` through retries, the ledger
 * counts a recovered key once, and the report writes RFC 4180 CSV.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { mockClient } from "aws-sdk-client-mock";
import { batchIdOf } from "../../lambdas/core/batching.ts";
import { type CopierDeps, copyTasks } from "../../lambdas/core/copier.ts";
import { MalformedMessageError } from "../../lambdas/core/errors.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { account, summarize } from "../../lambdas/core/ledger.ts";
import { AdaptiveLimiter } from "../../lambdas/core/limiter.ts";
import { type CopyItem, copyBody, failureBody, type JobRef, parseCopyBody, poisonBody } from "../../lambdas/core/messages.ts";
import type {
  BatchOutcome,
  BatchRef,
  CopyRequest,
  KeyFailure,
  OutgoingMessage,
  PortionRecord,
  QueueName,
} from "../../lambdas/core/ports.ts";
import type { Deployment } from "../../scripts/lib/deployment.ts";
import { isUnknownAction, moveTaskUnavailable, RedriveError, redrive } from "../../scripts/lib/redrive.ts";
import { csvField, failedRow, REPORT_COLUMNS, reportKey, toCsv, VANISHED_MESSAGE, vanishedRow } from "../../scripts/lib/report.ts";

const JOB: JobRef = {
  id: "20240305-070809-abc123",
  source: { bucket: "source-bucket", prefix: "in/" },
  destination: { bucket: "destination-bucket", prefix: "out/" },
};

const DENIED = { code: "AccessDenied", message: "Access Denied", status: 403 };

function item(key: string, size = 10): CopyItem {
  return { key, size, etag: '"d41d8cd98f00b204e9800998ecf8427e"' };
}

describe("parseCopyBody of a redriven copy-failure record", () => {
  it("is a batch of its one key, attempt 0, with a redrive id and redriveOf naming the batch it failed in", () => {
    // Prepare
    const key = item('in/comma, "quote"\nnew line \u{1f600}', 123);
    const body = failureBody(JOB, "original-batch_1", key, 5, DENIED);

    // Act
    const task = parseCopyBody(body);

    // Assess
    assert.deepEqual(task, {
      job: JOB,
      batchId: batchIdOf(JOB.id, [key], 0, "redrive:original-batch_1"),
      attempt: 0,
      items: [key],
      redriveOf: "original-batch_1",
    });
  });

  it("gives a duplicate delivery of the same record the same batch id, and another key another id", () => {
    // Prepare
    const a = failureBody(JOB, "b1", item("in/a"), 1, DENIED);
    const b = failureBody(JOB, "b1", item("in/b"), 1, DENIED);

    // Act / Assess
    assert.equal(parseCopyBody(a).batchId, parseCopyBody(a).batchId);
    assert.notEqual(parseCopyBody(a).batchId, parseCopyBody(b).batchId);
  });

  it("keeps a record without an ETag without one", () => {
    // Act
    const task = parseCopyBody(failureBody(JOB, "b1", { key: "in/k", size: 0 }, 1, DENIED));

    // Assess
    assert.deepEqual(task.items, [{ key: "in/k", size: 0, etag: undefined }]);
  });

  it("rejects a failure record without its key, naming the field", () => {
    // Prepare
    const { key: _dropped, ...rest } = JSON.parse(failureBody(JOB, "b1", item("in/k"), 1, DENIED)) as Record<string, unknown>;

    // Act / Assess
    assert.throws(
      () => parseCopyBody(JSON.stringify(rest)),
      (err: unknown) => err instanceof MalformedMessageError && /copy-failure/.test(err.message) && /key/.test(err.message),
    );
  });

  it("still rejects poison as malformed, so it goes back to the DLQ", () => {
    assert.throws(() => parseCopyBody(poisonBody("body is not JSON", "{")), MalformedMessageError);
  });

  it("round-trips a copy message that carries redriveOf, and leaves the field out of one that does not", () => {
    // Prepare
    const task = { job: JOB, batchId: "child_1", attempt: 2, items: [item("in/x")], redriveOf: "root-1" };
    const plain = { job: JOB, batchId: "b", attempt: 0, items: [item("in/y")] };

    // Act / Assess
    assert.deepEqual(parseCopyBody(copyBody(task)), task);
    assert.deepEqual(parseCopyBody(copyBody(plain)), plain);
    assert.ok(!copyBody(plain).includes("redriveOf"));
  });
});

describe("copier on a redriven batch", () => {
  function deps(copy: (r: CopyRequest) => Promise<void>) {
    const sent: { queue: QueueName; message: OutgoingMessage }[] = [];
    const outcomes: BatchOutcome[] = [];
    const d: CopierDeps = {
      store: { listPage: () => Promise.reject(new Error("not listed here")), copy },
      sink: {
        send: async (queue, messages) => {
          for (const message of messages) sent.push({ queue, message });
        },
      },
      ledger: {
        recordPortion: async () => undefined,
        recordBatch: async (o) => void outcomes.push(o),
        recordBatches: async (os) => void outcomes.push(...os),
      },
      halt: new LocalHaltSignal(),
      limiter: new AdaptiveLimiter({ max: 4 }),
      policy: { triesPerDelivery: 1, maxDeliveries: 3, backoff: { baseMs: 1, capMs: 2 } },
      limits: { maxKeys: 100, maxBytes: 64 * 1024 },
      remainingMs: () => 60_000,
      safetyMs: 0,
      sleep: async () => undefined,
      random: () => 0,
    };
    return { d, sent, outcomes };
  }

  it("records redriveOf and the copied key in the outcome", async () => {
    // Prepare
    const { d, outcomes } = deps(async () => undefined);
    const task = parseCopyBody(failureBody(JOB, "b1", item("in/k", 7), 1, DENIED));

    // Act
    const [error] = await copyTasks([task], d);

    // Assess
    assert.equal(error, undefined);
    assert.deepEqual(
      outcomes.map((o) => [o.batchId, o.redriveOf, o.copied, o.copiedBytes, o.copiedKeys]),
      [[task.batchId, "b1", 1, 7, ["in/k"]]],
    );
  });

  it("passes redriveOf on to a retry child, in its message and in its outcome", async () => {
    // Prepare: the first try fails with a 503, the retried child's try succeeds.
    let calls = 0;
    const { d, sent, outcomes } = deps(async () => {
      calls++;
      if (calls === 1) throw Object.assign(new Error("busy"), { name: "InternalError", $metadata: { httpStatusCode: 500 } });
    });
    const root = parseCopyBody(failureBody(JOB, "b1", item("in/k"), 1, DENIED));

    // Act
    await copyTasks([root], d);
    const child = parseCopyBody(sent.find((s) => s.queue === "copy")?.message.body ?? "");
    await copyTasks([child], d);

    // Assess
    assert.equal(child.redriveOf, "b1");
    assert.equal(child.attempt, 1);
    assert.deepEqual(
      outcomes[0]?.children.map((c) => c.batchId),
      [child.batchId],
    );
    assert.deepEqual(
      outcomes.map((o) => [o.redriveOf, o.copiedKeys]),
      [
        ["b1", []],
        ["b1", ["in/k"]],
      ],
    );
  });

  it("writes a key that fails again to the DLQ with the redriven batch's id, so the next redrive chains", async () => {
    // Prepare
    const { d, sent } = deps(() =>
      Promise.reject(Object.assign(new Error("denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } })),
    );
    const root = parseCopyBody(failureBody(JOB, "b1", item("in/k"), 1, DENIED));

    // Act
    await copyTasks([root], d);
    const record = sent.find((s) => s.queue === "copyDlq")?.message.body ?? "";

    // Assess
    assert.equal(parseCopyBody(record).redriveOf, root.batchId);
  });

  it("records no redrive field for an ordinary batch, and names its copied keys", async () => {
    // Prepare
    const { d, outcomes } = deps(async () => undefined);

    // Act
    await copyTasks([{ job: JOB, batchId: "b1", attempt: 0, items: [item("in/k")] }], d);

    // Assess
    assert.ok(outcomes[0] && !("redriveOf" in outcomes[0]));
    assert.deepEqual(outcomes[0].copiedKeys, ["in/k"]);
  });
});

describe("ledger accounting of redrives", () => {
  const ALL = { startAfter: undefined, endAt: undefined };

  function ref(batchId: string, keys = 2, bytes = 20): BatchRef {
    return { batchId, keys, bytes };
  }

  function portion(batches: readonly BatchRef[]): PortionRecord {
    return { jobId: JOB.id, range: ALL, listed: batches.reduce((n, b) => n + b.keys, 0), batches, continued: false };
  }

  function failure(key: string, size = 10, error = DENIED): KeyFailure {
    return { key, size, error, attempts: 1 };
  }

  function outcome(batchId: string, parts: Partial<Omit<BatchOutcome, "jobId" | "batchId">> = {}): BatchOutcome {
    return { jobId: JOB.id, batchId, copied: 0, copiedBytes: 0, vanished: [], failed: [], children: [], ...parts };
  }

  function outcomes(...list: BatchOutcome[]): Map<string, BatchOutcome> {
    return new Map(list.map((o) => [o.batchId, o]));
  }

  it("counts a failed key a redrive copied once, as copied, with its bytes", () => {
    // Prepare
    const portions = [portion([ref("b1", 2, 25)])];
    const failedFirst = outcome("b1", { copied: 1, copiedBytes: 15, failed: [failure("in/k", 10)] });
    const redriven = outcome("r1", { copied: 1, copiedBytes: 10, redriveOf: "b1", copiedKeys: ["in/k"] });

    // Act
    const before = summarize(portions, outcomes(failedFirst));
    const after = account(portions, outcomes(failedFirst, redriven));

    // Assess
    assert.deepEqual([before.copied, before.failed, before.bytes], [1, 1, 15]);
    assert.deepEqual([after.summary.copied, after.summary.failed, after.summary.bytes, after.summary.complete], [2, 0, 25, true]);
    assert.deepEqual(after.failures, []);
  });

  it("counts a failed key a redrive found vanished as vanished", () => {
    // Prepare
    const portions = [portion([ref("b1", 1, 10)])];
    const list = outcomes(
      outcome("b1", { failed: [failure("in/k")] }),
      outcome("r1", { redriveOf: "b1", vanished: ["in/k"], copiedKeys: [] }),
    );

    // Act
    const { summary, vanishedKeys } = account(portions, list);

    // Assess
    assert.deepEqual([summary.copied, summary.vanished, summary.failed], [0, 1, 0]);
    assert.deepEqual(vanishedKeys, ["in/k"]);
  });

  it("keeps a key that failed again once, with its latest error and batch", () => {
    // Prepare
    const later = { code: "InvalidObjectState", message: "archived", status: 403 };
    const list = outcomes(
      outcome("b1", { failed: [failure("in/k"), failure("in/other")] }),
      outcome("r1", { redriveOf: "b1", failed: [failure("in/k", 10, later)], copiedKeys: [] }),
    );

    // Act
    const { summary, failures } = account([portion([ref("b1")])], list);

    // Assess
    assert.equal(summary.failed, 2);
    assert.deepEqual(failures.map((f) => [f.key, f.batchId, f.error.code]).sort(), [
      ["in/k", "r1", "InvalidObjectState"],
      ["in/other", "b1", "AccessDenied"],
    ]);
  });

  it("follows a chain of redrives (a redrive of a redrive) and a redrive's retry children", () => {
    // Prepare: r1 fails k again; r2 (a redrive of r1) retries it in a child c2 that copies it.
    const list = outcomes(
      outcome("b1", { failed: [failure("in/k")] }),
      outcome("r1", { redriveOf: "b1", failed: [failure("in/k")], copiedKeys: [] }),
      outcome("r2", { redriveOf: "r1", children: [ref("c2", 1, 10)], copiedKeys: [] }),
      outcome("c2", { redriveOf: "r1", copied: 1, copiedBytes: 10, copiedKeys: ["in/k"] }),
    );

    // Act
    const { summary } = account([portion([ref("b1", 1, 10)])], list);

    // Assess
    assert.deepEqual([summary.copied, summary.failed, summary.bytes, summary.pendingBatches, summary.complete], [1, 0, 10, 0, true]);
  });

  it("is not complete while a redrive's retry child has no outcome, and the key is still failed", () => {
    // Prepare
    const list = outcomes(
      outcome("b1", { failed: [failure("in/k")] }),
      outcome("r1", { redriveOf: "b1", children: [ref("c1", 1)], copiedKeys: [] }),
    );

    // Act
    const { summary } = account([portion([ref("b1", 1)])], list);

    // Assess
    assert.deepEqual([summary.pendingBatches, summary.complete, summary.failed], [1, false, 1]);
  });

  it("changes nothing when a redrive copies a key that was never failed (a duplicate DLQ record)", () => {
    // Prepare
    const list = outcomes(
      outcome("b1", { copied: 2, copiedBytes: 20 }),
      outcome("r1", { redriveOf: "b1", copied: 1, copiedBytes: 10, copiedKeys: ["in/k"] }),
    );

    // Act
    const { summary } = account([portion([ref("b1")])], list);

    // Assess
    assert.deepEqual([summary.copied, summary.bytes, summary.failed, summary.listed], [2, 20, 0, 2]);
  });

  it("does not count a redrive's copies as listed keys", () => {
    // Prepare
    const list = outcomes(
      outcome("b1", { copied: 1, copiedBytes: 10, failed: [failure("in/k")] }),
      outcome("r1", { redriveOf: "b1", copied: 1, copiedBytes: 10, copiedKeys: ["in/k"] }),
    );

    // Act
    const { summary } = account([portion([ref("b1", 2, 20)])], list);

    // Assess
    assert.deepEqual([summary.listed, summary.copied + summary.failed + summary.vanished], [2, 2]);
  });
});

describe("report CSV", () => {
  it("quotes a field with a comma, quote, CR or LF and doubles its quotes, and no other", () => {
    assert.equal(csvField("plain text"), "plain text");
    assert.equal(csvField("a,b"), '"a,b"');
    assert.equal(csvField('say "hi"'), '"say ""hi"""');
    assert.equal(csvField("two\nlines"), '"two\nlines"');
    assert.equal(csvField("cr\rhere"), '"cr\rhere"');
    assert.equal(csvField(""), "");
  });

  it("URL-encodes keys with encodeURIComponent, slashes included", () => {
    assert.equal(reportKey('in/a b+c,d"e\nf'), "in%2Fa%20b%2Bc%2Cd%22e%0Af");
    assert.equal(reportKey("\u{1f600}/x"), "%F0%9F%98%80%2Fx");
    assert.equal(reportKey("lone\ud800"), "lone%EF%BF%BD");
  });

  it("writes a header and one CRLF-ended line per row, in the completion report's columns", () => {
    // Prepare
    const rows = [
      failedRow("src", {
        key: "in/k,1",
        size: 1,
        attempts: 1,
        batchId: "b1",
        error: { code: "AccessDenied", message: 'Access "Denied", sorry', status: 403 },
      }),
      failedRow("src", { key: "in/k2", size: 1, attempts: 3, batchId: "b1", error: { code: "ECONNRESET", message: "socket hang up" } }),
      vanishedRow("src", "in/gone"),
    ];

    // Act
    const csv = toCsv(rows);

    // Assess
    assert.equal(
      csv,
      [
        REPORT_COLUMNS.join(","),
        'src,in%2Fk%2C1,,failed,AccessDenied,403,"Access ""Denied"", sorry"',
        "src,in%2Fk2,,failed,ECONNRESET,,socket hang up",
        `src,in%2Fgone,,failed,NoSuchKey,404,${VANISHED_MESSAGE}`,
        "",
      ].join("\r\n"),
    );
    assert.equal(toCsv([]), "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage\r\n");
  });
});

describe("isUnknownAction", () => {
  it("recognises an endpoint without StartMessageMoveTask, and not SQS refusing a task", () => {
    const fauxqs = Object.assign(new Error("Unknown action: StartMessageMoveTask"), {
      name: "InvalidAction",
      $metadata: { httpStatusCode: 400 },
    });
    const running = Object.assign(new Error("There is already a task running"), {
      name: "UnsupportedOperation",
      $metadata: { httpStatusCode: 400 },
    });
    assert.equal(isUnknownAction(fauxqs), true);
    assert.equal(isUnknownAction(running), false);
  });
});

describe("moveTaskUnavailable", () => {
  const sdkError = (name: string, message: string, status: number | undefined) =>
    Object.assign(new Error(message), { name, $metadata: { httpStatusCode: status } });

  it("hands over to moving by hand for an unknown action, 501, a 5xx and an answer that is not SQS's, naming why", () => {
    // Prepare: the last as the SDK throws for moto's HTML 500 page.
    const html = sdkError(
      "SyntaxError",
      "Unexpected token '<', \"<html><bod\"... is not valid JSON\n  Deserialization error: to see the raw response, inspect the hidden field {error}.$response on this object.",
      500,
    );
    const thrown = [
      sdkError("InvalidAction", "Unknown action: StartMessageMoveTask", 400),
      sdkError("HTTP501", "", 501),
      sdkError("InternalError", "We encountered an internal error", 500),
      sdkError("ServiceUnavailable", "", 503),
      html,
      sdkError("SyntaxError", "Unexpected token '<'", 404),
    ];

    // Act
    const reasons = thrown.map(moveTaskUnavailable);

    // Assess
    assert.deepEqual(reasons, [
      "the endpoint has no StartMessageMoveTask (InvalidAction)",
      "the endpoint has no StartMessageMoveTask (HTTP501)",
      "StartMessageMoveTask failed there (HTTP 500, InternalError)",
      "StartMessageMoveTask failed there (HTTP 503, ServiceUnavailable)",
      "the endpoint's answer to StartMessageMoveTask is not SQS's (HTTP 500, a body the SDK could not parse)",
      "the endpoint's answer to StartMessageMoveTask is not SQS's (HTTP 404, a body the SDK could not parse)",
    ]);
  });

  it("leaves SQS refusing a task to the caller: access denied, one already running, a network failure", () => {
    // Prepare
    const thrown = [
      sdkError("AccessDenied", "not authorized to perform sqs:StartMessageMoveTask", 403),
      sdkError("UnsupportedOperation", "a task is already running", 400),
      Object.assign(new Error("read ECONNRESET"), { code: "ECONNRESET" }),
    ];

    // Act / Assess
    assert.deepEqual(thrown.map(moveTaskUnavailable), [undefined, undefined, undefined]);
  });
});

describe("redrive", () => {
  const DEPLOYMENT: Deployment = {
    stackName: "S3Fanout",
    listQueueUrl: "https://sqs.example/000000000000/list",
    listDlqUrl: "https://sqs.example/000000000000/list-dlq",
    copyQueueUrl: "https://sqs.example/000000000000/copy",
    copyDlqUrl: "https://sqs.example/000000000000/copy-dlq",
    listFunctionName: "list",
    copyFunctionName: "copy",
    ledgerBucket: "ledger",
    sourceBuckets: [],
    destinationBuckets: [],
  };
  const arnOf = (url: string) => `arn:aws:sqs:us-east-1:000000000000:${url.split("/").at(-1)}`;
  const OLD = String(Date.now() - 60_000);

  function message(id: string, body: string, sentTimestamp = OLD): Message {
    return { MessageId: id, ReceiptHandle: `rh-${id}`, Body: body, Attributes: { SentTimestamp: sentTimestamp } };
  }

  function sqsWith(...receives: Message[][]) {
    const sqs = new SQSClient({ region: "us-east-1" });
    const mock = mockClient(sqs);
    mock.on(GetQueueAttributesCommand).callsFake((input: { QueueUrl: string }) => ({
      Attributes: { QueueArn: arnOf(input.QueueUrl), ApproximateNumberOfMessages: "3" },
    }));
    let r = mock.on(ReceiveMessageCommand);
    for (const messages of receives) r = r.resolvesOnce({ Messages: messages });
    r.resolves({});
    mock
      .on(SendMessageBatchCommand)
      .callsFake((input: { Entries: { Id: string }[] }) => ({ Successful: input.Entries.map((e) => ({ Id: e.Id })) }));
    mock.on(DeleteMessageBatchCommand).resolves({ Successful: [] });
    mock.on(ChangeMessageVisibilityBatchCommand).resolves({});
    return { sqs, mock };
  }

  const failureRecord = (key: string) => failureBody(JOB, "b1", item(key), 1, DENIED);

  it("moves copy work back by hand, deletes it only once sent, and leaves poison in the DLQ, visible again", async () => {
    // Prepare
    const work = [
      message("m1", failureRecord("in/a")),
      message("m2", copyBody({ job: JOB, batchId: "b2", attempt: 4, items: [item("in/b")] })),
    ];
    const poison = [message("p1", poisonBody("body is not JSON", "{")), message("p2", "garbage")];
    const { sqs, mock } = sqsWith([...work, ...poison]);

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: true, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.mode, result?.moved, result?.skipped, result?.arrived, result?.sendFailed], ["manual", 2, 2, 0, 0]);
    const sent = mock.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      sent.map((i) => [i.QueueUrl, i.Entries?.map((e) => e.MessageBody)]),
      [[DEPLOYMENT.copyQueueUrl, work.map((m) => m.Body)]],
    );
    const deleted = mock.commandCalls(DeleteMessageBatchCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      deleted.map((i) => [i.QueueUrl, i.Entries?.map((e) => e.ReceiptHandle)]),
      [[DEPLOYMENT.copyDlqUrl, ["rh-m1", "rh-m2"]]],
    );
    const shown = mock.commandCalls(ChangeMessageVisibilityBatchCommand).map((c) => c.args[0].input);
    assert.deepEqual(
      shown.map((i) => i.Entries?.map((e) => [e.ReceiptHandle, e.VisibilityTimeout])),
      [
        [
          ["rh-p1", 0],
          ["rh-p2", 0],
        ],
      ],
    );
  });

  it("keeps in the DLQ what the work queue refused", async () => {
    // Prepare
    const { sqs, mock } = sqsWith([message("m1", failureRecord("in/a")), message("m2", failureRecord("in/b"))]);
    mock.on(SendMessageBatchCommand).resolves({
      Successful: [{ Id: "1", MessageId: "x", MD5OfMessageBody: "" }],
      Failed: [{ Id: "0", Code: "InternalError", SenderFault: false }],
    });

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: true, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.moved, result?.sendFailed], [1, 1]);
    assert.deepEqual(
      mock.commandCalls(DeleteMessageBatchCommand).flatMap((c) => c.args[0].input.Entries?.map((e) => e.ReceiptHandle)),
      ["rh-m2"],
    );
    assert.deepEqual(
      mock.commandCalls(ChangeMessageVisibilityBatchCommand).flatMap((c) => c.args[0].input.Entries?.map((e) => e.ReceiptHandle)),
      ["rh-m1"],
    );
  });

  it("leaves for the next redrive what reached the DLQ after it started, so a key that keeps failing does not go round for ever", async () => {
    // Prepare
    const later = String(Date.now() + 60_000);
    const { sqs } = sqsWith([message("m1", failureRecord("in/a")), message("m2", failureRecord("in/a"), later)]);

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: true, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.moved, result?.arrived], [1, 1]);
  });

  it("stops at --max, asking for no more than it may move", async () => {
    // Prepare
    const { sqs, mock } = sqsWith(
      [message("m1", failureRecord("in/a")), message("m2", failureRecord("in/b"))],
      [message("m3", failureRecord("in/c"))],
    );

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: false, max: 2, waitSeconds: 0 });

    // Assess
    assert.equal(result?.moved, 2);
    assert.deepEqual(
      mock.commandCalls(ReceiveMessageCommand).map((c) => c.args[0].input.MaxNumberOfMessages),
      [2],
    );
    assert.equal(mock.commandCalls(StartMessageMoveTaskCommand).length, 0);
  });

  it("takes list messages from the list DLQ and skips copy work found there", async () => {
    // Prepare
    const list = JSON.stringify({ v: 1, type: "list", job: JOB, range: {}, hop: 0 });
    const { sqs, mock } = sqsWith([message("l1", list), message("c1", failureRecord("in/a"))]);

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["list"], { manual: true, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.queue, result?.moved, result?.skipped], ["list", 1, 1]);
    assert.equal(mock.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.QueueUrl, DEPLOYMENT.listQueueUrl);
  });

  it("on AWS starts a move task from the DLQ to its work queue", async () => {
    // Prepare
    const { sqs, mock } = sqsWith();
    mock.on(StartMessageMoveTaskCommand).resolves({ TaskHandle: "task-1" });

    // Act
    const results = await redrive(sqs, DEPLOYMENT, ["copy", "list"], { manual: false });

    // Assess
    assert.deepEqual(
      results.map((r) => [r.queue, r.mode, r.taskHandle, r.before]),
      [
        ["copy", "move-task", "task-1", 3],
        ["list", "move-task", "task-1", 3],
      ],
    );
    assert.deepEqual(
      mock.commandCalls(StartMessageMoveTaskCommand).map((c) => c.args[0].input),
      [
        { SourceArn: arnOf(DEPLOYMENT.copyDlqUrl), DestinationArn: arnOf(DEPLOYMENT.copyQueueUrl) },
        { SourceArn: arnOf(DEPLOYMENT.listDlqUrl), DestinationArn: arnOf(DEPLOYMENT.listQueueUrl) },
      ],
    );
    assert.equal(mock.commandCalls(ReceiveMessageCommand).length, 0);
  });

  it("moves by hand where the endpoint has no StartMessageMoveTask, and says why", async () => {
    // Prepare
    const { sqs, mock } = sqsWith([message("m1", failureRecord("in/a"))]);
    mock
      .on(StartMessageMoveTaskCommand)
      .rejects(
        Object.assign(new Error("Unknown action: StartMessageMoveTask"), { name: "InvalidAction", $metadata: { httpStatusCode: 400 } }),
      );

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: false, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.mode, result?.moved], ["manual", 1]);
    assert.match(result?.fallback ?? "", /InvalidAction/);
  });

  it("moves by hand where StartMessageMoveTask answers a page that is not SQS's, and says why", async () => {
    // Prepare
    const { sqs, mock } = sqsWith([message("m1", failureRecord("in/a"))]);
    mock
      .on(StartMessageMoveTaskCommand)
      .rejects(Object.assign(new Error("Unexpected token '<'"), { name: "SyntaxError", $metadata: { httpStatusCode: 500 } }));

    // Act
    const [result] = await redrive(sqs, DEPLOYMENT, ["copy"], { manual: false, waitSeconds: 0 });

    // Assess
    assert.deepEqual([result?.mode, result?.moved], ["manual", 1]);
    assert.match(result?.fallback ?? "", /not SQS's \(HTTP 500/);
  });

  it("says in one line to run --manual when SQS refuses a move task for want of permission", async () => {
    // Prepare
    const { sqs, mock } = sqsWith([message("m1", failureRecord("in/a"))]);
    mock
      .on(StartMessageMoveTaskCommand)
      .rejects(Object.assign(new Error("not authorized"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } }));

    // Act / Assess
    await assert.rejects(redrive(sqs, DEPLOYMENT, ["list"], { manual: false }), (err: unknown) => {
      assert.ok(err instanceof RedriveError);
      assert.equal(
        err.message,
        "SQS refused a move task for the list DLQ (AccessDenied: not authorized); move the messages by hand instead: npm run redrive -- --queue list --manual",
      );
      return true;
    });
    assert.equal(mock.commandCalls(ReceiveMessageCommand).length, 0);
  });

  it("reports SQS refusing a move task (one already running) as an error, not by moving by hand", async () => {
    // Prepare
    const { sqs, mock } = sqsWith([message("m1", failureRecord("in/a"))]);
    mock
      .on(StartMessageMoveTaskCommand)
      .rejects(Object.assign(new Error("a task is already running"), { name: "UnsupportedOperation", $metadata: { httpStatusCode: 400 } }));

    // Act / Assess
    await assert.rejects(redrive(sqs, DEPLOYMENT, ["copy"], { manual: false }), (err: unknown) => {
      return err instanceof RedriveError && /already be running/.test(err.message) && /--manual/.test(err.message);
    });
    assert.equal(mock.commandCalls(ReceiveMessageCommand).length, 0);
  });
});
