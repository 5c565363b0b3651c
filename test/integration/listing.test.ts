/**
 * Adaptive listing on skewed buckets, against the emulator: ranges that
 * prove large split while they are listed, and no key is lost or listed twice.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { DeleteMessageBatchCommand, ReceiveMessageCommand } from "@aws-sdk/client-sqs";
import { kickoff, reseed, seedTasks } from "../../lambdas/aws/jobStart.ts";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { jobRefOf } from "../../lambdas/core/jobSpec.ts";
import { parseListBody } from "../../lambdas/core/messages.ts";
import type { ListPageRequest, ObjectStore } from "../../lambdas/core/ports.ts";
import { DEFAULT_SPLIT_POINTS, rangeContains } from "../../lambdas/core/ranges.ts";
import { checkObjects, ensureBucket, putObjects, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { createQueue } from "../../scripts/local/queues.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";

/** Wraps the store to see how many listings run at once and which keys were listed. */
function watchListing() {
  let active = 0;
  let maxActive = 0;
  const listedKeys = new Map<string, number>();
  const wrap = (store: ObjectStore): ObjectStore => ({
    copy: (r) => store.copy(r),
    listPage: async (r: ListPageRequest) => {
      active++;
      maxActive = Math.max(maxActive, active);
      try {
        const page = await store.listPage(r);
        // Give other invocations a chance to overlap, as separate Lambdas would.
        await new Promise((resolve) => setTimeout(resolve, 5));
        return page;
      } finally {
        active--;
      }
    },
  });
  return {
    wrap,
    listedKeys,
    get maxActive() {
      return maxActive;
    },
  };
}

describe("adaptive listing", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  async function copyAll(keys: readonly string[], pageSize?: number) {
    const source = bucketName("skew-src");
    const destination = bucketName("skew-dst");
    await ensureBucket(emulator.s3, source);
    await ensureBucket(emulator.s3, destination);
    const objects = keys.map(seedObject);
    await putObjects(emulator.s3, source, objects);
    const watch = watchListing();
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: emulator.endpoint,
      pageSize,
      // Pieces of a page: these few thousand keys split as millions would at the default 20 pages.
      splitPartPages: 1,
      listConcurrency: 4,
      wrapStore: watch.wrap,
      logLevel: "SILENT",
    });
    const mismatches = await checkObjects(emulator.s3, destination, objects);
    return { result, mismatches, watch, objects };
  }

  it("splits 20,000 keys under one long prefix into many ranges listed in parallel", async () => {
    const keys = Array.from(
      { length: 20_000 },
      (_, i) => `very/long/shared/prefix/of/many/levels/object-${String(i).padStart(6, "0")}.dat`,
    );

    const { result, mismatches, watch } = await copyAll(keys);

    assert.equal(result.complete, true);
    assert.equal(result.listed, keys.length, "every key listed exactly once");
    assert.equal(result.copied, keys.length);
    assert.deepEqual(mismatches, []);
    assert.ok(result.rangesWithKeys >= 4, `expected at least 4 ranges with keys, got ${result.rangesWithKeys}`);
    assert.ok(watch.maxActive >= 2, `expected listings in parallel, saw at most ${watch.maxActive} at once`);
  });

  it("copies keys that all begin with one non-ASCII character", async () => {
    const keys = Array.from({ length: 3_000 }, (_, i) => `é${String(i).padStart(5, "0")}`);

    const { result, mismatches } = await copyAll(keys, 100);

    assert.equal(result.listed, keys.length);
    assert.equal(result.copied, keys.length);
    assert.deepEqual(mismatches, []);
    assert.ok(result.rangesWithKeys >= 4, `the one seeded range should have split, got ${result.rangesWithKeys}`);
  });

  it("copies keys that all lie above U+FFFF, where UTF-16 and UTF-8 orders disagree", async () => {
    const astral = ["\u{10000}", "\u{1f600}", "\u{1f4a9}", "\u{20000}", "\u{10fffd}"];
    const keys = astral.flatMap((c, j) => Array.from({ length: 300 }, (_, i) => `${c}${c}-${j}-${String(i).padStart(4, "0")}`));
    // Neighbours just below the astral planes, which JavaScript's `<` orders after them.
    keys.push("\uffff-bmp-max", "\ufffd-replacement", "\ue000-private");

    const { result, mismatches } = await copyAll(keys, 50);

    assert.equal(result.listed, keys.length);
    assert.equal(result.copied, keys.length);
    assert.deepEqual(mismatches, []);
  });

  it("lists keys sitting exactly on range bounds once", async () => {
    // The seeded bounds themselves, split points the numbered keys below produce, and their neighbours.
    const bounds = [...DEFAULT_SPLIT_POINTS, "n-01", "n-02", "n-1", "n-2"];
    const neighbours = bounds.flatMap((b) => [b, `${b}\u0000x`, `${b}\u0001`, `${b}0`, `${b}~`]);
    const numbered = Array.from({ length: 600 }, (_, i) => `n-${String(i).padStart(4, "0")}`);
    const keys = [...new Set([...neighbours.filter((k) => !k.includes("\u0000")), ...numbered])];

    const { result, mismatches } = await copyAll(keys, 50);

    assert.equal(result.listed, keys.length);
    assert.equal(result.copied, keys.length);
    assert.deepEqual(mismatches, []);
  });

  it("seeds a range per top-level prefix, awkward ones included, and lists every key once", async () => {
    // Prefixes the default points would put together ("a/" to "e/" in one range), and awkward ones.
    const prefixes = ["a/", "b/", "c/", "d/", "e/", "\u0001ctl/", " space/", "plus+/", "é/", "\u{1f600}/", "trailing space /"];
    const keys = prefixes.flatMap((p) => [p, ...Array.from({ length: 40 }, (_, i) => `${p}k-${String(i).padStart(3, "0")}`)]);
    keys.push("top-level-object", "a", "e0");
    const source = bucketName("seed-src");
    await ensureBucket(emulator.s3, source);
    await putObjects(emulator.s3, source, keys.map(seedObject));
    const job = { id: "seeding", source: { bucket: source, prefix: "" }, destination: { bucket: source, prefix: "" } };

    // Act: the seeds every job start makes (kickoff, the scheduled start, local).
    const { tasks } = await seedTasks(emulator.s3, job, undefined);
    const ranges = tasks.map((t) => t.range);

    // Assess: every key in exactly one seed range; each prefix's keys (its marker aside) in a range of their own.
    for (const key of keys) assert.equal(ranges.filter((r) => rangeContains(r, key)).length, 1, JSON.stringify(key));
    const homes = prefixes.map((p) => {
      const inner = keys.filter((k) => k.startsWith(p) && k !== p);
      const home = ranges.find((r) => rangeContains(r, inner[0] as string));
      for (const k of inner) assert.ok(home !== undefined && rangeContains(home, k), `${JSON.stringify(k)} with the rest of its prefix`);
      return home;
    });
    assert.equal(new Set(homes).size, prefixes.length, "no two prefixes share a seed range");

    // And a job over them copies every key once.
    const { result, mismatches } = await copyAll(keys);
    assert.equal(result.complete, true);
    assert.equal(result.listed, keys.length);
    assert.equal(result.copied, keys.length);
    assert.deepEqual(mismatches, []);
  });

  it("seeds a restarted start with the ranges it first had, whatever prefixes appeared since, and seeds at the default points when the prefixes cannot be listed", async () => {
    // Prepare: a source with two top-level prefixes, a ledger, and a list queue to seed.
    const source = bucketName("reseed-src");
    const ledgerBucket = bucketName("reseed-ledger");
    const destination = bucketName("reseed-dst");
    for (const b of [source, ledgerBucket, destination]) await ensureBucket(emulator.s3, b);
    await putObjects(emulator.s3, source, ["a/1", "b/1"].map(seedObject));
    const queue = await createQueue(emulator.sqs, bucketName("reseed-list"), {});
    const c = {
      s3: emulator.s3,
      sqs: emulator.sqs,
      ledger: new S3Ledger(emulator.s3, ledgerBucket),
      deployment: {
        stackName: "test",
        listQueueUrl: queue.url,
        listDlqUrl: queue.url,
        copyQueueUrl: queue.url,
        copyDlqUrl: queue.url,
        ledgerBucket,
        sourceBuckets: [],
        destinationBuckets: [],
      },
    };
    const seeded = async () => {
      const bodies: string[] = [];
      for (;;) {
        const out = await emulator.sqs.send(new ReceiveMessageCommand({ QueueUrl: queue.url, MaxNumberOfMessages: 10 }));
        if ((out.Messages ?? []).length === 0) return bodies.map((b) => JSON.stringify(parseListBody(b).range)).sort();
        for (const m of out.Messages ?? []) bodies.push(m.Body ?? "");
        await emulator.sqs.send(
          new DeleteMessageBatchCommand({
            QueueUrl: queue.url,
            Entries: (out.Messages ?? []).map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
          }),
        );
      }
    };

    // Act: a start, a prefix that appears, then the start again (a scheduled run's retry).
    const { spec } = await kickoff(c, { bucket: source, prefix: "" }, { bucket: destination, prefix: "" });
    const first = await seeded();
    await putObjects(emulator.s3, source, ["c/1"].map(seedObject));
    await reseed(c, spec.id);
    const again = await seedTasks(emulator.s3, jobRefOf(spec), undefined);

    // Assess: the spec holds the points; the retry sent the very same ranges; a fresh start would not have.
    assert.deepEqual(spec.seedPoints, [...DEFAULT_SPLIT_POINTS, "a/", "b/"]);
    assert.equal(first.length, spec.ranges);
    assert.deepEqual(await seeded(), first);
    assert.equal(again.tasks.length, spec.ranges + 1, "c/ would be a range of its own now");

    // And a source the delimited listing cannot read (here: no such bucket) seeds at the default points.
    const fallback = await seedTasks(emulator.s3, { ...jobRefOf(spec), source: { bucket: "no-such-bucket-seed", prefix: "" } }, undefined);
    assert.deepEqual(fallback.seedPoints, [...DEFAULT_SPLIT_POINTS]);
  });
});
