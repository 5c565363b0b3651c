import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_BATCH_LIMITS } from "../../lambdas/core/batching.ts";
import { finishListing, isLedgerKey } from "../../lambdas/core/deletions.ts";
import { LocalHaltSignal } from "../../lambdas/core/halt.ts";
import { optionProblems } from "../../lambdas/core/jobOptions.ts";
import { compareKeys, sortKeys } from "../../lambdas/core/keyOrder.ts";
import { account, InMemoryLedger } from "../../lambdas/core/ledger.ts";
import { type JobRef, parseCopyBody } from "../../lambdas/core/messages.ts";
import type { ListedObject, ListPage, ListPageRequest, MessageSink, OutgoingMessage, QueueName } from "../../lambdas/core/ports.ts";
import { DestinationCursor } from "../../lambdas/core/sync.ts";
import { anyKey, loadAwkwardKeys } from "./arbitraries.ts";

const JOB: JobRef = {
  id: "20261203-101010-del001",
  source: { bucket: "src", prefix: "" },
  destination: { bucket: "dst", prefix: "copy/" },
  options: { sync: true, delete: true },
};

class RecordingSink implements MessageSink {
  readonly sent: { queue: QueueName; message: OutgoingMessage }[] = [];
  async send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void> {
    for (const message of messages) this.sent.push({ queue, message });
  }
}

/** A lister over one bucket's sorted keys, paging by StartAfter or by a token that is the last key. */
function listerOf(keys: readonly string[], pageSize = 3) {
  const sorted = sortKeys([...keys]);
  return {
    async listPage(r: ListPageRequest): Promise<ListPage> {
      const after = r.token ?? r.startAfter;
      const from = after === undefined ? 0 : sorted.findIndex((k) => compareKeys(k, after) > 0);
      const rest = from < 0 ? [] : sorted.slice(from).filter((k) => k.startsWith(r.prefix));
      const page = rest.slice(0, Math.min(pageSize, r.maxKeys));
      const objects: ListedObject[] = page.map((key) => ({ key, size: 1, etag: '"e"' }));
      return { objects, nextToken: rest.length > page.length ? page.at(-1) : undefined };
    },
  };
}

describe("isLedgerKey", () => {
  it("knows a ledger's records under any prefix, and nothing else", () => {
    for (const key of [
      "jobs/20261203-abc/spec.json",
      "backup/jobs/J_1/halt.json",
      "a/b/jobs/J/portions/x.json",
      "jobs/J/batches/set-abc.json",
      "jobs/J/extras/abc.json",
      "jobs/J/deletion-plan.json",
      ".s3-fanout/anything",
      "data/.s3-fanout/jobs/J/spec.json",
      "schedules/nightly/runs/J.json",
    ])
      assert.equal(isLedgerKey(key), true, key);
    for (const key of [
      "jobs/J/spec.json.bak",
      "myjobs/J/spec.json",
      "jobs/J/other.json",
      "s3-fanout/x",
      "jobs/a b/spec.json",
      "report.csv",
    ])
      assert.equal(isLedgerKey(key), false, key);
  });
});

describe("--delete options", () => {
  it("needs --sync, and --max-delete needs --delete", () => {
    assert.match(optionProblems({ delete: true }).join(), /--delete needs --sync/);
    assert.match(optionProblems({ sync: true, maxDelete: 3 }).join(), /--max-delete needs --delete/);
    assert.deepEqual(optionProblems({ sync: true, delete: true, maxDelete: 0 }), []);
  });
});

describe("DestinationCursor", () => {
  it("keeps exactly the destination keys the source lacks, whatever the keys and pages (property)", async () => {
    const awkward = loadAwkwardKeys();
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(fc.oneof(anyKey, fc.constantFrom(...awkward)), { maxLength: 40 }),
        fc.uniqueArray(fc.oneof(anyKey, fc.constantFrom(...awkward)), { maxLength: 40 }),
        fc.integer({ min: 1, max: 5 }),
        async (sourceKeys, destinationOnly, pageSize) => {
          // The destination holds some source keys and some of its own, under its prefix.
          const shared = sourceKeys.filter((_, i) => i % 2 === 0);
          const destinationKeys = [...new Set([...shared, ...destinationOnly])];
          const store = listerOf(
            destinationKeys.map((k) => `copy/${k}`),
            pageSize,
          );
          const cursor = new DestinationCursor({ store, pageSize }, "dst", "copy/", "", {});
          for (const key of sortKeys([...sourceKeys])) await cursor.find(key);
          await cursor.passTo(undefined, false);
          const expected = sortKeys(destinationKeys.filter((k) => !sourceKeys.includes(k)));
          assert.deepEqual(cursor.takeExtra(), expected);
        },
      ),
      { numRuns: 200 },
    );
  });

  it("passes up to a key the source has without keeping it, and stops at a limit", async () => {
    const cursor = new DestinationCursor(
      { store: listerOf(["copy/a", "copy/b", "copy/c", "copy/d"]), pageSize: 2 },
      "dst",
      "copy/",
      "",
      {},
    );
    assert.equal(await cursor.passTo("b", true), true);
    assert.deepEqual(cursor.takeExtra(), ["a"]);
    assert.equal(await cursor.passTo(undefined, false, 1), false);
    assert.equal(cursor.lastExtra(), "c");
    assert.deepEqual(cursor.takeExtra(), ["c"]);
  });
});

describe("finishListing", () => {
  const deps = (ledger: InMemoryLedger, sink = new RecordingSink(), halt = new LocalHaltSignal()) => ({
    ledger,
    sink,
    halt,
    limits: { ...DEFAULT_BATCH_LIMITS, maxKeys: 2 },
    now: () => new Date("2026-12-03T10:00:00Z"),
  });

  it("decides nothing while a stretch of the key space is unlisted", async () => {
    const ledger = new InMemoryLedger(true);
    await ledger.recordExtras({ jobId: JOB.id, range: { endAt: "m" }, keys: ["a"], protected: 0 });
    const sink = new RecordingSink();
    assert.deepEqual(await finishListing(JOB, deps(ledger, sink)), { status: "listing", stretches: 1 });
    assert.equal(sink.sent.length, 0);
    assert.equal(await ledger.readDeletionPlan(), undefined);
  });

  it("once every stretch is listed, sends each key once in deletion batches, then records the plan", async () => {
    // Prepare: two stretches, one recorded twice (a duplicate delivery), awkward keys among them.
    const ledger = new InMemoryLedger(true);
    const awkward = loadAwkwardKeys().slice(0, 3);
    await ledger.recordExtras({ jobId: JOB.id, range: { endAt: "m" }, keys: ["b", ...awkward], protected: 1 });
    await ledger.recordExtras({ jobId: JOB.id, range: { startAfter: "m" }, keys: ["x", "b"], protected: 0 });
    const sink = new RecordingSink();

    // Act
    const result = await finishListing(JOB, deps(ledger, sink));

    // Assess
    assert.equal(result.status, "planned");
    const tasks = sink.sent.map((s) => {
      assert.equal(s.queue, "copy");
      return parseCopyBody(s.message.body);
    });
    assert.ok(tasks.every((t) => t.op === "delete" && t.items.length <= 2));
    assert.deepEqual(
      tasks.flatMap((t) => t.items.map((i) => i.key)),
      sortKeys(["b", "x", ...awkward]),
    );
    const plan = await ledger.readDeletionPlan();
    assert.deepEqual(
      { count: plan?.count, refused: plan?.refused, protected: plan?.protected, batches: plan?.batches.map((b) => b.batchId) },
      { count: awkward.length + 2, refused: false, protected: 1, batches: tasks.map((t) => t.batchId) },
    );
    // A later check (a duplicate) finds the plan sent and sends nothing.
    const again = new RecordingSink();
    const second = await finishListing(JOB, deps(ledger, again));
    assert.deepEqual({ status: second.status, sent: "sent" in second && second.sent }, { status: "planned", sent: 0 });
    assert.equal(again.sent.length, 0);
    // The job is not complete until the deletion batches have outcomes.
    const summary = ledger.summary();
    assert.deepEqual({ toDelete: summary.toDelete, complete: summary.complete }, { toDelete: awkward.length + 2, complete: false });
  });

  it("a check that died while sending is retried and sends the plan's batches again, the same ids", async () => {
    // Prepare: the first check's sink fails after its first batch.
    const ledger = new InMemoryLedger(true);
    await ledger.recordExtras({ jobId: JOB.id, range: {}, keys: ["a", "b", "c", "d", "e"], protected: 0 });
    const dying = new RecordingSink();
    const send = dying.send.bind(dying);
    dying.send = async (queue, messages) => {
      await send(queue, messages.slice(0, 1));
      throw new Error("connection reset");
    };

    // Act
    await assert.rejects(finishListing(JOB, deps(ledger, dying)), /connection reset/);
    const retry = new RecordingSink();
    const result = await finishListing(JOB, deps(ledger, retry));

    // Assess: the plan decided first stands; the retry sends every batch of it.
    const plan = await ledger.readDeletionPlan();
    assert.equal(result.status, "planned");
    assert.deepEqual(
      retry.sent.map((s) => parseCopyBody(s.message.body).batchId),
      plan?.batches.map((b) => b.batchId),
    );
    assert.equal(plan?.batches.length, 3);
    assert.ok(plan?.sentAt !== undefined);
  });

  it("of two checks racing, the plan written first stands and both send only its batches", async () => {
    // Prepare: check A reads the extras; before B reads them a duplicate listing adds a stretch with one
    // more key, so B alone would decide differently (and, with --max-delete 3, refuse).
    const ledger = new InMemoryLedger(true);
    const job = { ...JOB, options: { ...JOB.options, maxDelete: 3 } };
    await ledger.recordExtras({ jobId: JOB.id, range: {}, keys: ["a", "b", "c"], protected: 0 });
    const readA = ledger.readExtras.bind(ledger);
    const slowA: InMemoryLedger = Object.create(ledger);
    let release: () => void = () => undefined;
    const gate = new Promise<void>((resolve) => {
      release = resolve;
    });
    slowA.readExtras = async () => {
      const seen = await readA();
      await gate;
      return seen;
    };
    const sinkA = new RecordingSink();
    const sinkB = new RecordingSink();

    // Act: A has read; B reads (one key more) and decides first; then A goes on.
    const a = finishListing(job, { ...deps(slowA, sinkA), checkId: "A" });
    await new Promise((resolve) => setImmediate(resolve));
    await ledger.recordExtras({ jobId: JOB.id, range: { endAt: "zz" }, keys: ["a", "d"], protected: 0 });
    const b = await finishListing(job, { ...deps(ledger, sinkB), checkId: "B" });
    release();
    const resultA = await a;

    // Assess: B's refusal stands; A sends nothing, and the ledger tells one story.
    assert.deepEqual({ status: b.status, decidedHere: "decidedHere" in b && b.decidedHere }, { status: "refused", decidedHere: true });
    assert.deepEqual(
      { status: resultA.status, decidedHere: "decidedHere" in resultA && resultA.decidedHere },
      { status: "refused", decidedHere: false },
    );
    assert.equal(sinkA.sent.length + sinkB.sent.length, 0);
    assert.deepEqual(
      { by: (await ledger.readDeletionPlan())?.decidedBy, refused: ledger.summary().deletionsRefused },
      { by: "B", refused: true },
    );
  });

  it("past --max-delete, records a refusal and sends nothing", async () => {
    const ledger = new InMemoryLedger(true);
    await ledger.recordExtras({ jobId: JOB.id, range: {}, keys: ["a", "b", "c"], protected: 0 });
    const sink = new RecordingSink();
    const job = { ...JOB, options: { ...JOB.options, maxDelete: 2 } };

    const result = await finishListing(job, deps(ledger, sink));

    assert.equal(result.status, "refused");
    assert.equal(sink.sent.length, 0);
    assert.deepEqual(
      { count: (await ledger.readDeletionPlan())?.count, refused: (await ledger.readDeletionPlan())?.refused },
      { count: 3, refused: true },
    );
    const summary = ledger.summary();
    assert.equal(summary.deletionsRefused, true);
  });

  it("does nothing for a halted job", async () => {
    const ledger = new InMemoryLedger(true);
    await ledger.recordExtras({ jobId: JOB.id, range: {}, keys: ["a"], protected: 0 });
    const halt = new LocalHaltSignal();
    halt.halt(JOB.id);
    const sink = new RecordingSink();
    assert.deepEqual(await finishListing(JOB, deps(ledger, sink, halt)), { status: "halted" });
    assert.equal(sink.sent.length, 0);
  });
});

describe("a job with deletions, accounted", () => {
  it("is complete only once its deletions are decided and every deletion batch has an outcome", () => {
    const portions = [{ jobId: JOB.id, range: {}, listed: 0, batches: [], continued: false }];
    const plan = {
      jobId: JOB.id,
      decidedBy: "check-1",
      decidedAt: "2026-12-03T10:00:00Z",
      count: 2,
      refused: false,
      protected: 0,
      batches: [{ batchId: "d1", keys: 2, bytes: 0 }],
    };
    const undecided = account(portions, new Map(), { deletion: { expected: true } }).summary;
    assert.equal(undecided.complete, false);
    const pending = account(portions, new Map(), { deletion: { expected: true, plan } }).summary;
    assert.deepEqual({ complete: pending.complete, pendingBatches: pending.pendingBatches }, { complete: false, pendingBatches: 1 });
    const outcome = {
      jobId: JOB.id,
      batchId: "d1",
      copied: 0,
      copiedBytes: 0,
      vanished: [],
      failed: [],
      children: [],
      deletedKeys: ["a", "b"],
    };
    const done = account(portions, new Map([["d1", outcome]]), { keys: true, deletion: { expected: true, plan } });
    assert.deepEqual(
      { complete: done.summary.complete, deleted: done.summary.deleted, listed: done.summary.listed, keys: done.deletedKeys },
      { complete: true, deleted: 2, listed: 0, keys: ["a", "b"] },
    );
  });
});

describe("deletion batches in the copier", () => {
  it("deletes what the source still lacks, keeps what it has again, and parks a refused deletion as a deletion", async () => {
    // Prepare: the source has "back" again; deleting "denied" is refused.
    const { copyTasks, DEFAULT_COPY_POLICY } = await import("../../lambdas/core/copier.ts");
    const { AdaptiveLimiter } = await import("../../lambdas/core/limiter.ts");
    const { packCopyBatches } = await import("../../lambdas/core/batching.ts");
    const awkward = loadAwkwardKeys()[3] as string;
    const [batch] = packCopyBatches(
      JOB,
      ["back", "denied", awkward].map((key) => ({ key, size: 0 })),
      DEFAULT_BATCH_LIMITS,
      0,
      "",
      "delete",
    );
    const task = parseCopyBody(batch?.body ?? "");
    const deleted: string[] = [];
    const sink = new RecordingSink();
    const ledger = new InMemoryLedger(true);
    const notFound = Object.assign(new Error("Not Found"), { name: "NotFound", $metadata: { httpStatusCode: 404 } });
    const denied = Object.assign(new Error("Access Denied"), { name: "AccessDenied", $metadata: { httpStatusCode: 403 } });

    // Act
    const [error] = await copyTasks([task], {
      store: { listPage: async () => ({ objects: [] }), copy: async () => assert.fail("a deletion batch copies nothing") },
      multipart: {
        head: async (_bucket: string, key: string) => {
          if (key === "back") return { size: 1, metadata: {} };
          throw notFound;
        },
      } as never,
      deleter: {
        deleteObject: async (bucket: string, key: string) => {
          if (key === "copy/denied") throw denied;
          deleted.push(`${bucket}/${key}`);
        },
      },
      sink,
      ledger,
      halt: new LocalHaltSignal(),
      limiter: new AdaptiveLimiter({ max: 4 }),
      policy: DEFAULT_COPY_POLICY,
      limits: DEFAULT_BATCH_LIMITS,
      remainingMs: () => 60_000,
      safetyMs: 1_000,
      sleep: async () => undefined,
    });

    // Assess
    assert.equal(error, undefined);
    assert.deepEqual(deleted, [`dst/copy/${awkward}`]);
    const [outcome] = [
      ...(ledger as unknown as { outcomes: Map<string, import("../../lambdas/core/ports.ts").BatchOutcome> }).outcomes.values(),
    ];
    assert.deepEqual(
      { deleted: outcome?.deletedKeys, unchanged: outcome?.unchanged, failed: outcome?.failed.map((f) => f.key), copied: outcome?.copied },
      { deleted: [awkward], unchanged: 1, failed: ["denied"], copied: 0 },
    );
    const parked = sink.sent.filter((s) => s.queue === "copyDlq");
    assert.equal(parked.length, 1);
    // Redriven, the DLQ record is a deletion again, never a copy.
    const redriven = parseCopyBody(parked[0]?.message.body ?? "");
    assert.deepEqual({ op: redriven.op, keys: redriven.items.map((i) => i.key) }, { op: "delete", keys: ["denied"] });
  });
});
