/**
 * A listing that fails for a reason retrying cannot fix is parked in the list
 * DLQ on its first failure, with its error, not retried for hours; once the
 * cause is gone, redrive lists it again and the job completes. Through the
 * local stack (the real handlers) on the emulator, with the operator's
 * commands as child processes.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { ChangeMessageVisibilityBatchCommand, GetQueueAttributesCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { parseListBody } from "../../lambdas/core/messages.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { seedRanges } from "../../lambdas/core/ranges.ts";
import { type Connection, connect, jobStatus, kickoff } from "../../scripts/lib/operator.ts";
import { awkwardKeys, checkObjects, ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { lastJson, runOperator, startTestStack, type TestStack, waitFor } from "../support/localStack.ts";

async function depth(c: Connection, url: string): Promise<{ visible: number; inFlight: number }> {
  const out = await c.sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: url,
      AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"],
    }),
  );
  return {
    visible: Number(out.Attributes?.ApproximateNumberOfMessages ?? 0),
    inFlight: Number(out.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0),
  };
}

describe("a listing that cannot succeed", () => {
  let emulator: TestEmulator;
  let stack: TestStack;
  let dir: string;
  let outputs: string;
  let c: Connection;
  /** While on, listing the denied bucket answers AccessDenied, as a bucket policy without the list role would. */
  let denied: string | undefined;
  let deniedListings = 0;

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-parked-"));
    stack = await startTestStack(emulator, dir, {
      haltTtlMs: 100,
      wrapStore: (store: ObjectStore): ObjectStore => ({
        listPage: async (request) => {
          if (request.bucket === denied) {
            deniedListings++;
            throw Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
          }
          return store.listPage(request);
        },
        copy: (request) => store.copy(request),
      }),
    });
    outputs = stack.outputsFile;
    c = await connect({ outputs, endpoint: emulator.endpoint });
  });

  after(async () => {
    await stack.stop();
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  it("is parked in the list DLQ on its first failure with AccessDenied, and lists again when redriven", async () => {
    // Prepare
    const source = bucketName("parked-src");
    const destination = bucketName("parked-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = awkwardKeys().map((k, i) => seedObject(k, i));
    await putObjects(emulator.s3, source, objects);
    denied = source;

    // Act
    const { spec } = await kickoff(c, { bucket: source, prefix: "" }, { bucket: destination, prefix: "" });
    // The default points and the awkward keys' top-level prefixes: as many ranges as the spec records.
    const seeded = spec.ranges;
    assert.ok(seeded > seedRanges("").length, `${seeded} seeded ranges`);

    // Assess: every seeded range parked once, none waiting out a visibility timeout to be tried again.
    await waitFor("every seeded range to be parked", async () =>
      (await depth(c, c.deployment.listDlqUrl)).visible === seeded ? true : undefined,
    );
    assert.equal(deniedListings, seeded, "each range was listed once, not retried");
    assert.deepEqual(await depth(c, c.deployment.listQueueUrl), { visible: 0, inFlight: 0 });
    const peek = await c.sqs.send(
      new ReceiveMessageCommand({ QueueUrl: c.deployment.listDlqUrl, MaxNumberOfMessages: 10, VisibilityTimeout: 60 }),
    );
    assert.ok((peek.Messages ?? []).length > 0);
    for (const m of peek.Messages ?? []) {
      const record = JSON.parse(m.Body ?? "{}") as { type: string; error: { code: string }; reason: string };
      assert.equal(record.type, "list-failure");
      assert.equal(record.error.code, "AccessDenied");
      assert.equal(parseListBody(m.Body ?? "").job.id, spec.id, "the parked record is the listing it was");
    }
    await c.sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: c.deployment.listDlqUrl,
        Entries: (peek.Messages ?? []).map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "", VisibilityTimeout: 0 })),
      }),
    );
    const stalled = await jobStatus(c, spec.id);
    assert.equal(stalled.complete, false);

    // Act: the bucket policy is fixed; the operator redrives the list DLQ.
    denied = undefined;
    await waitFor("the peeked records to be visible again", async () =>
      (await depth(c, c.deployment.listDlqUrl)).visible === seeded ? true : undefined,
    );
    const redrive = await runOperator(
      "redrive",
      ["--queue", "list", "--json", "--outputs", outputs, "--endpoint", emulator.endpoint],
      emulator.endpoint,
    );

    // Assess
    assert.equal(redrive.code, 0, redrive.stderr);
    assert.equal(lastJson(redrive).moved, seeded);
    const done = await waitFor("the job to complete", async () => {
      const s = await jobStatus(c, spec.id);
      return s.complete ? s : undefined;
    });
    assert.deepEqual([done.copied, done.failed, done.listed], [objects.length, 0, objects.length]);
    assert.deepEqual(await checkObjects(emulator.s3, destination, objects, (k) => k), []);
  });
});
