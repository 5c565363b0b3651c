/**
 * The live handler with fake ports: poison goes to the live DLQ (not the copy DLQ), a key whose
 * HEAD fails fails every record naming it and only those, and duplicates are converged once.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import type { BatchOutcome, ObjectHead, OutgoingMessage, QueueName } from "../../lambdas/core/ports.ts";
import { s3EventBody } from "../../lambdas/core/s3Events.ts";
import { createLiveHandler } from "../../lambdas/live/handler.ts";
import { fakeContext, silentLogger, sqsEvent, sqsRecord, testConfig } from "./support/harness.ts";

function harness(failHead: (key: string) => boolean = () => false) {
  const src = new Map<string, string>([
    ["in/a", "1"],
    ["in/b", "22"],
  ]);
  const dst = new Map<string, string>();
  const live: { queue: QueueName; messages: readonly OutgoingMessage[] }[] = [];
  const pipeline: { queue: QueueName; messages: readonly OutgoingMessage[] }[] = [];
  const outcomes: BatchOutcome[] = [];
  let heads = 0;
  const headOf =
    (m: Map<string, string>) =>
    async (_bucket: string, key: string): Promise<ObjectHead> => {
      heads++;
      if (failHead(key)) throw Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });
      const body = m.get(key);
      if (body === undefined) throw Object.assign(new Error("Not Found"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
      return { size: body.length, etag: `"${body}"`, metadata: {} };
    };
  const handler = createLiveHandler({
    job: { source: { bucket: "src", prefix: "in/" }, destination: { bucket: "dst", prefix: "out/" } },
    allowDelete: false,
    sourceHeads: { head: headOf(src) },
    destinationHeads: { head: async (b, k) => headOf(dst)(b, k.replace(/^out\//, "in/")) },
    deleter: { deleteObject: async () => assert.fail("no deletes without liveDelete") },
    specs: { readSpec: async () => undefined, writeSpec: async () => undefined },
    liveQueues: { send: async (queue, messages) => void live.push({ queue, messages }) },
    store: {
      listPage: async () => ({ objects: [] }),
      copy: async (r) => void dst.set(r.sourceKey, src.get(r.sourceKey) ?? ""),
    },
    sink: { send: async (queue, messages) => void pipeline.push({ queue, messages }) },
    ledger: {
      recordPortion: async () => undefined,
      recordBatch: async (o) => void outcomes.push(o),
      recordBatches: async (os) => void outcomes.push(...os),
    },
    halt: new LocalHaltSignal(),
    config: testConfig(),
    logger: silentLogger(),
    now: () => new Date("2025-06-01T12:00:00Z"),
  });
  return { handler, live, pipeline, outcomes, dst, heads: () => heads };
}

describe("live handler", () => {
  it("parks a body that is not an S3 event in the live DLQ with its reason", async () => {
    const h = harness();
    const poison = sqsRecord("not json");
    const good = sqsRecord(s3EventBody("src", "in/a", "Object Created"));
    const response = await h.handler(sqsEvent(poison, good), fakeContext());
    assert.deepEqual(response.batchItemFailures, []);
    assert.equal(h.live.length, 1);
    assert.equal(h.live[0]?.queue, "copyDlq", "the live sink's DLQ name: the live DLQ");
    assert.match(h.live[0]?.messages[0]?.body ?? "", /live event is not JSON/);
    assert.equal(h.pipeline.length, 0, "nothing sent to the pipeline's own queues");
    assert.equal(h.dst.get("in/a"), "1");
  });

  it("converges duplicates once and fails only the records of a key whose HEAD fails", async () => {
    const h = harness((key) => key === "in/b");
    const a1 = sqsRecord(s3EventBody("src", "in/a", "Object Created"));
    const a2 = sqsRecord(s3EventBody("src", "in/a", "Object Created"));
    const b1 = sqsRecord(s3EventBody("src", "in/b", "Object Created"));
    const b2 = sqsRecord(s3EventBody("src", "in/b", "Object Deleted"));
    const response = await h.handler(sqsEvent(a1, b1, a2, b2), fakeContext());
    assert.deepEqual(response.batchItemFailures.map((f) => f.itemIdentifier).sort(), [b1.messageId, b2.messageId].sort());
    assert.equal(h.heads(), 4, "each key HEADed once per side: duplicates merged, AccessDenied not retried");
    assert.deepEqual(
      h.outcomes.map((o) => [o.jobId, o.copiedKeys]),
      [["live-20250601", ["in/a"]]],
    );
  });
});
