/**
 * sync --delete through the lister and the finish check, as the list queue
 * drives them (messages taken in random order): whatever the page size,
 * deadlines, portion records, splits, prefixes, patterns and runs of keys
 * only the destination has, exactly the destination-only keys of the
 * selection are sent for deletion, and every selected source key is listed
 * exactly once. (After a reviewer's property test.)
 */
import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { DEFAULT_BATCH_LIMITS } from "../../lambdas/core/batching.ts";
import { finishListing } from "../../lambdas/core/deletions.ts";
import { keyFilter } from "../../lambdas/core/jobOptions.ts";
import { compareKeys, sortKeys } from "../../lambdas/core/keyOrder.ts";
import { InMemoryLedger } from "../../lambdas/core/ledger.ts";
import { listRange } from "../../lambdas/core/lister.ts";
import { type JobRef, listBody, parseCopyBody, parseListQueueBody } from "../../lambdas/core/messages.ts";
import type {
  ListedObject,
  ListPage,
  ListPageRequest,
  MessageSink,
  ObjectStore,
  OutgoingMessage,
  QueueName,
} from "../../lambdas/core/ports.ts";
import { seedRanges } from "../../lambdas/core/ranges.ts";
import { anyKey, loadAwkwardKeys } from "./arbitraries.ts";

/** Two buckets of sorted keys, paged; a token names the last key of its page. */
function bucketStore(buckets: Record<string, string[]>, pageSize: number): ObjectStore {
  const sorted = Object.fromEntries(Object.entries(buckets).map(([b, keys]) => [b, sortKeys([...keys])]));
  return {
    async listPage(r: ListPageRequest): Promise<ListPage> {
      const after = r.token !== undefined ? r.token.slice(2) : r.startAfter;
      const rest = (sorted[r.bucket] ?? []).filter((k) => k.startsWith(r.prefix) && (after === undefined || compareKeys(k, after) > 0));
      const page = rest.slice(0, Math.min(pageSize, r.maxKeys));
      const objects: ListedObject[] = page.map((key) => ({ key, size: 1, etag: '"e"' }));
      return { objects, nextToken: rest.length > page.length ? `T:${page.at(-1)}` : undefined };
    },
    async copy() {},
  };
}

interface Run {
  readonly source: string[];
  readonly destination: string[];
  readonly sourcePrefix: string;
  readonly destinationPrefix: string;
  readonly pageSize: number;
  /** An invocation's deadline comes after this many pages. */
  readonly deadlineEvery: number;
  readonly portionPages: number;
  readonly splitAfter: number;
  readonly extrasPerRecord: number;
  readonly exclude?: string[] | undefined;
  readonly seed: number;
}

async function runJob(run: Run) {
  const job: JobRef = {
    id: "J1",
    source: { bucket: "src", prefix: run.sourcePrefix },
    destination: { bucket: "dst", prefix: run.destinationPrefix },
    options: { sync: true, delete: true, ...(run.exclude ? { exclude: run.exclude } : {}) },
  };
  const store = bucketStore({ src: run.source, dst: run.destination }, run.pageSize);
  const ledger = new InMemoryLedger(true);
  const queue = seedRanges(run.sourcePrefix).map((range) => listBody({ job, range, hop: 0 }));
  const copies: string[] = [];
  const sink: MessageSink = {
    async send(q: QueueName, messages: readonly OutgoingMessage[]) {
      for (const m of messages) (q === "list" ? queue : copies).push(m.body);
    },
  };
  const halt = { isHalted: async () => false };
  let state = run.seed >>> 0;
  const random = () => {
    state = (Math.imul(state, 1103515245) + 12345) >>> 0;
    return state / 2 ** 32;
  };
  for (let steps = 0; queue.length > 0; steps++) {
    assert.ok(steps < 100_000, "the job makes progress");
    const body = queue.splice(Math.floor(random() * queue.length), 1)[0] as string;
    const work = parseListQueueBody(body);
    if (work.kind === "finish") {
      await finishListing(work.job, { ledger, sink, halt, limits: DEFAULT_BATCH_LIMITS });
      continue;
    }
    let pagesLeft = run.deadlineEvery;
    await listRange(work.task, {
      sink,
      ledger,
      halt,
      limits: DEFAULT_BATCH_LIMITS,
      pageSize: run.pageSize,
      remainingMs: () => (--pagesLeft <= 0 ? 0 : 1e9),
      safetyMs: 1,
      store,
      splitParts: 4,
      splitAfterPages: run.splitAfter,
      splitPartPages: 1,
      portionPages: run.portionPages,
      extrasPerRecord: run.extrasPerRecord,
    });
  }
  const deleted = copies.map((c) => parseCopyBody(c)).flatMap((t) => (t.op === "delete" ? t.items.map((i) => i.key) : []));
  return { deleted, summary: ledger.summary() };
}

describe("sync --delete through the lister", () => {
  it("deletes exactly the destination-only keys of the selection and lists each source key once (property)", async () => {
    const awkward = loadAwkwardKeys();
    const key = fc.oneof(anyKey, fc.constantFrom(...awkward), fc.stringMatching(/^[a-c]{1,4}$/)).filter((k) => k.length > 0);
    await fc.assert(
      fc.asyncProperty(
        fc.uniqueArray(key, { maxLength: 60 }),
        fc.uniqueArray(key, { maxLength: 60 }),
        fc.record({
          pageSize: fc.integer({ min: 1, max: 4 }),
          deadlineEvery: fc.integer({ min: 1, max: 6 }),
          portionPages: fc.integer({ min: 1, max: 4 }),
          splitAfter: fc.integer({ min: 1, max: 3 }),
          extrasPerRecord: fc.integer({ min: 1, max: 5 }),
          prefixes: fc.constantFrom(["", ""], ["p/", "q/"], ["p/", ""], ["", "q"]),
          seed: fc.integer(),
          exclude: fc.option(
            fc.constantFrom(["*a*"], ["b*"]).map((e) => [...e]),
            { nil: undefined },
          ),
        }),
        async (sourceOnly, destinationOnly, o) => {
          const [sp, dp] = o.prefixes as [string, string];
          const shared = sourceOnly.filter((_, i) => i % 2 === 0);
          const source = sourceOnly.map((k) => sp + k);
          // Keys outside either prefix must never be touched.
          const destination = [...new Set([...shared, ...destinationOnly])]
            .map((k) => dp + k)
            .concat(dp ? ["a-outside", "z/outside", "\u{10000}out"] : []);
          const run = { ...o, source: source.concat(sp ? ["a-outside", "zz"] : []), destination, sourcePrefix: sp, destinationPrefix: dp };
          const { deleted, summary } = await runJob(run);
          const selects = keyFilter(o.exclude ? { exclude: o.exclude } : undefined, sp);
          const inSource = new Set(source);
          const expected = destination
            .filter((d) => d.startsWith(dp))
            .map((d) => sp + d.slice(dp.length))
            .filter((k) => !inSource.has(k) && selects(k));
          assert.deepEqual(sortKeys(deleted), sortKeys(expected), "each key sent for deletion once");
          assert.equal(summary.listed, source.filter(selects).length, "each selected source key listed once");
          assert.equal(summary.toDelete, expected.length);
        },
      ),
      { numRuns: 800 },
    );
  });

  it("hands on a long run of keys only the destination has, a record's worth at a time", async () => {
    // Prepare: two source keys with 25 destination-only keys between them and 12 after.
    const between = Array.from({ length: 25 }, (_, i) => `b${String(i).padStart(2, "0")}`);
    const after = Array.from({ length: 12 }, (_, i) => `c${String(i).padStart(2, "0")}`);
    const run: Run = {
      source: ["a", "bz"],
      destination: ["a", ...between, "bz", ...after],
      sourcePrefix: "",
      destinationPrefix: "",
      pageSize: 1000,
      deadlineEvery: 1000,
      portionPages: 10,
      splitAfter: 3,
      extrasPerRecord: 10,
      seed: 1,
    };

    // Act
    const { deleted, summary } = await runJob(run);

    // Assess
    assert.deepEqual(sortKeys(deleted), sortKeys([...between, ...after]));
    assert.deepEqual({ listed: summary.listed, toDelete: summary.toDelete }, { listed: 2, toDelete: 37 });
  });
});
