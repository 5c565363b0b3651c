/**
 * A stalled request never holds a job (issue 15, item 3): a proxy in front of
 * the emulator takes one CopyObject and never answers it, or answers its
 * headers and then goes silent mid-body. The client's deadline aborts it, the
 * copier retries it as a transient error, and the job ends with every key
 * copied. The deadline is shortened to 3 s through S3_FANOUT_REQUEST_TIMEOUT_MS
 * (clients.ts), which reaches `npm run local`'s copy threads as any variable
 * does; the test asserts no time, the hold itself lasts until the proxy closes.
 */
import assert from "node:assert/strict";
import type { IncomingMessage, ServerResponse } from "node:http";
import { after, before, describe, it } from "node:test";
import { CreateQueueCommand, DeleteQueueCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { createSqsClient } from "../../lambdas/aws/clients.ts";
import { checkObjects, ensureBucket, generatedKeys, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { assertSameObjects, bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { listen, readBody, replyWith, upstreamTo } from "../support/forward.ts";

/** Not a timing assertion: without the deadlines these jobs never end, and the test must fail, not hang CI. */
const STALL_TEST_BOUND_MS = 300_000;

import { lastJson, runOperator, sleep, waitFor } from "../support/localStack.ts";

const DEADLINE_ENV = "S3_FANOUT_REQUEST_TIMEOUT_MS";
const LEAN_ENV = "S3_FANOUT_LEAN_COPY";

/** How the held CopyObject stalls: no answer at all, or a 200's headers and one byte of body, then nothing. */
type Stall = "silent" | "mid-body";

/** A CopyObject (not UploadPartCopy: no uploadId) of the destination bucket. */
const isCopyObject = (req: IncomingMessage, bucket: string) =>
  req.method === "PUT" &&
  req.headers["x-amz-copy-source"] !== undefined &&
  !req.url?.includes("uploadId=") &&
  req.url?.startsWith(`/${bucket}/`);

/**
 * Forwards every request, but holds the first CopyObject into `bucket` unanswered until the proxy closes,
 * and counts the held requests the client gave up on (closed its side).
 */
async function startStallingProxy(target: string, bucket: string, stall: Stall) {
  const upstream = upstreamTo(target);
  const held = { requests: 0, abandoned: 0, url: "" };
  const handle = async (req: IncomingMessage, res: ServerResponse) => {
    const body = await readBody(req);
    if (held.requests === 0 && isCopyObject(req, bucket)) {
      held.requests++;
      held.url = req.url ?? "";
      res.on("close", () => held.abandoned++);
      if (stall === "mid-body") {
        res.writeHead(200, { "content-type": "application/xml" });
        res.write(" "); // as S3 keeps a copy's connection alive, once; then silence
      }
      return; // never answered (further)
    }
    replyWith(res, await upstream.send(req, body));
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return { endpoint: proxy.endpoint, held, close: proxy.close };
}

describe("a stalled request", () => {
  let emulator: TestEmulator;
  const saved = { deadline: process.env[DEADLINE_ENV], lean: process.env[LEAN_ENV] };

  before(async () => {
    emulator = await startTestEmulator();
    process.env[DEADLINE_ENV] = "3000";
  });

  after(async () => {
    for (const [name, value] of [
      [DEADLINE_ENV, saved.deadline],
      [LEAN_ENV, saved.lean],
    ] as const) {
      if (value === undefined) delete process.env[name];
      else process.env[name] = value;
    }
    await emulator.stop();
  });

  async function seeded(what: string) {
    const source = bucketName(`${what}-src`);
    const destination = bucketName(`${what}-dst`);
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = generatedKeys(52).map(seedObject);
    await putObjects(emulator.s3, source, objects, 16);
    return { source, destination, objects };
  }

  const cases: readonly { readonly path: string; readonly lean: "1" | "0"; readonly stall: Stall }[] = [
    { path: "lean CopyObject (undici)", lean: "1", stall: "silent" },
    { path: "lean CopyObject (undici)", lean: "1", stall: "mid-body" },
    { path: "SDK CopyObject (node:http)", lean: "0", stall: "silent" },
    { path: "SDK CopyObject (node:http)", lean: "0", stall: "mid-body" },
  ];

  for (const c of cases) {
    it(`is aborted and retried on the ${c.path} path when ${c.stall === "silent" ? "no answer comes" : "its body goes silent"}, and the job copies every key`, {
      timeout: STALL_TEST_BOUND_MS,
    }, async () => {
      // Prepare
      const { source, destination, objects } = await seeded(`stall-${c.lean}-${c.stall}`);
      const proxy = await startStallingProxy(emulator.endpoint, destination, c.stall);
      process.env[LEAN_ENV] = c.lean;
      try {
        // Act
        const result = await runLocalJob({
          source: { bucket: source, prefix: "" },
          destination: { bucket: destination, prefix: "" },
          endpoint: proxy.endpoint,
          logLevel: "SILENT",
        });

        // Assess: one copy was held, the client gave up on it, and the job still copied every key once.
        assert.equal(proxy.held.requests, 1);
        await waitFor("the client to abandon the held copy", async () => (proxy.held.abandoned === 1 ? true : undefined), 10_000);
        assert.equal(result.complete, true);
        assert.deepEqual(
          { listed: result.listed, copied: result.copied, failed: result.failed, dlq: result.dlq },
          { listed: objects.length, copied: objects.length, failed: 0, dlq: { list: 0, copy: 0 } },
        );
        await assertSameObjects(emulator.s3, source, destination, objects.length);
      } finally {
        delete process.env[LEAN_ENV];
        await proxy.close();
      }
    });
  }

  it("leaves a long poll its own longer deadline: a receive answered after 5 s outlasts the 3 s one", {
    timeout: STALL_TEST_BOUND_MS,
  }, async () => {
    // Prepare: a proxy that answers each receive 5 s late, as a long poll on an empty queue does.
    const upstream = upstreamTo(emulator.endpoint);
    let delayed = 0;
    const proxy = await listen(
      (req, res) =>
        void (async () => {
          const body = await readBody(req);
          const answer = await upstream.send(req, body);
          if (req.headers["x-amz-target"] === "AmazonSQS.ReceiveMessage") {
            delayed++;
            await sleep(5_000);
          }
          replyWith(res, answer);
        })().catch(() => req.socket.destroy()),
      upstream,
    );
    const sqs = createSqsClient({ endpoint: proxy.endpoint, maxAttempts: 1 });
    const { QueueUrl } = await sqs.send(new CreateQueueCommand({ QueueName: bucketName("stall-poll") }));
    try {
      // Act
      const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl, WaitTimeSeconds: 1 }));

      // Assess: the answer came, empty, rather than a TimeoutError.
      assert.equal(delayed, 1);
      assert.deepEqual(out.Messages ?? [], []);
    } finally {
      await sqs.send(new DeleteQueueCommand({ QueueUrl }));
      sqs.destroy();
      await proxy.close();
    }
  });

  it("never holds `npm run local`, whose copy threads build their own clients", { timeout: STALL_TEST_BOUND_MS }, async () => {
    // Prepare
    const { source, destination, objects } = await seeded("stall-cli");
    const proxy = await startStallingProxy(emulator.endpoint, destination, "silent");
    try {
      // Act: the deadline reaches the child process and its threads through the environment.
      const run = await runOperator(
        "local",
        [
          "--source",
          `s3://${source}/`,
          "--dest",
          `s3://${destination}/`,
          "--endpoint",
          proxy.endpoint,
          "--copy-threads",
          "2",
          "--json",
          "--quiet",
        ],
        proxy.endpoint,
      );

      // Assess
      assert.equal(run.code, 0, run.stderr);
      assert.equal(proxy.held.requests, 1);
      const summary = lastJson(run);
      assert.deepEqual([summary.listed, summary.copied, summary.failed], [objects.length, objects.length, 0]);
      assert.deepEqual(await checkObjects(emulator.s3, destination, objects), []);
    } finally {
      await proxy.close();
    }
  });
});
