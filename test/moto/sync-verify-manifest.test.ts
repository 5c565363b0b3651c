/**
 * Sync, verify and a manifest job against moto's server (the second
 * emulator, issue 15): the merge-join of two real listings, the verify
 * command as an operator runs it, and keys read from a Batch Operations CSV
 * and an S3 Inventory report by Range GETs, on an implementation the project did not patch.
 */
import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { gzipSync } from "node:zlib";
import { DeleteObjectCommand, ListObjectsV2Command, PutObjectCommand } from "@aws-sdk/client-s3";
import { S3Ledger } from "../../lambdas/aws/s3Ledger.ts";
import { decodeS3ListKey, encodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { sortKeys } from "../../lambdas/core/keyOrder.ts";
import { checkObjects, ensureBucket, generatedKeys, putObjects, type SeedObject, seedObject } from "../../scripts/lib/seed.ts";
import { LOCAL_LEDGER_BUCKET, type LocalJobOptions, runLocalJob } from "../../scripts/local/job.ts";
import { bucketName, type TestEmulator } from "../support/emulator.ts";
import { MiB, putLarge } from "../support/largeObject.ts";
import { lastJson, listKeys, runOperator, verifyDifferences } from "../support/localStack.ts";
import { motoKeys, motoTier, startMoto } from "../support/moto.ts";

const tier = await motoTier();

describe("sync, verify and manifests on moto", { skip: tier.skip }, () => {
  let moto: TestEmulator;

  before(async () => {
    moto = await startMoto(tier.server ?? "");
  });

  after(async () => {
    await moto?.stop();
  });

  async function seeded(objects: readonly SeedObject[]) {
    const source = bucketName("moto-sync-src");
    const destination = bucketName("moto-sync-dst");
    await ensureBucket(moto.s3, source);
    await ensureBucket(moto.s3, destination);
    await putObjects(moto.s3, source, objects, 16);
    return { source, destination };
  }

  it("sync copies nothing over an unchanged copy, then exactly what changed; verify finds each difference", async () => {
    // Prepare: awkward keys, a few pages of small ones, and one object a copy by parts made.
    const small = [...motoKeys(), ...generatedKeys(400, "g/")].map(seedObject);
    const { source, destination } = await seeded(small);
    await putLarge(moto.s3, source, "big/video.mp4", 12 * MiB);
    const allKeys = sortKeys([...small.map((o) => o.key), "big/video.mp4"]);
    const job: LocalJobOptions = {
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "copy/" },
      endpoint: moto.endpoint,
      pageSize: 100,
      logLevel: "SILENT",
      // Parts of 6 MiB where the source has 5 MiB ones: the ETags differ, so the recorded source ETag decides.
      jobOptions: { sync: true, multipartThreshold: 8 * MiB, partSize: 6 * MiB },
    };
    const first = await runLocalJob(job);
    assert.equal(first.copied, allKeys.length, JSON.stringify(first.failures.slice(0, 3)));
    const verifyArgs = ["--source", `s3://${source}`, "--dest", `s3://${destination}/copy/`, "--json"];
    const clean = await runOperator("verify", verifyArgs, moto.endpoint);

    // Act: sync again, nothing changed.
    const again = await runLocalJob(job);

    // Assess
    assert.equal(clean.code, 0, clean.stderr);
    assert.equal(lastJson(clean).differences, 0);
    assert.equal(lastJson(clean).matching, allKeys.length);
    assert.deepEqual(
      { complete: again.complete, listed: again.listed, copied: again.copied, skipped: again.skipped, failed: again.failed },
      { complete: true, listed: allKeys.length, copied: 0, skipped: allKeys.length, failed: 0 },
    );
    const named = (await new S3Ledger(moto.s3, LOCAL_LEDGER_BUCKET).readRecords(again.jobId)).portions.flatMap((p) => p.identical ?? []);
    assert.deepEqual(sortKeys(named), allKeys, "every key named identical exactly once");

    // Prepare: change both sides.
    const changed = [small[5]?.key ?? "", small[300]?.key ?? ""];
    for (const key of changed) await moto.s3.send(new PutObjectCommand({ Bucket: source, Key: key, Body: `changed ${key}` }));
    const removed = small[20]?.key ?? "";
    await moto.s3.send(new DeleteObjectCommand({ Bucket: destination, Key: `copy/${removed}` }));
    const added = seedObject("g/new after the first sync \u{1f600}", 99_999);
    await putObjects(moto.s3, source, [added]);
    const extra = "copy/only-in-destination";
    await moto.s3.send(new PutObjectCommand({ Bucket: destination, Key: extra, Body: "x" }));

    // Act
    const dirty = await runOperator("verify", verifyArgs, moto.endpoint);
    const third = await runLocalJob(job);
    const after = await runOperator("verify", verifyArgs, moto.endpoint);

    // Assess: verify names every difference; the sync copies exactly those and leaves the extra key alone.
    assert.equal(dirty.code, 1, dirty.stderr);
    assert.deepEqual(
      verifyDifferences(dirty.stdout)
        .map(([kind, key]) => `${kind.split(" ")[0]} ${key}`)
        .sort(),
      [...changed.map((k) => `different ${k}`), `extra only-in-destination`, `missing ${added.key}`, `missing ${removed}`].sort(),
    );
    assert.equal(third.complete, true);
    const differing = new Set([...changed, removed, added.key]);
    assert.equal(third.copied, differing.size);
    assert.equal(third.skipped, allKeys.length + 1 - differing.size);
    const copiedKeys = [...(await new S3Ledger(moto.s3, LOCAL_LEDGER_BUCKET).readRecords(third.jobId)).outcomes.values()].flatMap(
      (o) => o.copiedKeys ?? [],
    );
    assert.deepEqual(sortKeys(copiedKeys), sortKeys([...differing]));
    assert.equal(lastJson(after).differences, 1, "only the extra destination key differs");
  });

  it("sync --delete removes what the source no longer has, and nothing else", async () => {
    // Prepare
    const objects = [...motoKeys(), ...generatedKeys(120, "g/")].map(seedObject);
    const { source, destination } = await seeded(objects);
    const job: LocalJobOptions = {
      source: { bucket: source, prefix: "" },
      destination: { bucket: destination, prefix: "" },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    };
    const first = await runLocalJob(job);
    assert.equal(first.copied, objects.length);
    const gone = objects.filter((_, i) => i % 4 === 1).map((o) => o.key);
    for (const key of gone) await moto.s3.send(new DeleteObjectCommand({ Bucket: source, Key: key }));

    // Act
    const synced = await runLocalJob({ ...job, jobOptions: { sync: true, delete: true } });

    // Assess
    assert.equal(synced.complete, true);
    assert.equal(synced.deleted, gone.length);
    assert.equal(synced.copied, 0);
    assert.equal(synced.failed, 0);
    const kept = objects.filter((o) => !gone.includes(o.key));
    assert.deepEqual(await listKeys(moto.s3, destination), sortKeys(kept.map((o) => o.key)));
    assert.deepEqual(await checkObjects(moto.s3, destination, kept), []);
  });

  it("copies exactly the keys a Batch Operations CSV and an S3 Inventory report name, read in many chunks", async () => {
    // Prepare: the manifests in a bucket of their own, as on AWS.
    const objects = [...motoKeys(), ...generatedKeys(200, "g/")].map(seedObject);
    const { source } = await seeded(objects);
    const manifests = bucketName("moto-mf");
    await ensureBucket(moto.s3, manifests);
    const named = objects.filter((_, i) => i % 3 !== 1);
    const rows = [
      ...named.map((o, i) => (i % 2 === 0 ? `${source},${encodeS3ListKey(o.key)}` : `"${source}","${encodeURIComponent(o.key)}"`)),
    ];
    rows.push(`${source},${encodeS3ListKey("no such key, ever")}`);
    await moto.s3.send(new PutObjectCommand({ Bucket: manifests, Key: "lists/keys.csv", Body: `${rows.join("\r\n")}\r\n` }));
    const listed: { key: string; size: number; etag: string }[] = [];
    let token: string | undefined;
    do {
      const page = await moto.s3.send(new ListObjectsV2Command({ Bucket: source, ContinuationToken: token, EncodingType: "url" }));
      for (const c of page.Contents ?? [])
        if (c.Key !== undefined) listed.push({ key: decodeS3ListKey(c.Key), size: c.Size ?? 0, etag: c.ETag ?? "" });
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
    } while (token);
    const gz = gzipSync(listed.map((o) => `"${source}","${encodeS3ListKey(o.key)}","${o.size}","${o.etag.replace(/"/g, "")}"`).join("\n"));
    await moto.s3.send(new PutObjectCommand({ Bucket: manifests, Key: "inv/data/part-0.csv.gz", Body: gz }));
    const inventory = {
      fileFormat: "CSV",
      fileSchema: "Bucket, Key, Size, ETag",
      files: [{ key: "inv/data/part-0.csv.gz", size: gz.length }],
    };
    await moto.s3.send(new PutObjectCommand({ Bucket: manifests, Key: "inv/manifest.json", Body: JSON.stringify(inventory) }));
    const csvTarget = bucketName("moto-mf-csv");
    const inventoryTarget = bucketName("moto-mf-inv");
    await ensureBucket(moto.s3, csvTarget);
    await ensureBucket(moto.s3, inventoryTarget);

    // Act
    const fromCsv = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: csvTarget, prefix: "copy/" },
      manifest: { bucket: manifests, key: "lists/keys.csv", chunkBytes: 600 },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    });
    const fromInventory = await runLocalJob({
      source: { bucket: source, prefix: "" },
      destination: { bucket: inventoryTarget, prefix: "" },
      manifest: { bucket: manifests, key: "inv/manifest.json" },
      endpoint: moto.endpoint,
      logLevel: "SILENT",
    });

    // Assess
    assert.equal(fromCsv.complete, true);
    assert.ok(fromCsv.ranges > 5, `expected the CSV read in many chunks, got ${fromCsv.ranges}`);
    assert.equal(fromCsv.copied, named.length);
    assert.deepEqual(fromCsv.vanishedKeys, ["no such key, ever"]);
    assert.equal(fromCsv.failed, 0);
    assert.deepEqual(await checkObjects(moto.s3, csvTarget, named, (k) => `copy/${k}`), []);
    assert.deepEqual(await listKeys(moto.s3, csvTarget), sortKeys(named.map((o) => `copy/${o.key}`)));
    assert.equal(fromInventory.complete, true);
    assert.equal(fromInventory.copied, objects.length);
    assert.equal(fromInventory.failed, 0);
    assert.deepEqual(await checkObjects(moto.s3, inventoryTarget, objects), []);
  });
});
