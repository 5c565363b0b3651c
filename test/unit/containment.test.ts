/**
 * Per-key containment: whatever one key throws, wherever in its path (HEAD,
 * planning, parts, tagging, a halt check, an abort), becomes that key's
 * outcome. The copy handler runs over fake ports (an in-memory S3 that throws
 * where it is told to), so every invocation returns, every key has exactly
 * one outcome, and only records whose outcome could not be written come back.
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { SQSRecord } from "aws-lambda";
import fc from "fast-check";
import { createCopyHandler } from "../../lambdas/copy/handler.ts";
import type { HaltSignal } from "../../lambdas/core/halt.ts";
import { type CopyItem, type CopyTask, copyBody, parseCopyBody } from "../../lambdas/core/messages.ts";
import type {
  CopyRequest,
  ListPage,
  MessageSink,
  MultipartStore,
  ObjectHead,
  ObjectStore,
  OutgoingMessage,
  QueueName,
  UploadedPart,
} from "../../lambdas/core/ports.ts";
import {
  captureJsonLines,
  fakeContext,
  jsonLogger,
  RecordingLedger,
  sqsEvent,
  sqsRecord,
  testConfig,
  testJob,
} from "../handlers/support/harness.ts";
import { seededRandom } from "../support/faultProxy.ts";
import "./arbitraries.ts";

const MiB = 1024 * 1024;
const OPTIONS = { multipartThreshold: 8 * MiB, partSize: 5 * MiB };

type Op = "copy" | "head" | "tagging" | "createUpload" | "copyPart" | "listParts" | "complete" | "abort";
const OPS: readonly Op[] = ["copy", "head", "tagging", "createUpload", "copyPart", "listParts", "complete", "abort"];

/** An error as the SDK raises one: its code as name, its HTTP status in $metadata. */
function s3Like(code: string, status: number): Error {
  return Object.assign(new Error(`injected ${code}`), { name: code, $metadata: { httpStatusCode: status } });
}

/** What a port may throw: S3's answers, defects, and things that are not errors at all. */
const THROWABLES: readonly (() => unknown)[] = [
  () => new RangeError("injected: a multipart copy needs a positive size"),
  () => new TypeError("injected: cannot read properties of undefined"),
  () => s3Like("InternalError", 500),
  () => s3Like("SlowDown", 503),
  () => s3Like("AccessDenied", 403),
  () => s3Like("NoSuchKey", 404),
  () => s3Like("PreconditionFailed", 412),
  () => "a thrown string",
  () => undefined,
];

interface Fault {
  readonly op: Op;
  /** Thrown by the call itself, or a rejected promise. */
  readonly sync: boolean;
  readonly error: number;
  /** Calls it fails before the op works again. */
  readonly times: number;
}

interface SourceObject {
  readonly size: number;
  readonly etag: string;
}

/** An in-memory S3 whose operations fail, for a given key, as its faults say. */
class FaultyS3 implements ObjectStore, MultipartStore {
  private uploads = 0;
  /** CopyObject requests that went out (not those a fault refused). */
  copies = 0;
  private readonly faults: Map<string, { fault: Fault; left: number }[]>;

  constructor(
    readonly objects: Map<string, SourceObject>,
    faults: ReadonlyMap<string, readonly Fault[]>,
  ) {
    this.faults = new Map([...faults].map(([key, fs]) => [key, fs.map((fault) => ({ fault, left: fault.times }))]));
  }

  /** Throws or rejects when a fault of this op and key is due; else runs `work`. */
  private call<T>(op: Op, key: string, work: () => T): Promise<T> {
    const due = this.faults.get(key)?.find((f) => f.fault.op === op && f.left > 0);
    if (due) {
      due.left--;
      const error = THROWABLES[due.fault.error]?.();
      if (due.fault.sync) throw error;
      return Promise.reject(error);
    }
    try {
      return Promise.resolve(work());
    } catch (err) {
      return Promise.reject(err);
    }
  }

  private source(key: string): SourceObject {
    const o = this.objects.get(key);
    if (!o) throw s3Like("NoSuchKey", 404);
    return o;
  }

  listPage(): Promise<ListPage> {
    return Promise.resolve({ objects: [] });
  }

  copy(r: CopyRequest): Promise<void> {
    return this.call("copy", r.sourceKey, () => {
      this.copies++;
      this.source(r.sourceKey);
    });
  }

  head(_bucket: string, key: string): Promise<ObjectHead> {
    return this.call("head", key, () => {
      const o = this.source(key);
      return { size: o.size, etag: o.etag, metadata: {} };
    });
  }

  tagging(_bucket: string, key: string): Promise<string> {
    return this.call("tagging", key, () => "");
  }

  createUpload(_bucket: string, key: string): Promise<string> {
    return this.call("createUpload", key, () => `upload-${++this.uploads}`);
  }

  copyPart(r: Parameters<MultipartStore["copyPart"]>[0]): Promise<string> {
    return this.call("copyPart", r.sourceKey, () => {
      if (this.source(r.sourceKey).etag !== r.ifMatch) throw s3Like("PreconditionFailed", 412);
      return `"part-${r.partNumber}"`;
    });
  }

  listParts(_bucket: string, key: string): Promise<UploadedPart[]> {
    return this.call("listParts", key, () => []);
  }

  complete(_bucket: string, key: string): Promise<void> {
    return this.call("complete", key, () => undefined);
  }

  abort(_bucket: string, key: string): Promise<void> {
    return this.call("abort", key, () => undefined);
  }
}

class FlakySink implements MessageSink {
  readonly sent: { queue: QueueName; message: OutgoingMessage }[] = [];
  failures = 0;
  constructor(
    private readonly random: () => number,
    private readonly rate: number,
  ) {}
  async send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void> {
    if (this.random() < this.rate) {
      this.failures++;
      throw s3Like("InternalError", 500);
    }
    for (const message of messages) this.sent.push({ queue, message });
  }
}

/** A halt check that never halts but sometimes cannot be read, and then throws. */
function flakyHalt(random: () => number, rate: number): HaltSignal & { failures: number } {
  const signal = {
    failures: 0,
    isHalted: async () => {
      if (random() < rate) {
        signal.failures++;
        throw new Error("injected: the halt marker could not be read");
      }
      return false;
    },
  };
  return signal;
}

const etagOf = (multipart: boolean, n: number) => (multipart ? `"${n.toString(16).padStart(32, "0")}-4"` : `"single-${n}"`);

const objectArb = fc.record({ size: fc.constantFrom(0, 10, 20 * MiB, 20 * MiB + 3), multipart: fc.boolean(), version: fc.nat(5) });
// As the source may be by its HEAD: emptied, grown past the threshold, or of a size no part plan can cut
// (a throw outside any S3 request, which only the copier's per-key containment turns into an outcome).
const nowArb = fc.record({ size: fc.constantFrom(0, 10, 20 * MiB, 20 * MiB + 0.5), multipart: fc.boolean(), version: fc.nat(5) });
const keyArb = fc.record({
  listed: objectArb,
  /** What the source holds when copied: as listed, changed, or gone. */
  now: fc.oneof(fc.constant("same" as const), fc.constant("gone" as const), nowArb),
  faults: fc.array(
    fc.record({
      op: fc.constantFrom(...OPS),
      sync: fc.boolean(),
      error: fc.nat(THROWABLES.length - 1),
      times: fc.constantFrom(1, 2, 1_000),
    }),
    { maxLength: 3 },
  ),
});
const invocationArb = fc.record({
  records: fc.array(fc.record({ attempt: fc.nat(2), keys: fc.array(keyArb, { minLength: 1, maxLength: 5 }) }), {
    minLength: 1,
    maxLength: 3,
  }),
  maxDeliveries: fc.integer({ min: 1, max: 3 }),
  seed: fc.nat(),
  haltFailureRate: fc.constantFrom(0, 0, 0.1),
  sinkFailureRate: fc.constantFrom(0, 0, 0.2),
  ledgerFails: fc.constantFrom(false, false, false, true),
});

interface Run {
  readonly tasks: Map<string, CopyTask>;
  readonly records: SQSRecord[];
  readonly store: FaultyS3;
}

type Invocation = typeof invocationArb extends fc.Arbitrary<infer T> ? T : never;

function build(input: Invocation): Run {
  const objects = new Map<string, SourceObject>();
  const faults = new Map<string, Fault[]>();
  const tasks = new Map<string, CopyTask>();
  const records: SQSRecord[] = [];
  const job = { ...testJob(), options: OPTIONS };
  input.records.forEach((r, t) => {
    const items: CopyItem[] = r.keys.map((k, i) => {
      const key = `dir/k${t}-${i}`;
      const listed = { size: k.listed.size, etag: etagOf(k.listed.multipart && k.listed.size > 0, k.listed.version) };
      if (k.now === "same") objects.set(key, listed);
      else if (k.now !== "gone")
        objects.set(key, { size: k.now.size, etag: etagOf(k.now.multipart && k.now.size > 0, 100 + k.now.version) });
      faults.set(key, k.faults);
      return { key, ...listed };
    });
    const task: CopyTask = { job, batchId: `batch-${t}`, attempt: r.attempt, items };
    const record = sqsRecord(copyBody(task), `m${t}`);
    tasks.set(record.messageId, task);
    records.push(record);
  });
  return { tasks, records, store: new FaultyS3(objects, faults) };
}

describe("per-key containment", () => {
  it("gives every key exactly one outcome whatever its ports throw, and reports only records whose outcome was not written (property)", async () => {
    await fc.assert(
      fc.asyncProperty(invocationArb, async (input) => {
        // Prepare
        const { tasks, records, store } = build(input);
        const random = seededRandom(input.seed);
        const sink = new FlakySink(random, input.sinkFailureRate);
        const ledger = new RecordingLedger();
        if (input.ledgerFails)
          ledger.recordBatches = async () => {
            throw s3Like("InternalError", 500);
          };
        const config = testConfig({
          partConcurrency: 2,
          copyPolicy: { triesPerDelivery: 2, maxDeliveries: input.maxDeliveries, backoff: { baseMs: 0, capMs: 0 } },
        });
        const halt = flakyHalt(random, input.haltFailureRate);
        const handler = createCopyHandler({
          store,
          multipart: store,
          sink,
          ledger,
          halt,
          config,
          logger: jsonLogger(),
        });

        // Act: an invocation that rejected would throw here and fail the property.
        const { result, lines } = await captureJsonLines(() => handler(sqsEvent(...records), fakeContext()));

        // Assess
        const reported = new Set(result.batchItemFailures.map((f) => f.itemIdentifier));
        // A record comes back only when its batch's bookkeeping failed: a send, the ledger write, or the
        // halt check before enqueuing retries (without it, a retry could follow a halt).
        if (sink.failures === 0 && halt.failures === 0 && !input.ledgerFails)
          assert.deepEqual([...reported], [], "nothing failed to be written");
        const outcomes = new Map(ledger.batchRecords.map((o) => [o.batchId, o]));
        const children = new Map(
          sink.sent.filter((s) => s.queue === "copy").map((s) => [parseCopyBody(s.message.body).batchId, parseCopyBody(s.message.body)]),
        );
        const logged = (key: string, message: string) => lines.some((l) => l.key === key && l.message === message);
        for (const [messageId, task] of tasks) {
          const outcome = outcomes.get(task.batchId);
          if (reported.has(messageId)) {
            assert.equal(outcome, undefined, `${messageId} comes back, so it has no outcome`);
            continue;
          }
          assert.ok(outcome, `${messageId} was acknowledged, so its outcome is recorded`);
          const named = [
            ...(outcome.copiedKeys ?? []),
            ...outcome.vanished,
            ...outcome.failed.map((f) => f.key),
            ...outcome.children.flatMap((c) => children.get(c.batchId)?.items.map((i) => i.key) ?? [`missing child ${c.batchId}`]),
          ].sort();
          assert.equal(outcome.halted ?? 0, 0);
          assert.deepEqual(named, task.items.map((i) => i.key).sort(), "each key named exactly once");
          for (const f of outcome.failed) {
            assert.ok(f.error.code.length > 0 && f.error.message.length > 0, "a failure keeps its code and message");
            assert.ok(logged(f.key, "copy failed"), `${f.key}'s failure is logged`);
          }
          for (const c of outcome.children)
            for (const item of children.get(c.batchId)?.items ?? [])
              assert.ok(logged(item.key, "copy retry") || logged(item.key, "copy fault"), `${item.key}'s retry is logged with its error`);
        }
      }),
      { numRuns: 150 },
    );
  });

  it("retries the try whose halt check could not be read, sending nothing in it, and copies every key", async () => {
    // Prepare: the first halt check of the invocation (before one key's copy) throws.
    const { records, store } = build({
      records: [
        {
          attempt: 0,
          keys: [0, 1, 2].map((n) => ({ listed: { size: 10, multipart: false, version: n }, now: "same" as const, faults: [] })),
        },
      ],
      maxDeliveries: 3,
      seed: 1,
      haltFailureRate: 0,
      sinkFailureRate: 0,
      ledgerFails: false,
    });
    let checks = 0;
    const halt: HaltSignal = {
      isHalted: async () => {
        if (++checks === 1) throw new Error("injected: the halt marker could not be read");
        return false;
      },
    };
    const sink = new FlakySink(() => 1, 0);
    const ledger = new RecordingLedger();
    const handler = createCopyHandler({ store, multipart: store, sink, ledger, halt, config: testConfig(), logger: jsonLogger() });

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(...records), fakeContext()));

    // Assess: the unreadable marker cost one try of one key (logged as a retry, no copy sent in it), not the key.
    assert.deepEqual(result.batchItemFailures, []);
    const requeued = sink.sent.filter((s) => s.queue === "copy");
    assert.deepEqual(requeued, []);
    assert.deepEqual([...(ledger.batchRecords[0]?.copiedKeys ?? [])].sort(), ["dir/k0-0", "dir/k0-1", "dir/k0-2"]);
    assert.equal(store.copies, 3, "one CopyObject per key: none went out in the failed try");
    assert.equal(lines.filter((l) => l.message === "copy fault").length, 0);
    const retry = lines.filter((l) => l.message === "copy retry");
    assert.equal(retry.length, 1);
    assert.match(String(retry[0]?.errorMessage), /halt marker/);
  });

  it("copies the rest of an invocation when one key's HEAD is nonsense that planning cannot cut into parts", async () => {
    // Prepare: "big" is listed above the threshold, and its HEAD answers a size no plan can cut (1.5 bytes).
    const { tasks, records, store } = build({
      records: [
        {
          attempt: 0,
          keys: [
            { listed: { size: 20 * MiB, multipart: true, version: 1 }, now: "same", faults: [] },
            { listed: { size: 10, multipart: false, version: 2 }, now: "same", faults: [] },
          ],
        },
      ],
      maxDeliveries: 3,
      seed: 1,
      haltFailureRate: 0,
      sinkFailureRate: 0,
      ledgerFails: false,
    });
    store.objects.set("dir/k0-0", { size: 20.5 * MiB + 0.5, etag: etagOf(true, 9) });
    const sink = new FlakySink(() => 1, 0);
    const ledger = new RecordingLedger();
    const handler = createCopyHandler({
      store,
      multipart: store,
      sink,
      ledger,
      halt: flakyHalt(() => 1, 0),
      config: testConfig({ copyPolicy: { triesPerDelivery: 2, maxDeliveries: 3, backoff: { baseMs: 0, capMs: 0 } } }),
      logger: jsonLogger(),
    });

    // Act
    const { result, lines } = await captureJsonLines(() => handler(sqsEvent(...records), fakeContext()));

    // Assess: the small key copied, the big one retried on its own, with the RangeError logged.
    assert.deepEqual(result.batchItemFailures, []);
    assert.equal(tasks.size, 1);
    const outcome = ledger.batchRecords[0];
    assert.deepEqual(outcome?.copiedKeys, ["dir/k0-1"]);
    const retried = sink.sent.filter((s) => s.queue === "copy").map((s) => parseCopyBody(s.message.body));
    assert.deepEqual(
      retried.map((t) => [t.attempt, t.items.map((i) => i.key)]),
      [[1, ["dir/k0-0"]]],
    );
    const fault = lines.find((l) => l.message === "copy fault");
    assert.equal(fault?.key, "dir/k0-0");
    assert.equal(fault?.errorCode, "RangeError");
    assert.match(String(fault?.errorMessage), /positive size/);
  });
});
