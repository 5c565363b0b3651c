/**
 * A deployment rehearsal: what `cdk deploy` would ship, run as Lambda runs it.
 * The app is synthesized; its template is read generically (no logical id
 * or variable list known here) and "deployed" onto the emulator: its queues
 * with their visibility, retention and redrive, its buckets, the stack's
 * outputs in a cdk-outputs file. Each bundled function is loaded from its
 * asset in cdk.out as Lambda loads it (its Handler, a fresh directory with no
 * package.json above it, the template's environment with Refs resolved to
 * the emulator's queues and buckets, plus what Lambda sets) and driven by
 * SQS events with the event source mapping's batch sizes, deleting only what
 * succeeded. A job started by the operator's own kickoff copies awkward keys
 * and an object by parts into a destination that refuses one key; status,
 * report and verify judge it, and the copy DLQ, the function's log lines and
 * its EMF metrics (against the template's alarms) show the failure. A record
 * the function reports failed is left to SQS: held for the function's own
 * backoff, redelivered, then redriven to the DLQ after maxReceiveCount. Timings are never asserted here; `npm run
 * bench` judges the bundles' cold starts.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { GetObjectCommand, HeadObjectCommand } from "@aws-sdk/client-s3";
import {
  ChangeMessageVisibilityCommand,
  GetQueueAttributesCommand,
  ReceiveMessageCommand,
  SendMessageCommand,
  SetQueueAttributesCommand,
} from "@aws-sdk/client-sqs";
import { CsvParser } from "../../lambdas/core/csv.ts";
import { encodeKey } from "../../lambdas/core/keyCodec.ts";
import { copyBody } from "../../lambdas/core/messages.ts";
import { type Deployment, deploymentFromOutputs } from "../../scripts/lib/deployment.ts";
import { connect, jobStatus } from "../../scripts/lib/operator.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { queueDepth } from "../../scripts/local/queues.ts";
import { deploymentContext, readStack, resourcesOfType, type StackAssembly, synthesize } from "../support/cloudAssembly.ts";
import { emfMetrics } from "../support/emf.ts";
import { deployToEmulator, type EmulatedDeployment } from "../support/emulatedDeployment.ts";
import { startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { SqsEventSourceMapping } from "../support/eventSourceMapping.ts";
import { LAMBDA_RESERVED_VARIABLES, LambdaInstance, type LogLine, lambdaEnvironment, packageJsonAbove } from "../support/lambdaSandbox.ts";
import { MiB, putLarge } from "../support/largeObject.ts";
import { type CommandRun, lastJson, listKeys, runOperator, sleep, waitFor } from "../support/localStack.ts";
import { type RefusingProxy, startRefusingProxy } from "../support/refusingProxy.ts";

interface AlarmMetric {
  readonly namespace: string;
  readonly name: string;
  readonly dimensions: Readonly<Record<string, string>>;
}

/** The metrics an alarm's (resolved) properties watch: its own MetricName, or each MetricStat of a metric-math alarm. */
function alarmMetrics(properties: unknown): AlarmMetric[] {
  type Metric = { Namespace?: unknown; MetricName?: unknown; Dimensions?: { Name: unknown; Value: unknown }[] };
  const p = (properties ?? {}) as Metric & { Metrics?: { MetricStat?: { Metric?: Metric } }[] };
  const metrics: Metric[] =
    p.MetricName === undefined ? (p.Metrics ?? []).flatMap((m) => (m.MetricStat?.Metric ? [m.MetricStat.Metric] : [])) : [p];
  return metrics.map((m) => ({
    namespace: String(m.Namespace),
    name: String(m.MetricName),
    dimensions: Object.fromEntries((m.Dimensions ?? []).map((d) => [String(d.Name), String(d.Value)])),
  }));
}

/** The key the destination refuses: a space, a plus, a percent sign and non-ASCII, so that both encodings show. */
const REFUSED = "refused/naïve café+plan 100%.txt";
/** Copied by parts: above the job's --multipart-threshold, in 5 MiB source parts. */
const LARGE = "large/vidéo clip+1.mp4";
const LARGE_SIZE = 12 * MiB;
/** Environments per event source at most, here: a 2-core machine; Lambda would run up to MaximumConcurrency. */
const LOCAL_CONCURRENCY = 2;

describe("deployment rehearsal: the synthesized stack's bundles, loaded and driven as Lambda does", () => {
  const source = `rehearsal-src-${process.pid}`;
  const destination = `rehearsal-dst-${process.pid}`;
  const logs: LogLine[] = [];
  let dir: string;
  let stack: StackAssembly;
  let emulator: TestEmulator;
  let proxy: RefusingProxy;
  let deployment: EmulatedDeployment;
  let outputs: Deployment;
  let outputsFile: string;
  let mappings: SqsEventSourceMapping[] = [];
  let jobId = "";
  const seeded: ReturnType<typeof seedObject>[] = [];

  const run = (command: string, args: readonly string[]): Promise<CommandRun> =>
    runOperator(command, [...args, "--outputs", outputsFile], emulator.endpoint);
  const mappingOf = (functionName: string) => {
    const m = mappings.find((x) => x.fn.name === functionName);
    assert.ok(m, `no event source invokes ${functionName}`);
    return m;
  };
  const jsonLogs = (functionName: string) => logs.filter((l) => l.functionName === functionName && l.json).map((l) => l.json ?? {});

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-rehearsal-"));
    // The buckets the stack is deployed for: IAM and the outputs name them, and kickoff checks the job against them.
    const [, started] = await Promise.all([synthesize(join(dir, "cdk.out"), deploymentContext(source, destination)), startTestEmulator()]);
    emulator = started;
    stack = readStack(join(dir, "cdk.out"));
    proxy = await startRefusingProxy({ target: emulator.endpoint, rules: [{ bucket: destination, key: REFUSED }] });
    deployment = await deployToEmulator(stack, emulator, String(process.pid));
    outputsFile = join(dir, "cdk-outputs.json");
    writeFileSync(outputsFile, `${JSON.stringify({ [stack.stackName]: deployment.outputs() }, null, 2)}\n`);
    outputs = deploymentFromOutputs(JSON.parse(readFileSync(outputsFile, "utf8")));
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    mappings = deployment.eventSources.map((spec) => {
      const fn = deployment.functions.find((f) => f.logicalId === spec.functionLogicalId);
      assert.ok(fn);
      return new SqsEventSourceMapping(spec, fn, {
        sqs: emulator.sqs,
        region: deployment.region,
        // Every S3 and SQS call of the functions goes through the destination that refuses one key.
        endpoint: proxy.endpoint,
        localConcurrency: LOCAL_CONCURRENCY,
        onLog: (line) => logs.push(line),
      });
    });
    for (const m of mappings) m.start();
  });

  after(async () => {
    await Promise.all(mappings.map((m) => m.stop()));
    await proxy?.close();
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it("finds in the template a bundled function behind every SQS event source, with the outputs the operator commands read", () => {
    assert.ok(deployment.eventSources.length > 0, "the stack has SQS event sources");
    for (const spec of deployment.eventSources) {
      const fn = deployment.functions.find((f) => f.logicalId === spec.functionLogicalId);
      assert.ok(fn?.codeDir, `${spec.functionLogicalId} has a bundled asset`);
      assert.ok(spec.enabled, `${spec.logicalId} is enabled`);
    }
    // The operator commands find the deployment by the stack's output names: each function, its queue and that queue's DLQ.
    const dlqOf = (m: SqsEventSourceMapping) => {
      const target = (JSON.parse(m.spec.queue.attributes.RedrivePolicy ?? "{}") as { deadLetterTargetArn?: string }).deadLetterTargetArn;
      return [...deployment.queues.values()].find((q) => q.arn === target)?.url;
    };
    const list = mappingOf(outputs.listFunctionName);
    const copy = mappingOf(outputs.copyFunctionName);
    assert.deepEqual([list.spec.queue.url, dlqOf(list)], [outputs.listQueueUrl, outputs.listDlqUrl]);
    assert.deepEqual([copy.spec.queue.url, dlqOf(copy)], [outputs.copyQueueUrl, outputs.copyDlqUrl]);
    assert.ok([...deployment.buckets.values()].includes(outputs.ledgerBucket), "the ledger is a bucket of the stack");
    assert.deepEqual(outputs.sourceBuckets, [source]);
    assert.deepEqual(outputs.destinationBuckets, [destination]);
  });

  it("creates every queue with the template's visibility timeout, retention and redrive to its DLQ", async () => {
    for (const [id, resource] of resourcesOfType(stack.template, "AWS::SQS::Queue")) {
      const queue = deployment.queues.get(id);
      assert.ok(queue, id);
      const out = await emulator.sqs.send(new GetQueueAttributesCommand({ QueueUrl: queue.url, AttributeNames: ["All"] }));
      const a = out.Attributes ?? {};
      const p = resource.Properties ?? {};
      if (p.VisibilityTimeout !== undefined) assert.equal(a.VisibilityTimeout, String(p.VisibilityTimeout), `${id} visibility`);
      if (p.MessageRetentionPeriod !== undefined)
        assert.equal(a.MessageRetentionPeriod, String(p.MessageRetentionPeriod), `${id} retention`);
      if (p.RedrivePolicy !== undefined) {
        const redrive = JSON.parse(a.RedrivePolicy ?? "{}") as { deadLetterTargetArn?: string; maxReceiveCount?: number | string };
        assert.deepEqual(
          { target: redrive.deadLetterTargetArn, max: Number(redrive.maxReceiveCount) },
          {
            target: (deployment.resolve(p.RedrivePolicy) as { deadLetterTargetArn: string }).deadLetterTargetArn,
            max: Number((p.RedrivePolicy as { maxReceiveCount: number }).maxReceiveCount),
          },
          `${id} redrive`,
        );
      }
    }
    // Every work queue an event source reads redrives to a DLQ.
    for (const m of mappings) assert.ok(m.spec.queue.attributes.RedrivePolicy, `${m.spec.queue.logicalId} has a DLQ`);
  });

  it("gives each function the template's environment, none of Lambda's reserved names, Refs resolved to emulator queues and buckets", () => {
    const emulated = new Set([...[...deployment.queues.values()].flatMap((q) => [q.url, q.arn, q.name]), ...deployment.buckets.values()]);
    for (const [id, resource] of resourcesOfType(stack.template, "AWS::Lambda::Function")) {
      const raw = (resource.Properties?.Environment as { Variables?: Record<string, unknown> } | undefined)?.Variables ?? {};
      const fn = deployment.functions.find((f) => f.logicalId === id);
      assert.ok(fn);
      for (const name of LAMBDA_RESERVED_VARIABLES) assert.ok(!(name in raw), `${id} sets ${name}, which Lambda refuses`);
      // Lambda's limit: 4 KB for all of a function's variables.
      const size = Object.entries(fn.environment).reduce((n, [k, v]) => n + Buffer.byteLength(k) + Buffer.byteLength(v), 0);
      assert.ok(size <= 4096, `${id}: environment of ${size} bytes`);
      for (const [name, value] of Object.entries(raw)) {
        if (typeof value !== "object" || value === null) {
          assert.equal(fn.environment[name], String(value), `${id} ${name}`);
          continue;
        }
        // A Ref or Fn::GetAtt of a queue or bucket names the emulator's.
        const target = /"(?:Ref|Fn::GetAtt)":\[?"([^"]+)"/.exec(JSON.stringify(value))?.[1] ?? "";
        const type = stack.template.Resources[target]?.Type;
        if (type === "AWS::SQS::Queue" || type === "AWS::S3::Bucket") {
          assert.ok(emulated.has(fn.environment[name] ?? ""), `${id} ${name}=${fn.environment[name]}`);
        }
      }
    }
  });

  it("loads every bundled function from a fresh directory by its Handler, with exactly that environment and the runtime's Node major", async () => {
    for (const fn of deployment.functions.filter((f) => f.codeDir !== undefined)) {
      const environment = await LambdaInstance.start({ fn, region: deployment.region, endpoint: proxy.endpoint });
      try {
        assert.equal(packageJsonAbove(environment.taskRoot), undefined);
        assert.equal(environment.ready.cwd, environment.taskRoot);
        const expected = lambdaEnvironment(fn, {
          region: deployment.region,
          endpoint: proxy.endpoint,
          taskRoot: environment.taskRoot,
          runtimeDir: environment.environment.LAMBDA_RUNTIME_DIR ?? "",
          logStream: environment.logStream,
        });
        assert.deepEqual(environment.ready.env, expected, `${fn.logicalId}: the process saw exactly the template's and Lambda's variables`);
        const major = /^nodejs(\d+)\./.exec(fn.runtime)?.[1];
        assert.equal(
          environment.ready.version.split(".")[0],
          `v${major}`,
          `${fn.logicalId}: runtime ${fn.runtime}, rehearsed on Node ${environment.ready.version} (the project's pinned Node)`,
        );
      } finally {
        await environment.stop();
      }
    }
  });

  it("runs a job started by kickoff to completion: awkward keys and an object by parts copied, status proves it from the ledger", async () => {
    // Prepare
    const keys = [...new Set([...awkwardKeys(), ...generatedKeys(300), REFUSED])];
    seeded.push(...keys.map(seedObject));
    await putObjects(emulator.s3, source, seeded, 32);
    const largeBody = await putLarge(emulator.s3, source, LARGE, LARGE_SIZE);
    const total = seeded.length + 1;

    // Act
    const kicked = await run("kickoff", [
      "--source",
      `s3://${source}/`,
      "--dest",
      `s3://${destination}/`,
      "--multipart-threshold",
      "8MiB",
      "--part-size",
      "5MiB",
      "--json",
    ]);
    assert.equal(kicked.code, 0, kicked.stderr);
    jobId = String(lastJson(kicked).jobId);
    const c = await connect({ outputs: outputsFile, endpoint: emulator.endpoint });
    try {
      // Complete by the ledger, and the last messages deleted (the event source deletes a batch once its invocation returns).
      const drained = async () =>
        (await Promise.all(mappings.map((m) => queueDepth(emulator.sqs, m.spec.queue.url)))).every((depth) => depth === 0);
      await waitFor(
        "the job to complete",
        async () => ((await jobStatus(c, jobId)).complete && (await drained()) ? true : undefined),
        120_000,
        500,
      );
    } finally {
      c.s3.destroy();
      c.sqs.destroy();
    }
    const status = await run("status", ["--job", jobId, "--json"]);

    // Assess
    assert.equal(status.code, 0, status.stderr);
    const s = lastJson(status);
    assert.equal(s.complete, true);
    assert.equal(s.listed, total);
    assert.equal(s.copied, total - 1);
    assert.equal(s.failed, 1);
    assert.deepEqual(s.queues, { list: 0, copy: 0, listDlq: 0, copyDlq: 1 });
    const expected = seeded.filter((o) => o.key !== REFUSED);
    assert.deepEqual(await checkObjects(emulator.s3, destination, expected), []);
    const head = await emulator.s3.send(new HeadObjectCommand({ Bucket: destination, Key: LARGE }));
    const sourceHead = await emulator.s3.send(new HeadObjectCommand({ Bucket: source, Key: LARGE }));
    assert.match(head.ETag ?? "", /-3"$/, "copied by parts: 12 MiB in 5 MiB parts");
    assert.equal(head.ContentLength, LARGE_SIZE);
    assert.equal(head.ContentType, sourceHead.ContentType);
    assert.deepEqual(head.Metadata?.owner, sourceHead.Metadata?.owner);
    const copy = await emulator.s3.send(new GetObjectCommand({ Bucket: destination, Key: LARGE }));
    assert.ok(Buffer.from((await copy.Body?.transformToByteArray()) ?? []).equals(largeBody), "the copy by parts has the source's bytes");
    assert.ok(!(await listKeys(emulator.s3, destination)).includes(REFUSED));
  });

  it("parks the refused key in the copy DLQ as a failure record with its error, and logs it at ERROR with the Lambda context", async () => {
    assert.ok(jobId, "the job ran");
    assert.ok(proxy.refused > 0, "the destination refused the key");
    const dlq = await emulator.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: outputs.copyDlqUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1, VisibilityTimeout: 1 }),
    );
    assert.equal(dlq.Messages?.length, 1, "one record, for the one key");
    const record = JSON.parse(dlq.Messages?.[0]?.Body ?? "{}") as Record<string, unknown>;
    assert.equal(record.v, 1);
    assert.equal(record.type, "copy-failure");
    assert.equal(record.key, encodeKey(REFUSED));
    assert.equal((record.error as { code?: unknown } | undefined)?.code, "AccessDenied");
    assert.ok(Number.isInteger(record.attempts) && Number(record.attempts) >= 1, `attempts ${String(record.attempts)}`);

    const copyFunction = outputs.copyFunctionName;
    const requestIds = new Set(mappingOf(copyFunction).invocations.map((i) => i.requestId));
    const line = jsonLogs(copyFunction).find((l) => l.message === "copy failed" && l.key === REFUSED);
    assert.ok(
      line,
      `a "copy failed" log line for the key; the copy function logged:\n${jsonLogs(copyFunction)
        .slice(0, 20)
        .map((l) => JSON.stringify(l))
        .join("\n")}`,
    );
    assert.equal(line.level, "ERROR");
    assert.equal(line.jobId, jobId);
    assert.equal(line.batchId, record.batch);
    assert.equal(line.errorCode, "AccessDenied");
    assert.equal(typeof line.attempt, "number");
    assert.equal(line.function_name, copyFunction);
    assert.ok(requestIds.has(String(line.function_request_id)), "the line names the invocation it came from");
  });

  it("reports the job failed listing that key only, and verify finds only that key missing", async () => {
    assert.ok(jobId, "the job ran");
    const csvFile = join(dir, "report.csv");
    const [report, verify] = await Promise.all([
      run("report", ["--job", jobId, "--all", "--out", csvFile, "--json"]),
      runOperator("verify", ["--source", `s3://${source}/`, "--dest", `s3://${destination}/`, "--json"], emulator.endpoint),
    ]);

    assert.equal(report.code, 1, report.stderr);
    assert.equal(lastJson(report).failed, 1);
    const parser = new CsvParser(0);
    const rows = [...parser.push(readFileSync(csvFile)), ...parser.finish()].map((r) => r.fields);
    const [header, ...body] = rows;
    assert.deepEqual(header, ["Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage"]);
    const failed = body.filter((r) => r[3] === "failed");
    assert.deepEqual(
      failed.map((r) => [r[0], r[1], r[4], r[5]]),
      [[source, encodeKey(REFUSED), "AccessDenied", "403"]],
    );
    const succeeded = body.filter((r) => r[3] === "succeeded").map((r) => decodeURIComponent(r[1] ?? ""));
    assert.deepEqual(succeeded.sort(), [...seeded.map((o) => o.key).filter((k) => k !== REFUSED), LARGE].sort());

    assert.equal(verify.code, 1, verify.stderr);
    assert.deepEqual({ differences: lastJson(verify).differences, missing: lastJson(verify).missing }, { differences: 1, missing: 1 });
    assert.deepEqual(
      verify.stdout.split("\n").filter((l) => l.startsWith("missing\t")),
      [`missing\t${JSON.stringify(REFUSED)}`],
    );
  });

  it("drove each function as its event source mapping does: at most BatchSize records, only successes deleted, queues drained", async () => {
    assert.ok(jobId, "the job ran");
    for (const m of mappings) {
      assert.ok(m.invocations.length > 0, `${m.fn.logicalId} was invoked`);
      for (const inv of m.invocations) {
        assert.ok(
          inv.messageIds.length >= 1 && inv.messageIds.length <= m.spec.batchSize,
          `${m.fn.logicalId}: ${inv.messageIds.length} records`,
        );
        assert.equal(inv.wholeBatchFailed, false, `${m.fn.logicalId} ${inv.requestId}: ${inv.error ?? ""}`);
        assert.equal(inv.deleted, inv.messageIds.length - inv.failedIds.length);
      }
      // An environment per poller at most, reused while it lives: cold starts are the environments started.
      assert.ok(m.environments.length <= m.concurrency);
      assert.equal(m.invocations.filter((i) => i.coldStart).length, m.environments.length);
      assert.equal(await queueDepth(emulator.sqs, m.spec.queue.url), 0, `${m.spec.queue.name} drained`);
    }
  });

  it("leaves a record the function reports failed to SQS, held past the queue's visibility, then in the DLQ after maxReceiveCount", async () => {
    // Prepare: a copy batch of a job whose ledger refuses its outcome, so that the copy function reports the record failed.
    // The copy queue's visibility timeout is lowered to 5 s for this test alone (the template's is half an hour): a record
    // the function did not hide for longer itself would come back within seconds.
    const copy = mappingOf(outputs.copyFunctionName);
    const redrive = JSON.parse(copy.spec.queue.attributes.RedrivePolicy ?? "{}") as {
      deadLetterTargetArn?: string;
      maxReceiveCount?: unknown;
    };
    const maxReceiveCount = Number(redrive.maxReceiveCount);
    const dlq = [...deployment.queues.values()].find((q) => q.arn === redrive.deadLetterTargetArn);
    assert.ok(dlq, "the copy queue's DLQ");
    const job = { id: "rehearsal-unrecordable", source: { bucket: source, prefix: "" }, destination: { bucket: destination, prefix: "" } };
    proxy.refuse({ bucket: outputs.ledgerBucket, prefix: `jobs/${job.id}/` });
    const item = await emulator.s3.send(new HeadObjectCommand({ Bucket: source, Key: "plain.txt" }));
    const body = copyBody({
      job,
      batchId: "unrecordable-1",
      attempt: 0,
      items: [{ key: "plain.txt", size: item.ContentLength ?? 0, etag: item.ETag }],
    });
    const visibility = copy.spec.queue.attributes.VisibilityTimeout ?? "30";
    await emulator.sqs.send(new SetQueueAttributesCommand({ QueueUrl: copy.spec.queue.url, Attributes: { VisibilityTimeout: "5" } }));
    try {
      // Act
      const sent = await emulator.sqs.send(new SendMessageCommand({ QueueUrl: copy.spec.queue.url, MessageBody: body }));
      const deliveries = () => copy.invocations.filter((i) => i.messageIds.includes(sent.MessageId ?? ""));
      const delivered = (n: number) =>
        waitFor(`delivery ${n}`, async () => (deliveries().length >= n && copy.inFlight === 0 ? true : undefined), 30_000, 100);
      await delivered(1);
      // Held by the function's own backoff (ChangeMessageVisibility), not by the queue's 5 s.
      await sleep(8_000);
      const heldFor = deliveries().length;
      for (let n = 1; n <= maxReceiveCount; n++) {
        await delivered(n);
        // The test stands in for the minutes of backoff passing: the record is made visible at once.
        const receipt = deliveries()
          .at(-1)
          ?.receipts.find((r) => r.messageId === sent.MessageId);
        await emulator.sqs.send(
          new ChangeMessageVisibilityCommand({
            QueueUrl: copy.spec.queue.url,
            ReceiptHandle: receipt?.receiptHandle,
            VisibilityTimeout: 0,
          }),
        );
      }
      const parked = await waitFor(
        "the record in the DLQ",
        async () => {
          const out = await emulator.sqs.send(
            new ReceiveMessageCommand({ QueueUrl: dlq.url, MaxNumberOfMessages: 10, VisibilityTimeout: 0 }),
          );
          return out.Messages?.find((m) => m.Body === body);
        },
        30_000,
        200,
      );

      // Assess
      assert.equal(heldFor, 1, "not received again within the queue's 5 s visibility: the function set its own backoff");
      assert.ok(parked, "moved to the DLQ as it was sent");
      await waitFor("the invocations to finish", async () => (copy.inFlight === 0 ? true : undefined), 30_000, 100);
      assert.equal(deliveries().length, maxReceiveCount, "invoked once per receive, maxReceiveCount times");
      for (const [n, d] of deliveries().entries()) {
        assert.equal(d.wholeBatchFailed, false, d.error);
        assert.ok(d.failedIds.includes(sent.MessageId ?? ""), "reported in batchItemFailures");
        assert.equal(d.deleted, d.messageIds.length - d.failedIds.length, "the record was not deleted");
        assert.equal(d.receipts.find((r) => r.messageId === sent.MessageId)?.receiveCount, n + 1);
      }
    } finally {
      await emulator.sqs.send(
        new SetQueueAttributesCommand({ QueueUrl: copy.spec.queue.url, Attributes: { VisibilityTimeout: visibility } }),
      );
    }
  });

  it("alarms on the functions' own metrics watch what the bundles emit (namespace, name, dimensions), and the failures reached them", () => {
    const emitted = emfMetrics(logs.flatMap((l) => (l.json ? [l.json] : [])));
    const id = (m: { namespace: string; name: string; dimensions: Readonly<Record<string, string>> }) =>
      `${m.namespace}/${m.name}${JSON.stringify(Object.entries(m.dimensions).sort())}`;
    const emittedIds = new Set(emitted.map(id));
    const watched = resourcesOfType(stack.template, "AWS::CloudWatch::Alarm").flatMap(([alarm, r]) =>
      alarmMetrics(deployment.resolve(r.Properties)).map((m) => ({ alarm, ...m })),
    );
    const custom = watched.filter((m) => !m.namespace.startsWith("AWS/"));
    assert.ok(custom.length > 0, "an alarm watches the functions' own metrics");
    for (const m of custom) {
      const sameName = emitted.filter((e) => e.namespace === m.namespace && e.name === m.name);
      if (sameName.length === 0) continue; // not emitted in this rehearsal (no listing failed, say)
      // CloudWatch tells metrics apart by their dimensions: an alarm on another set than the one emitted never fires.
      assert.ok(emittedIds.has(id(m)), `${m.alarm} watches ${id(m)}; the bundles emit ${[...new Set(sameName.map(id))].join(", ")}`);
    }
    const fired = custom.filter((m) => emitted.some((e) => id(e) === id(m) && e.values.some((v) => v > 0)));
    assert.ok(fired.length > 0, "the refused key and the unrecordable batch were counted in a metric an alarm watches");
    assert.ok(
      emitted.some((e) => Object.values(e.dimensions).includes("AccessDenied") && e.values.some((v) => v > 0)),
      "failures are counted by error code",
    );
  });

  it("measures the cold start of each bundle of this cloud assembly with npm run bench --cold-start-only", async () => {
    const bench = await runOperator(
      "bench",
      ["--cold-start-only", "--cdk-out", join(dir, "cdk.out"), "--cold-start-runs", "1", "--json"],
      "",
    );

    assert.equal(bench.code, 0, bench.stderr);
    const out = lastJson(bench);
    const coldStartMs = out.coldStartMs as Record<string, unknown>;
    for (const name of ["list", "copy"]) assert.ok(typeof coldStartMs[name] === "number" && coldStartMs[name] > 0, `coldStartMs.${name}`);
    // Judged by the bench, never here: a test does not assert on wall-clock time.
    const target = (out.targets as Record<string, Record<string, unknown>>).coldStart;
    assert.equal(target?.limit, 300);
    assert.equal(target?.value, Math.max(...Object.values(coldStartMs).map(Number)));
    assert.equal(typeof target?.met, "boolean");
    assert.match(bench.stdout, /cold start .*\n\s+list\s+[\d.]+ ms/);
  });
});
