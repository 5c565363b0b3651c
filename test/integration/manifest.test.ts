/**
 * Jobs that take their keys from a manifest, against the emulator over HTTP:
 * an S3 Batch Operations CSV, an S3 Inventory report with gzip data files,
 * and short list deadlines that make chunks continue themselves. The
 * manifests live in a bucket of their own, as they would on AWS.
 */
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { decodeS3ListKey, encodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import type { ObjectStore } from "../../lambdas/core/ports.ts";
import { connect, jobStatus } from "../../scripts/lib/operator.ts";
import { awkwardKeys, checkObjects, ensureBucket, generatedKeys, putObjects, type SeedObject, seedObject } from "../../scripts/lib/seed.ts";
import { runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { lastJson, runOperator, startTestStack, type TestStack, waitFor } from "../support/localStack.ts";

async function listAll(s3: S3Client, bucket: string, prefix = ""): Promise<{ key: string; size: number; etag: string }[]> {
  const out: { key: string; size: number; etag: string }[] = [];
  let token: string | undefined;
  do {
    const page = await s3.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token, EncodingType: "url" }));
    for (const c of page.Contents ?? [])
      if (c.Key !== undefined) out.push({ key: decodeS3ListKey(c.Key), size: c.Size ?? 0, etag: c.ETag ?? "" });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/** A Batch Operations manifest row; keys form-encoded as S3 writes them, or percent-encoded as encodeURIComponent does. */
function batchRow(bucket: string, key: string, i: number): string {
  const encoded = i % 2 === 0 ? encodeS3ListKey(key) : encodeURIComponent(key);
  // Some rows quoted, as spreadsheet tools write them.
  return i % 3 === 0 ? `"${bucket}","${encoded}"` : `${bucket},${encoded}`;
}

/** Counts copies per source key, to prove each was copied exactly once. */
function countingCopies(counts: Map<string, number>): (store: ObjectStore) => ObjectStore {
  return (store) => ({
    listPage: (r) => store.listPage(r),
    copy: async (r) => {
      counts.set(r.sourceKey, (counts.get(r.sourceKey) ?? 0) + 1);
      await store.copy(r);
    },
  });
}

describe("manifest jobs on the emulator", () => {
  let emulator: TestEmulator;

  before(async () => {
    emulator = await startTestEmulator();
  });

  after(async () => {
    await emulator.stop();
  });

  async function buckets(keys: readonly string[]) {
    const source = bucketName("mf-src");
    const destination = bucketName("mf-dst");
    const manifests = bucketName("mf-lists");
    for (const b of [source, destination, manifests]) await ensureBucket(emulator.s3, b);
    const objects = [...new Set(keys)].map(seedObject);
    await putObjects(emulator.s3, source, objects, 64);
    return { source, destination, manifests, objects };
  }

  async function put(bucket: string, key: string, body: string | Uint8Array) {
    await emulator.s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body }));
  }

  it("copies exactly the awkward keys a Batch Operations CSV names, and reports a named key that does not exist as vanished", async () => {
    // Prepare
    const all = awkwardKeys();
    const { source, destination, manifests, objects } = await buckets(all);
    const named = objects.filter((_, i) => i % 3 !== 1);
    const rows = [
      ...named.map((o, i) => batchRow(source, o.key, i)),
      batchRow(source, "no such key, ever", 0),
      batchRow("some-other-bucket", named[0]?.key ?? "x", 1),
    ];
    await put(manifests, "lists/keys.csv", `${rows.join("\r\n")}\r\n`);

    // Act: small chunks, so rows are cut across many Range GETs.
    const result = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      manifest: { bucket: manifests, key: "lists/keys.csv", chunkBytes: 300 },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.complete, true);
    assert.ok(result.ranges > 5, `expected the manifest read in many chunks, got ${result.ranges}`);
    assert.equal(result.copied, named.length);
    assert.deepEqual(result.vanishedKeys, ["no such key, ever"]);
    assert.equal(result.vanished, 1);
    assert.equal(result.skipped, 1);
    assert.equal(result.failed, 0);
    assert.deepEqual(await checkObjects(emulator.s3, destination, named, (k) => `copy/${k}`), []);
    assert.deepEqual(
      (await listAll(emulator.s3, destination)).map((o) => o.key),
      sortKeys(named.map((o) => `copy/${o.key}`)),
    );
  });

  it("copies every key an S3 Inventory report lists across two gzip data files, under the source prefix only", async () => {
    // Prepare
    const keys = [...awkwardKeys().map((k) => `in/${k}`), ...generatedKeys(600, "in/"), "out/not-selected"];
    const { source, destination, manifests, objects } = await buckets(keys);
    const listed = await listAll(emulator.s3, source);
    const csv = (part: typeof listed) =>
      part
        .map((o) =>
          [source, encodeS3ListKey(o.key), String(o.size), "2026-01-01T00:00:00.000Z", o.etag.replace(/"/g, ""), "STANDARD"]
            .map((f) => `"${f}"`)
            .join(","),
        )
        .join("\n");
    const half = Math.ceil(listed.length / 2);
    const files = [listed.slice(0, half), listed.slice(half)].map((part, i) => ({
      key: `inv/${source}/data/part-${i}.csv.gz`,
      body: gzipSync(csv(part)),
    }));
    for (const f of files) await put(manifests, f.key, f.body);
    const manifest = {
      sourceBucket: source,
      destinationBucket: `arn:aws:s3:::${manifests}`,
      version: "2016-11-30",
      creationTimestamp: "1767225600000",
      fileFormat: "CSV",
      fileSchema: "Bucket, Key, Size, LastModifiedDate, ETag, StorageClass",
      files: files.map((f) => ({ key: f.key, size: f.body.length, MD5checksum: "unused" })),
    };
    await put(manifests, `inv/${source}/2026-01-01T00-00Z/manifest.json`, JSON.stringify(manifest));
    const expected = objects.filter((o) => o.key.startsWith("in/"));

    // Act
    const result = await runLocalJob({
      source: { bucket: source, prefix: "in/" },
      destination: { bucket: destination, prefix: "restored/" },
      manifest: { bucket: manifests, key: `inv/${source}/2026-01-01T00-00Z/manifest.json` },
      endpoint: emulator.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(result.complete, true);
    assert.equal(result.listed, expected.length);
    assert.equal(result.copied, expected.length);
    assert.equal(result.skipped, 1);
    assert.equal(result.failed, 0);
    assert.equal(result.vanished, 0);
    assert.deepEqual(await checkObjects(emulator.s3, destination, expected, (k) => `restored/${k.slice("in/".length)}`), []);
    assert.equal((await listAll(emulator.s3, destination)).length, expected.length);
  });

  it("continues manifest chunks through many short invocations and still copies every key exactly once", async () => {
    // Prepare
    const { source, manifests, objects } = await buckets([...awkwardKeys(), ...generatedKeys(1_200)]);
    await put(manifests, "big.csv", objects.map((o, i) => batchRow(source, o.key, i)).join("\n"));
    const listed = await listAll(emulator.s3, source);
    const gzRows = listed.map((o) => `${source},${encodeS3ListKey(o.key)},${o.size},${o.etag.replace(/"/g, "")}`).join("\n");
    const gz = gzipSync(gzRows);
    await put(manifests, "inv/data.csv.gz", gz);
    await put(
      manifests,
      "inv/manifest.json",
      JSON.stringify({ fileFormat: "CSV", fileSchema: "Bucket, Key, Size, ETag", files: [{ key: "inv/data.csv.gz", size: gz.length }] }),
    );

    for (const manifest of [
      { bucket: manifests, key: "big.csv", chunkBytes: 16 * 1024 },
      { bucket: manifests, key: "inv/manifest.json" },
    ]) {
      const copies = new Map<string, number>();
      const target = bucketName("mf-dst");
      await ensureBucket(emulator.s3, target);

      // Act
      const result = await runLocalJob({
        source: { bucket: source, prefix: "" },
        destination: { bucket: target, prefix: "" },
        manifest,
        endpoint: emulator.endpoint,
        pageSize: 25,
        // The safety margin is the whole timeout: each invocation continues after its first page however
        // fast the machine (with 380 ms, a quick one listed many pages in one and the count below varied).
        listTimeoutMs: 400,
        listSafetyMs: 400,
        wrapStore: countingCopies(copies),
        logLevel: "SILENT",
      });

      // Assess
      assert.equal(result.complete, true, manifest.key);
      assert.ok(result.ranges > 20, `expected many continued portions for ${manifest.key}, got ${result.ranges}`);
      assert.equal(result.listed, objects.length);
      assert.equal(result.copied, objects.length);
      assert.equal(result.failed, 0);
      assert.deepEqual(sortKeys([...copies.keys()]), sortKeys(objects.map((o) => o.key)));
      assert.deepEqual(
        [...copies].filter(([, n]) => n !== 1),
        [],
      );
      assert.deepEqual(await checkObjects(emulator.s3, target, objects), []);
    }
  });

  describe("from the command line", () => {
    let dir: string;
    let t: TestStack;

    before(async () => {
      dir = mkdtempSync(join(tmpdir(), "s3-fanout-manifest-"));
      t = await startTestStack(emulator, dir);
    });

    after(async () => {
      await t.stop();
      rmSync(dir, { recursive: true, force: true });
    });

    async function smallJob(): Promise<{ source: string; destination: string; manifests: string; named: SeedObject[] }> {
      const { source, destination, manifests, objects } = await buckets(["a b", "plus+sign", "dir/x", "unnamed"]);
      const named = objects.filter((o) => o.key !== "unnamed");
      await put(manifests, "m.csv", `${named.map((o, i) => batchRow(source, o.key, i)).join("\n")}\n${source},missing\n`);
      return { source, destination, manifests, named };
    }

    it("npm run local -- --manifest copies the keys the manifest names and exits 0 with vanished keys", async () => {
      // Prepare
      const { source, destination, manifests, named } = await smallJob();

      // Act
      const run = await runOperator(
        "local",
        [
          "--source",
          `s3://${source}`,
          "--dest",
          `s3://${destination}/c/`,
          "--manifest",
          `s3://${manifests}/m.csv`,
          "--endpoint",
          emulator.endpoint,
          "--json",
          "--quiet",
        ],
        "",
      );

      // Assess
      assert.equal(run.code, 0, run.stderr);
      const json = lastJson(run);
      assert.equal(json.complete, true);
      assert.equal(json.copied, named.length);
      assert.equal(json.vanished, 1);
      assert.deepEqual(await checkObjects(emulator.s3, destination, named, (k) => `c/${k}`), []);
    });

    it("npm run local -- --manifest names a manifest that does not exist in one line and exits 3", async () => {
      const { source, destination, manifests } = await smallJob();
      const run = await runOperator(
        "local",
        ["--source", `s3://${source}`, "--dest", `s3://${destination}`, "--manifest", `s3://${manifests}/nope.csv`, "--quiet"],
        emulator.endpoint,
      );
      assert.equal(run.code, 3, run.stderr);
      assert.match(run.stderr, /^error: manifest file s3:\/\/.*\/nope\.csv does not exist$/m);
    });

    it("npm run kickoff -- --manifest seeds the manifest's chunks and the stack copies the keys it names", async () => {
      // Prepare
      const { source, destination, manifests, named } = await smallJob();

      // Act
      const kicked = await runOperator(
        "kickoff",
        [
          "--source",
          `s3://${source}`,
          "--dest",
          `s3://${destination}`,
          "--manifest",
          `s3://${manifests}/m.csv`,
          "--manifest-chunk",
          "16",
          "--outputs",
          t.outputsFile,
          "--json",
        ],
        emulator.endpoint,
      );

      // Assess
      assert.equal(kicked.code, 0, kicked.stderr);
      const { jobId, ranges } = lastJson(kicked);
      assert.ok(Number(ranges) > 1, `chunks seeded: ${String(ranges)}`);
      const c = await connect({ outputs: t.outputsFile, endpoint: emulator.endpoint });
      try {
        const spec = await c.ledger.readSpec(String(jobId));
        assert.deepEqual(spec?.manifest, { bucket: manifests, key: "m.csv", format: "csv", files: 1 });
        const done = await waitFor("the manifest job to complete", async () => {
          const s = await jobStatus(c, String(jobId));
          return s.complete ? s : undefined;
        });
        assert.equal(done.copied, named.length);
        assert.equal(done.vanished, 1);
        assert.equal(done.failed, 0);
      } finally {
        c.s3.destroy();
        c.sqs.destroy();
      }
      assert.deepEqual(await checkObjects(emulator.s3, destination, named), []);
    });
  });
});
