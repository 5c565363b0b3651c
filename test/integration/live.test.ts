/**
 * Live changes over the emulator, as `npm run serve -- --live-job …` runs them:
 * EventBridge-shaped S3 events posted to the live queue (the emulator has no
 * EventBridge), duplicated and out of order, bring every awkward key of the
 * destination up to date, deletions included; the day's ledger names each key;
 * a body that is not an S3 event is parked in the live DLQ.
 */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { DeleteObjectCommand } from "@aws-sdk/client-s3";
import { ReceiveMessageCommand, SendMessageBatchCommand, type SendMessageBatchCommandOutput } from "@aws-sdk/client-sqs";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { liveJobId } from "../../lambdas/core/converge.ts";
import { type LiveDetailType, s3EventBody } from "../../lambdas/core/s3Events.ts";
import { awkwardKeys, checkObjects, seedObject } from "../../scripts/lib/seed.ts";
import { seedBuckets, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { listKeys, startTestStack, type TestStack, waitFor } from "../support/localStack.ts";

describe("live changes (emulator)", () => {
  let emulator: TestEmulator;
  let stack: TestStack;
  let dir: string;
  let source: string;
  let destination: string;
  const keys = awkwardKeys();

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "s3-fanout-live-"));
    ({ source, destination } = await seedBuckets(emulator, "live", keys));
    stack = await startTestStack(emulator, dir, {
      live: { job: { source: { bucket: source, prefix: "" }, destination: { bucket: destination, prefix: "" } }, allowDelete: true },
    });
  });

  after(async () => {
    await stack?.stop();
    await emulator?.stop();
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  /** Posts events as EventBridge would (one per message), in batches of 10. */
  async function post(events: readonly { key: string; type: LiveDetailType }[]): Promise<void> {
    const url = stack.stack.live?.queue.url;
    assert.ok(url);
    for (let i = 0; i < events.length; i += 10) {
      const entries = events
        .slice(i, i + 10)
        .map((e, j) => ({ Id: String(j), MessageBody: s3EventBody(source, e.key, e.type, { id: `${i + j}` }) }));
      const out: SendMessageBatchCommandOutput = await emulator.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
      assert.equal(out.Failed?.length ?? 0, 0, JSON.stringify(out.Failed));
    }
  }

  const day = () => [...new Set([liveJobId(new Date(Date.now() - 120_000)), liveJobId(new Date())])];

  async function ledgerKeys(): Promise<{ copied: Set<string>; deleted: Set<string> }> {
    const ledger = new S3Ledger(emulator.s3, stack.stack.deployment.ledgerBucket);
    const copied = new Set<string>();
    const deleted = new Set<string>();
    for (const jobId of day()) {
      const { outcomes } = await ledger.readRecords(jobId);
      for (const o of outcomes.values()) {
        for (const k of o.copiedKeys ?? []) copied.add(k);
        for (const k of o.deletedKeys ?? []) deleted.add(k);
      }
    }
    return { copied, deleted };
  }

  it("names the live queue in the outputs", () => {
    const outputs = JSON.parse(readFileSync(stack.outputsFile, "utf8")) as Record<string, Record<string, string>>;
    const [only] = Object.values(outputs);
    assert.equal(only?.LiveQueueUrl, stack.stack.live?.queue.url);
  });

  it("copies every awkward key from duplicated, shuffled Object Created events", async () => {
    const events = keys.flatMap((key) => [
      { key, type: "Object Created" as const },
      { key, type: "Object Created" as const },
    ]);
    // A fixed shuffle: reversed halves interleaved, so duplicates arrive apart and out of order.
    const shuffled = [...events.filter((_, i) => i % 2 === 0).reverse(), ...events.filter((_, i) => i % 2 === 1)];
    await post(shuffled);
    await waitFor("every key in the destination", async () =>
      (await listKeys(emulator.s3, destination)).length === keys.length ? true : undefined,
    );
    const problems = await checkObjects(emulator.s3, destination, keys.map(seedObject));
    assert.deepEqual(problems, []);
    const { copied } = await waitFor("the ledger to name every copy", async () => {
      const l = await ledgerKeys();
      return l.copied.size === keys.length ? l : undefined;
    });
    assert.deepEqual([...copied].sort(), [...keys].sort());
  });

  it("deletes keys the source lost, even when a stale Object Created arrives last", async () => {
    const gone = keys.slice(0, 5);
    for (const key of gone) await emulator.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));
    await post([
      ...gone.map((key) => ({ key, type: "Object Deleted" as const })),
      ...gone.map((key) => ({ key, type: "Object Created" as const })),
    ]);
    await waitFor("the deleted keys to leave the destination", async () => {
      const left = new Set(await listKeys(emulator.s3, destination));
      return gone.every((k) => !left.has(k)) ? true : undefined;
    });
    assert.equal((await listKeys(emulator.s3, destination)).length, keys.length - gone.length);
    const { deleted } = await waitFor("the ledger to name every deletion", async () => {
      const l = await ledgerKeys();
      return gone.every((k) => l.deleted.has(k)) ? l : undefined;
    });
    assert.deepEqual([...deleted].sort(), [...gone].sort());
  });

  it("parks a body that is not an S3 event in the live DLQ", async () => {
    const url = stack.stack.live?.queue.url;
    const dlq = stack.stack.live?.dlq.url;
    assert.ok(url && dlq);
    await emulator.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: [{ Id: "p", MessageBody: '{"hello":"world"}' }] }));
    const parked = await waitFor("the poison in the live DLQ", async () => {
      const out = await emulator.sqs.send(new ReceiveMessageCommand({ QueueUrl: dlq, MaxNumberOfMessages: 1, WaitTimeSeconds: 1 }));
      return out.Messages?.[0]?.Body;
    });
    assert.match(parked, /hello/);
    assert.match(parked, /not an S3 Object Created\/Deleted event/);
  });
});
