/**
 * redrive and report as an operator runs them: child processes against the
 * emulator, reading the outputs file of the local stack that runs the real
 * handlers in this process. Keys fail for good while a fault is on; report
 * lists them as CSV; with the fault off, redrive sends them back and the job
 * ends with every key copied and an empty report.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import type { IncomingMessage, ServerResponse } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetQueueAttributesCommand, SendMessageCommand } from "@aws-sdk/client-sqs";
import { poisonBody } from "../../lambdas/core/messages.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { EXIT } from "../../scripts/lib/cli.ts";
import { type Connection, connect, type JobStatus, jobStatus, kickoff } from "../../scripts/lib/operator.ts";
import { awkwardKeys, checkObjects, ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { type LocalStack, startLocalStack } from "../../scripts/local/stack.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { listen, readBody, replyWith, upstreamTo } from "../support/forward.ts";
import { assertOneLineError, lastJson, runOperator, stderrLines, waitFor } from "../support/localStack.ts";

async function visibleMessages(c: Connection, url: string): Promise<number> {
  const out = await c.sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["ApproximateNumberOfMessages"] }));
  return Number(out.Attributes?.ApproximateNumberOfMessages ?? 0);
}

const HEADER = "Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage\r\n";

/**
 * Keys that fail while the fault is on, in key (UTF-8 byte) order, each with
 * its report line as it must read: key URL-encoded, message quoted by RFC 4180.
 */
const DENIED: readonly { readonly key: string; readonly line: (bucket: string) => string }[] = [
  { key: "in/a b+c%20d", line: (b) => `${b},in%2Fa%20b%2Bc%2520d,,failed,AccessDenied,403,Access Denied: in/a b+c%20d\r\n` },
  {
    key: "in/carriage\rreturn",
    line: (b) => `${b},in%2Fcarriage%0Dreturn,,failed,AccessDenied,403,"Access Denied: in/carriage\rreturn"\r\n`,
  },
  { key: "in/comma,", line: (b) => `${b},in%2Fcomma%2C,,failed,AccessDenied,403,"Access Denied: in/comma,"\r\n` },
  { key: "in/new\nline", line: (b) => `${b},in%2Fnew%0Aline,,failed,AccessDenied,403,"Access Denied: in/new\nline"\r\n` },
  { key: 'in/quote"double', line: (b) => `${b},in%2Fquote%22double,,failed,AccessDenied,403,"Access Denied: in/quote""double"\r\n` },
  {
    key: "in/\u{1f600}/smile",
    line: (b) => `${b},in%2F%F0%9F%98%80%2Fsmile,,failed,AccessDenied,403,Access Denied: in/\u{1f600}/smile\r\n`,
  },
];

/**
 * Forwards to the emulator, but answers StartMessageMoveTask with a 500: an HTML page, as moto does, or SQS's
 * own InternalError, after which ListMessageMoveTasks says whether the task started after all (`running`).
 */
async function startHtmlMoveTaskProxy(
  target: string,
  answer: { readonly sqs500: boolean; running: boolean } = { sqs500: false, running: false },
) {
  const upstream = upstreamTo(target);
  let moveTasks = 0;
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    const action = req.headers["x-amz-target"];
    if (action === "AmazonSQS.StartMessageMoveTask") {
      moveTasks++;
      if (answer.sqs500) {
        res.writeHead(500, { "content-type": "application/x-amz-json-1.0" });
        res.end(JSON.stringify({ __type: "com.amazonaws.sqs#InternalError", message: "We encountered an internal error." }));
        return;
      }
      res.writeHead(500, { "content-type": "text/html; charset=utf-8" });
      res.end(
        "<!doctype html><html><head><title>500 Internal Server Error</title></head><body><h1>Internal Server Error</h1></body></html>",
      );
      return;
    }
    if (action === "AmazonSQS.ListMessageMoveTasks" && answer.sqs500) {
      res.writeHead(200, { "content-type": "application/x-amz-json-1.0" });
      res.end(JSON.stringify({ Results: answer.running ? [{ Status: "RUNNING", TaskHandle: "t-1", SourceArn: "arn:dlq" }] : [] }));
      return;
    }
    replyWith(res, await upstream.send(req, body));
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return {
    endpoint: proxy.endpoint,
    get moveTasks() {
      return moveTasks;
    },
    close: proxy.close,
  };
}

describe("npm run redrive / npm run report", () => {
  let emulator: TestEmulator;
  let stack: LocalStack;
  let dir: string;
  let outputs: string;
  let c: Connection;
  /** The fault: while on, copying a denied key fails with AccessDenied (permanent, not retried). */
  let faultOn = true;
  const denied = new Set(DENIED.map((d) => d.key));

  const deployment = () => ["--outputs", outputs, "--endpoint", emulator.endpoint];

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-redrive-"));
    stack = await startLocalStack({
      s3: emulator.s3,
      sqs: emulator.sqs,
      stackName: `RedriveStack-${process.pid}`,
      logLevel: "SILENT",
      copyPolicy: { triesPerDelivery: 1, maxDeliveries: 1, backoff: { baseMs: 1, capMs: 2 } },
      haltTtlMs: 100,
      wrapStore: (store: ObjectStore): ObjectStore => ({
        listPage: (request) => store.listPage(request),
        copy: async (request) => {
          if (faultOn && denied.has(request.sourceKey)) {
            throw Object.assign(new Error(`Access Denied: ${request.sourceKey}`), {
              name: "AccessDenied",
              $metadata: { httpStatusCode: 403 },
            });
          }
          return store.copy(request);
        },
      }),
    });
    outputs = join(dir, "outputs.json");
    writeFileSync(outputs, `${JSON.stringify(stack.outputs(), null, 2)}\n`);
    c = await connect({ outputs, endpoint: emulator.endpoint });
  });

  after(async () => {
    await stack.stop();
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("reports the failed keys as CSV, redrives them once the fault is gone, and then reports none", async () => {
    // Prepare: every awkward key under in/, some denied while the fault is on.
    const source = bucketName("redrive-src");
    const destination = bucketName("redrive-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = awkwardKeys().map((k, i) => seedObject(`in/${k}`, i));
    for (const d of DENIED)
      assert.ok(
        objects.some((o) => o.key === d.key),
        `fixture lacks ${JSON.stringify(d.key)}`,
      );
    await putObjects(emulator.s3, source, objects);
    const { spec } = await kickoff(c, { bucket: source, prefix: "in/" }, { bucket: destination, prefix: "out/" });
    const settled = (failed: number) => async (): Promise<JobStatus | undefined> => {
      const s = await jobStatus(c, spec.id);
      return s.complete && s.failed === failed ? s : undefined;
    };
    const first = await waitFor("the job to end with the denied keys failed", settled(DENIED.length));
    assert.equal(first.copied, objects.length - DENIED.length);

    // Act: report while keys are failed.
    const failedReport = await runOperator("report", ["--job", spec.id, ...deployment()], emulator.endpoint);
    const outFile = join(dir, "report.csv");
    const jsonReport = await runOperator(
      "report",
      ["--job", spec.id, "--all", "--out", outFile, "--json", ...deployment()],
      emulator.endpoint,
    );

    // Assess: the exact CSV, exit 1 so scripts can gate on it.
    const expected = HEADER + DENIED.map((d) => d.line(source)).join("");
    assert.equal(failedReport.code, 1, failedReport.stderr);
    assert.equal(failedReport.stdout, expected);
    assert.equal(jsonReport.code, 1, jsonReport.stderr);
    assert.deepEqual(lastJson(jsonReport), {
      jobId: spec.id,
      failed: DENIED.length,
      vanished: 0,
      halted: 0,
      rows: objects.length,
      out: outFile,
      complete: true,
    });
    assert.equal(jsonReport.stdout.trim().split("\n").length, 1, "with --json the CSV goes only to --out");
    // --all: the failed keys first, then every other key as succeeded.
    const all = readFileSync(outFile, "utf8");
    assert.ok(all.startsWith(expected), all.slice(0, 500));
    const succeeded = all.slice(expected.length).split("\r\n").slice(0, -1);
    assert.equal(succeeded.length, objects.length - DENIED.length);
    for (const line of succeeded) assert.match(line, new RegExp(`^${source},[^,]+,,succeeded,,200,copied$`));

    // Prepare: poison in the copy DLQ, which no redrive can make good.
    await c.sqs.send(new SendMessageCommand({ QueueUrl: c.deployment.copyDlqUrl, MessageBody: poisonBody("body is not JSON", "{oops") }));
    await c.sqs.send(new SendMessageCommand({ QueueUrl: c.deployment.copyDlqUrl, MessageBody: "not even JSON" }));

    // Act: redrive two records while the fault is still on: they fail again.
    const partial = await runOperator("redrive", ["--queue", "copy", "--max", "2", "--json", ...deployment()], emulator.endpoint);

    // Assess: two moved; the keys fail again and count once each, with the same report.
    assert.equal(partial.code, 0, partial.stderr);
    const partialJson = lastJson(partial);
    assert.equal(partialJson.moved, 2);
    await waitFor("the two redriven keys to fail again", async () => {
      const records = await c.ledger.readRecords(spec.id);
      const redriven = [...records.outcomes.values()].filter((o) => o.redriveOf !== undefined);
      return redriven.length === 2 && (await visibleMessages(c, c.deployment.copyDlqUrl)) === DENIED.length + 2 ? true : undefined;
    });
    const again = await jobStatus(c, spec.id);
    assert.deepEqual([again.complete, again.failed, again.copied], [true, DENIED.length, objects.length - DENIED.length]);
    const sameReport = await runOperator("report", ["--job", spec.id, ...deployment()], emulator.endpoint);
    assert.equal(sameReport.code, 1);
    assert.equal(sameReport.stdout, expected);

    // Act: the fault is gone; redrive everything, the emulator way (it has no StartMessageMoveTask).
    faultOn = false;
    const redrive = await runOperator("redrive", ["--json", ...deployment()], emulator.endpoint);

    // Assess: every failure record moved, the poison left and counted as skipped.
    assert.equal(redrive.code, 0, redrive.stderr);
    const result = lastJson(redrive);
    assert.equal(result.moved, DENIED.length);
    assert.equal(result.skipped, 2);
    const [copyQueue, listQueue] = result.queues as Record<string, unknown>[];
    assert.equal(copyQueue?.queue, "copy");
    assert.equal(copyQueue?.mode, "manual");
    assert.match(String(copyQueue?.fallback), /StartMessageMoveTask \(InvalidAction\)/);
    assert.deepEqual([copyQueue?.moved, copyQueue?.skipped, copyQueue?.sendFailed], [DENIED.length, 2, 0]);
    assert.deepEqual([listQueue?.queue, listQueue?.mode, listQueue?.moved, listQueue?.skipped], ["list", "manual", 0, 0]);
    assert.deepEqual(stderrLines(redrive), [
      `copy DLQ: moved ${DENIED.length}, skipped 2 (poison, left in the DLQ) (by hand: the endpoint has no StartMessageMoveTask (InvalidAction))`,
      "list DLQ: empty, nothing to move",
    ]);

    const done = await waitFor("the job to show every key copied", settled(0));
    assert.deepEqual([done.copied, done.failed, done.vanished, done.listed], [objects.length, 0, 0, objects.length]);
    assert.deepEqual(await checkObjects(emulator.s3, destination, objects, (k) => `out/${k.slice(3)}`), []);
    assert.equal(await visibleMessages(c, c.deployment.copyDlqUrl), 2, "the poison stays in the copy DLQ, visible");

    const cleanReport = await runOperator("report", ["--job", spec.id, "--json", "--out", outFile, ...deployment()], emulator.endpoint);
    const plainReport = await runOperator("report", ["--job", spec.id, ...deployment()], emulator.endpoint);
    assert.equal(cleanReport.code, 0, cleanReport.stderr);
    assert.deepEqual(lastJson(cleanReport), { jobId: spec.id, failed: 0, vanished: 0, halted: 0, rows: 0, out: outFile, complete: true });
    assert.equal(readFileSync(outFile, "utf8"), HEADER);
    assert.equal(plainReport.code, 0, plainReport.stderr);
    assert.equal(plainReport.stdout, HEADER);
  });

  it("does not move by hand beside a move task that SQS started despite answering 500; moves by hand once none runs", async () => {
    // Prepare: a job whose denied keys failed into the copy DLQ; a proxy whose SQS answers StartMessageMoveTask 500.
    faultOn = true;
    const source = bucketName("redrive-500-src");
    const destination = bucketName("redrive-500-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = DENIED.map((d, i) => seedObject(d.key, i));
    await putObjects(emulator.s3, source, objects);
    const { spec } = await kickoff(c, { bucket: source, prefix: "in/" }, { bucket: destination, prefix: "in/" });
    await waitFor("the job to end with the denied keys failed", async () => {
      const s = await jobStatus(c, spec.id);
      return s.complete && s.failed === DENIED.length ? s : undefined;
    });
    const answer = { sqs500: true, running: true };
    const proxy = await startHtmlMoveTaskProxy(emulator.endpoint, answer);
    faultOn = false;
    const dlq = c.deployment.copyDlqUrl;
    try {
      const run = () =>
        runOperator("redrive", ["--queue", "copy", "--json", "--outputs", outputs, "--endpoint", proxy.endpoint], proxy.endpoint);
      const inDlq = await visibleMessages(c, dlq);

      // Act 1: the 500 came, but ListMessageMoveTasks shows the task running.
      const refused = await run();

      // Assess 1: one line saying what runs, and the DLQ left to that task.
      assert.equal(refused.code, EXIT.error, refused.stderr);
      assertOneLineError(refused, /StartMessageMoveTask failed with InternalError, but a move task is running for the copy DLQ/);
      assert.equal(await visibleMessages(c, dlq), inDlq, "nothing moved by hand beside the running task");

      // Act 2: no task runs after the same 500: moving by hand takes over, and the job ends copied.
      answer.running = false;
      const moved = await run();

      // Assess 2
      assert.equal(moved.code, 0, moved.stderr);
      const [copyQueue] = lastJson(moved).queues as Record<string, unknown>[];
      assert.deepEqual([copyQueue?.mode, copyQueue?.moved], ["manual", DENIED.length]);
      assert.match(String(copyQueue?.fallback), /StartMessageMoveTask failed there \(HTTP 500, InternalError\)/);
      const done = await waitFor("the job to show every key copied", async () => {
        const s = await jobStatus(c, spec.id);
        return s.complete && s.failed === 0 ? s : undefined;
      });
      assert.deepEqual([done.copied, done.failed], [objects.length, 0]);
    } finally {
      await proxy.close();
    }
  });

  it("moves by hand when StartMessageMoveTask answers an HTML 500, and the job then ends with every key copied", async () => {
    // Prepare: a job whose denied keys failed; a proxy that answers StartMessageMoveTask as moto does (a 500 HTML page).
    faultOn = true;
    const source = bucketName("redrive-html-src");
    const destination = bucketName("redrive-html-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = DENIED.map((d, i) => seedObject(d.key, i)).concat(seedObject("in/plain", 99));
    await putObjects(emulator.s3, source, objects);
    const { spec } = await kickoff(c, { bucket: source, prefix: "in/" }, { bucket: destination, prefix: "in/" });
    await waitFor("the job to end with the denied keys failed", async () => {
      const s = await jobStatus(c, spec.id);
      return s.complete && s.failed === DENIED.length ? s : undefined;
    });
    const proxy = await startHtmlMoveTaskProxy(emulator.endpoint);
    faultOn = false;
    try {
      // Act
      const redrive = await runOperator(
        "redrive",
        ["--queue", "copy", "--json", "--outputs", outputs, "--endpoint", proxy.endpoint],
        proxy.endpoint,
      );

      // Assess: the action was tried and failed, the failure records moved by hand, saying why, in one line each.
      assert.equal(redrive.code, 0, redrive.stderr);
      assert.ok(proxy.moveTasks >= 1, "StartMessageMoveTask never reached the proxy");
      const [copyQueue] = lastJson(redrive).queues as Record<string, unknown>[];
      assert.deepEqual([copyQueue?.mode, copyQueue?.moved, copyQueue?.sendFailed], ["manual", DENIED.length, 0]);
      assert.match(String(copyQueue?.fallback), /StartMessageMoveTask is not SQS's \(HTTP 500/);
      const lines = stderrLines(redrive);
      assert.equal(lines.length, 1, redrive.stderr);
      assert.match(
        lines[0] ?? "",
        new RegExp(`^copy DLQ: moved ${DENIED.length}.*\\(by hand: the endpoint's answer to StartMessageMoveTask`),
      );
      const done = await waitFor("the job to show every key copied", async () => {
        const s = await jobStatus(c, spec.id);
        return s.complete && s.failed === 0 ? s : undefined;
      });
      assert.deepEqual([done.copied, done.failed], [objects.length, 0]);
      assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
    } finally {
      await proxy.close();
    }
  });

  it("prints usage for --help, saying how keys are encoded and what the poison does", async () => {
    // Act
    const redrive = await runOperator("redrive", ["--help"], emulator.endpoint);
    const report = await runOperator("report", ["--help"], emulator.endpoint);

    // Assess
    assert.equal(redrive.code, 0);
    assert.match(redrive.stdout, /^usage: npm run redrive -- \[--queue copy\|list\|both\] \[--max N\]/);
    assert.match(redrive.stdout, /--manual/);
    assert.match(redrive.stdout, /poison comes straight back to the DLQ as poison/);
    assert.equal(report.code, 0);
    assert.match(report.stdout, /^usage: npm run report -- --job ID \[--out FILE\] \[--all\]/);
    assert.match(report.stdout, /encodeURIComponent/);
    assert.match(report.stdout, /Bucket,Key,VersionId,TaskStatus,ErrorCode,HTTPStatusCode,ResultMessage/);
  });

  it("refuses a bad --queue or --max with one line and exit 2", async () => {
    // Act
    const queue = await runOperator("redrive", ["--queue", "both-ish", ...deployment()], emulator.endpoint);
    const max = await runOperator("redrive", ["--max", "0", ...deployment()], emulator.endpoint);

    // Assess
    assert.equal(queue.code, 2);
    assertOneLineError(queue, /--queue must be copy, list or both, got "both-ish"/);
    assert.equal(max.code, 2);
    assertOneLineError(max, /--max must be a positive integer/);
  });

  it("refuses a report without --job (exit 2) and of a job that does not exist (exit 3)", async () => {
    // Act
    const missing = await runOperator("report", deployment(), emulator.endpoint);
    const unknown = await runOperator("report", ["--job", "no-such-job", ...deployment()], emulator.endpoint);

    // Assess
    assert.equal(missing.code, 2);
    assertOneLineError(missing, /--job ID is required/);
    assert.equal(unknown.code, 3);
    assertOneLineError(unknown, /no job "no-such-job"/);
  });
});
