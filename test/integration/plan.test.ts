/** `npm run plan` against the emulator: the figures of a bucket whose every object and listing range is known. */
import assert from "node:assert/strict";
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  CompleteMultipartUploadCommand,
  CreateMultipartUploadCommand,
  HeadObjectCommand,
  PutObjectCommand,
  type S3Client,
  UploadPartCommand,
} from "@aws-sdk/client-s3";
import { SOURCE_ETAG_METADATA } from "../../lambdas/core/compare.ts";
import { DEFAULT_PRICES_FILE } from "../../scripts/lib/plan.ts";
import { awkwardKeys, ensureBucket, generatedKeys, putObjects, type SeedObject, seedObject } from "../../scripts/lib/seed.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { assertOneLineError, lastJson, runOperator } from "../support/localStack.ts";

const MiB = 1024 * 1024;

const object = (key: string, size: number): SeedObject => ({
  key,
  body: new Uint8Array(size).fill(0x61),
  contentType: "application/octet-stream",
  metadata: {},
});

/** An object uploaded in two parts (5 MiB and 1 KiB): its ETag has the multipart form "…-2". */
async function putByParts(s3: S3Client, bucket: string, key: string, metadata?: Record<string, string>): Promise<void> {
  const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: key, Metadata: metadata }));
  const parts = [];
  for (const [n, size] of [
    [1, 5 * MiB],
    [2, 1024],
  ] as const) {
    const out = await s3.send(new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: Buffer.alloc(size, n) }));
    parts.push({ PartNumber: n, ETag: out.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
}

describe("npm run plan", () => {
  let emulator: TestEmulator;
  let bucket: string;
  let dir: string;

  before(async () => {
    emulator = await startTestEmulator();
    dir = mkdtempSync(join(tmpdir(), "plan-test-"));
    bucket = bucketName("plan-src");
    await ensureBucket(emulator.s3, bucket);
    // Listing ranges, as the kickoff seeds them: the 11 of the default points and, its top-level prefixes
    // being " space/", "big/", "data/", "mp/" and "~tilde/", one more for each (16); 11 of them are empty.
    await putObjects(emulator.s3, bucket, [
      ...Array.from({ length: 50 }, (_, i) => object(` space/${String(i).padStart(4, "0")}`, 0)),
      ...Array.from({ length: 1_200 }, (_, i) => object(`data/${String(i).padStart(5, "0")}.json`, 100)),
      ...Array.from({ length: 250 }, (_, i) => object(`~tilde/${String(i).padStart(4, "0")}.bin`, 2_000)),
    ]);
    for (const key of ["big/a.bin", "big/b.bin"]) {
      await emulator.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: Buffer.alloc(9 * MiB, 7) }));
    }
    await putByParts(emulator.s3, bucket, "mp/c.bin");
  });

  after(async () => {
    await emulator.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  const planArgs = ["--multipart-threshold", "8MiB", "--part-size", "5MiB", "--json", "--quiet"];

  it("reports the objects, sizes and requests of a listed bucket exactly", async () => {
    const run = await runOperator("plan", ["--source", `s3://${bucket}`, ...planArgs], emulator.endpoint);

    assert.equal(run.code, 0, run.stderr);
    const plan = lastJson(run);
    assert.equal(plan.objects, 1_503);
    assert.equal(plan.bytes, 1_200 * 100 + 250 * 2_000 + 2 * 9 * MiB + 5 * MiB + 1024);
    assert.deepEqual(plan.sizeHistogram, [
      { from: 0, below: 1, objects: 50, bytes: 0 },
      { from: 64, below: 128, objects: 1_200, bytes: 120_000 },
      { from: 1024, below: 2048, objects: 250, bytes: 500_000 },
      { from: 4 * MiB, below: 8 * MiB, objects: 1, bytes: 5 * MiB + 1024 },
      { from: 8 * MiB, below: 16 * MiB, objects: 2, bytes: 18 * MiB },
    ]);
    // Above 8 MiB: the two 9 MiB objects; and mp/c.bin for its multipart ETag. Two 5 MiB parts each.
    assert.equal(plan.multipartObjects, 3);
    assert.equal(plan.parts, 6);
    // Messages of 100 keys, cut per listing page as the list function cuts them:
    // "data/" pages 1,000 + 200 keys -> 10 + 2; "big/" 1; " space/" 1; "mp/" 1; "~tilde/" 3. 18 messages, 2 copy invocations.
    assert.equal(plan.copyMessages, 18);
    assert.deepEqual(plan.invocations, { list: 16, copy: 2 });
    assert.deepEqual(plan.requests, {
      s3: {
        list: 18, // the top-level prefixes, a page for each of the 16 ranges, and a second for the 1,200 keys of "data/"
        get: 0,
        copy: 1_500,
        head: 3,
        tagging: 3,
        createUpload: 3,
        uploadPartCopy: 6,
        completeUpload: 3,
        ledgerPut: 2 + 16 + 1, // copy invocations, list invocations, the spec
      },
      // One SendMessageBatch per page with keys (6), two for the 16 seeds; a receive and a delete per invocation.
      sqs: { send: 6 + 2, receive: 2 + 16, delete: 2 + 16 },
    });
    const cost = plan.cost as Record<string, number>;
    assert.ok(cost.total !== undefined && cost.total > 0 && cost.perMillionObjects !== undefined);
    assert.equal(typeof plan.projectedSeconds, "number");
    assert.equal(typeof plan.bottleneck, "string");
    assert.equal(typeof plan.lambdaGbSeconds, "number");
    const batchOperations = plan.batchOperations as Record<string, number>;
    assert.equal(batchOperations.objectFee, 0.001503);
    assert.match(run.stdout, /^plan {11}s3:\/\/plan-src-[^\n]*, listed \(16 ranges\)\n/);
    // The S3 rates' seconds say they assume S3's growth rule (lambdas/core/s3Scaling.ts, the simulator's).
    assert.match(run.stdout, /\n {15}S3 rates assume a prefix kept busy doubles its partitions every 300 s, up to 64 \(/);
    assert.equal(plan.s3PartitionsAtEnd, 1);
    // Without --delete, nothing of a deletion plan appears.
    assert.deepEqual([plan.deletions, plan.compared, plan.destination], [undefined, undefined, undefined]);
    assert.doesNotMatch(run.stdout, /deletions/);
  });

  it("lists the destination too in sync mode", async () => {
    const run = await runOperator("plan", ["--source", `s3://${bucket}`, "--sync", ...planArgs], emulator.endpoint);

    assert.equal(run.code, 0, run.stderr);
    const requests = lastJson(run).requests as { s3: Record<string, number> };
    assert.equal(requests.s3.list, 35); // the top-level prefixes, the 17 pages of the source, and as many of the destination
    assert.equal(requests.s3.copy, 1_500);
  });

  describe("sync --delete", () => {
    const awkward = awkwardKeys();
    // The source P/ holds every other awkward key, 30 generated keys and one key the patterns leave out.
    const kept = awkward.filter((_, i) => i % 2 === 0);
    const gone = awkward.filter((_, i) => i % 2 === 1);
    const generated = generatedKeys(30, "g/");
    let shared: string;

    before(async () => {
      shared = bucketName("plan-del");
      await ensureBucket(emulator.s3, shared);
      // A body derives from the key below the prefix: the same key under P/ and Q/ is the same object.
      const at = (prefix: string, keys: readonly string[], offset = 0) =>
        keys.map((k, i) => ({ ...seedObject(k, i + offset), key: `${prefix}${k}` }));
      await putObjects(emulator.s3, shared, [...at("P/", kept), ...at("P/", generated), ...at("P/", ["skip/in-source"])]);
      // The destination Q/: the same awkward keys with their bodies (identical) and those the source lacks;
      // the first 20 generated keys identical, 5 with other bodies, the last 5 missing.
      await putObjects(emulator.s3, shared, [
        ...at("Q/", kept),
        ...at("Q/", gone, 1_000),
        ...at("Q/", generated.slice(0, 20)),
        ...at("Q/", generated.slice(20, 25), 1_000),
        // A ledger's record in the destination selection (never deleted), and a key outside the patterns.
        ...at("Q/", ["jobs/abc/spec.json", "skip/only-in-destination"]),
      ]);
      // Copies by parts: ETags of the multipart form that only a HEAD of the destination settles. Our copy of
      // this very source version (its ETag in the copier's metadata) is identical; a stale one is copied.
      const parts = Buffer.concat([Buffer.alloc(5 * MiB, 1), Buffer.alloc(1024, 2)]);
      for (const key of ["P/mp/ours.bin", "P/mp/stale.bin"])
        await emulator.s3.send(new PutObjectCommand({ Bucket: shared, Key: key, Body: parts }));
      const head = await emulator.s3.send(new HeadObjectCommand({ Bucket: shared, Key: "P/mp/ours.bin" }));
      await putByParts(emulator.s3, shared, "Q/mp/ours.bin", { [SOURCE_ETAG_METADATA]: head.ETag ?? "" });
      await putByParts(emulator.s3, shared, "Q/mp/stale.bin", { [SOURCE_ETAG_METADATA]: '"0123456789abcdef0123456789abcdef"' });
    });

    const deleteArgs = () => [
      "--source",
      `s3://${shared}/P/`,
      "--dest",
      `s3://${shared}/Q/`,
      "--sync",
      "--delete",
      "--exclude",
      "skip/**",
      "--json",
      "--quiet",
    ];

    it("counts the keys only the destination has, awkward ones included, and leaves a ledger's records alone", async () => {
      const run = await runOperator("plan", deleteArgs(), emulator.endpoint);

      assert.equal(run.code, 0, run.stderr);
      const plan = lastJson(run);
      assert.equal(plan.objects, kept.length + generated.length + 2); // skip/in-source left out by --exclude
      assert.equal(plan.destination, `s3://${shared}/Q/`);
      assert.deepEqual(plan.compared, { identical: kept.length + 20 + 1, toCopy: 10 + 1 });
      assert.deepEqual(plan.deletions, {
        keys: gone.length,
        protected: 1,
        maxDelete: null,
        refused: false,
        requests: { head: gone.length, delete: gone.length },
        // A HEAD each at $0.0004 per 1,000 and a free DeleteObject, rounded to 6 places as every cost of the plan.
        cost: Math.round(((gone.length * 0.0004) / 1000) * 1e6) / 1e6,
      });
      // The existing figures stay as a plain --sync plan reports them: every selected key counted as copied.
      assert.equal((plan.requests as { s3: Record<string, number> }).s3.copy, kept.length + generated.length + 2);
      assert.match(
        run.stdout,
        new RegExp(
          `\\ndeletions {6}${gone.length} keys only in the destination \\(1 ledger record left alone\\): ${gone.length} HEAD \\+ ${gone.length} DeleteObject \\(free\\) \\$`,
        ),
      );
    });

    it("says the job would delete none past --max-delete, and deletes up to it", async () => {
      const below = await runOperator("plan", [...deleteArgs(), "--max-delete", String(gone.length - 1)], emulator.endpoint);

      assert.equal(below.code, 0, below.stderr);
      assert.deepEqual(lastJson(below).deletions, {
        keys: gone.length,
        protected: 1,
        maxDelete: gone.length - 1,
        refused: true,
        requests: { head: 0, delete: 0 },
        cost: 0,
      });
      assert.match(
        below.stdout,
        new RegExp(
          `\\ndeletions {6}${gone.length} keys only in the destination, more than --max-delete ${gone.length - 1}: the job would delete none`,
        ),
      );

      const at = await runOperator("plan", [...deleteArgs(), "--max-delete", String(gone.length)], emulator.endpoint);
      assert.equal(at.code, 0, at.stderr);
      const deletions = lastJson(at).deletions as Record<string, unknown>;
      assert.deepEqual(
        [deletions.refused, deletions.maxDelete, deletions.requests],
        [false, gone.length, { head: gone.length, delete: gone.length }],
      );
    });

    it("refuses --delete without --sync or --dest, and --max-delete without --delete, with one line and exit 2", async () => {
      const dest = ["--dest", `s3://${shared}/Q/`];
      const noSync = await runOperator("plan", ["--source", `s3://${shared}/P/`, ...dest, "--delete"], emulator.endpoint);
      assert.equal(noSync.code, 2);
      assertOneLineError(noSync, /--delete needs --sync/);
      const noDest = await runOperator("plan", ["--source", `s3://${shared}/P/`, "--sync", "--delete"], emulator.endpoint);
      assert.equal(noDest.code, 2);
      assertOneLineError(noDest, /--delete needs --dest s3:\/\/BUCKET\[\/PREFIX\]/);
      const maxOnly = await runOperator(
        "plan",
        ["--source", `s3://${shared}/P/`, ...dest, "--sync", "--max-delete", "3"],
        emulator.endpoint,
      );
      assert.equal(maxOnly.code, 2);
      assertOneLineError(maxOnly, /--max-delete needs --delete/);
    });
  });

  it("plans the rows of a Batch Operations manifest, HEADing each for its size", async () => {
    // Rows: two objects of the bucket, one under the prefix that does not exist, one in another bucket.
    const manifest = ["data/00001.json", "big/a.bin", "data/no-such-key"].map((k) => `${bucket},${k}`).join("\n");
    await emulator.s3.send(
      new PutObjectCommand({ Bucket: bucket, Key: "manifests/m.csv", Body: `${manifest}\nother-bucket,data/00002.json\n` }),
    );

    const run = await runOperator(
      "plan",
      ["--source", `s3://${bucket}`, "--manifest", `s3://${bucket}/manifests/m.csv`, ...planArgs],
      emulator.endpoint,
    );

    assert.equal(run.code, 0, run.stderr);
    const plan = lastJson(run);
    assert.deepEqual([plan.rows, plan.objects, plan.bytes, plan.vanished, plan.skipped], [4, 2, 100 + 9 * MiB, 1, 1]);
    assert.deepEqual(plan.requests, {
      // No listing: one GET of the one chunk; a HEAD of the manifest, of each of its 3 rows, of the object by parts.
      // Ledger: the copy invocation, the list invocation, the page's vanished key, the spec.
      s3: { list: 0, get: 1, copy: 1, head: 1 + 3 + 1, tagging: 1, createUpload: 1, uploadPartCopy: 2, completeUpload: 1, ledgerPut: 4 },
      sqs: { send: 1 + 1, receive: 2, delete: 2 },
    });
  });

  it("refuses bad arguments with one line and exit 2", async () => {
    const zero = await runOperator("plan", ["--source", `s3://${bucket}`, "--prefixes", "0"], emulator.endpoint);
    assert.equal(zero.code, 2);
    assertOneLineError(zero, /--prefixes must be a positive integer, got "0"/);
    const unknown = await runOperator("plan", ["--source", `s3://${bucket}`, "--bogus"], emulator.endpoint);
    assert.equal(unknown.code, 2);
    assertOneLineError(unknown, /bogus/);
    const missing = await runOperator("plan", [], emulator.endpoint);
    assert.equal(missing.code, 2);
    assertOneLineError(missing, /--source s3:\/\/BUCKET\[\/PREFIX\] is required/);
  });

  it("refuses a missing bucket with one line and exit 3", async () => {
    const run = await runOperator("plan", ["--source", "s3://no-such-bucket-plan"], emulator.endpoint);
    assert.equal(run.code, 3);
    assertOneLineError(run, /^error: source bucket "no-such-bucket-plan" does not exist$/);
  });

  it("refuses a malformed price table with one line naming the field", async () => {
    const table = JSON.parse(readFileSync(DEFAULT_PRICES_FILE, "utf8")) as { lambda: Record<string, unknown> };
    table.lambda.perGbSecond = -1;
    const file = join(dir, "prices.json");
    writeFileSync(file, JSON.stringify(table));

    const run = await runOperator("plan", ["--source", `s3://${bucket}`, "--prices", file], emulator.endpoint);

    assert.equal(run.code, 3);
    assertOneLineError(run, /price table .*prices\.json is invalid at lambda\.perGbSecond: /);
  });
});
