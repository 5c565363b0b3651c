import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { encodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import {
  BATCH_OPERATIONS_LAYOUT,
  decodeManifestKey,
  inventoryLayout,
  ManifestError,
  manifestEntry,
  manifestFormatOf,
  parseInventoryManifest,
  planChunks,
} from "../../lambdas/core/manifest.ts";
import { type ListTask, listBody, parseListBody } from "../../lambdas/core/messages.ts";
import { anyKey, loadAwkwardKeys, s3Key } from "./arbitraries.ts";

const INVENTORY_SCHEMA = "Bucket, Key, VersionId, IsLatest, IsDeleteMarker, Size, LastModifiedDate, ETag, StorageClass";

describe("decodeManifestKey", () => {
  it("decodes form encoding as S3 writes it: + is a space, %2B a plus", () => {
    assert.equal(decodeManifestKey("a+b%2Bc%20d"), "a b+c d");
    assert.equal(decodeManifestKey("caf%C3%A9%2F%F0%9F%98%80"), "café/😀");
    assert.equal(decodeManifestKey("dir/plain.txt"), "dir/plain.txt");
  });

  it("reads back every key S3's form encoding or encodeURIComponent wrote", () => {
    for (const key of loadAwkwardKeys()) {
      assert.equal(decodeManifestKey(encodeS3ListKey(key)), key);
      assert.equal(decodeManifestKey(encodeURIComponent(key)), key);
    }
    fc.assert(
      fc.property(s3Key, (key) => {
        assert.equal(decodeManifestKey(encodeS3ListKey(key)), key);
        assert.equal(decodeManifestKey(encodeURIComponent(key)), key);
      }),
      { numRuns: 1000 },
    );
  });
});

describe("manifestEntry", () => {
  it("reads a Batch Operations row of bucket and key, with or without a version id", () => {
    assert.deepEqual(manifestEntry(["src", "a+b%2Cc"], BATCH_OPERATIONS_LAYOUT), {
      kind: "object",
      bucket: "src",
      key: "a b,c",
      versionId: undefined,
      size: undefined,
      etag: undefined,
    });
    const versioned = manifestEntry(["src", "k", "3HL4kqtJlcpXroDTDmJ"], BATCH_OPERATIONS_LAYOUT);
    assert.equal(versioned.kind === "object" && versioned.versionId, "3HL4kqtJlcpXroDTDmJ");
  });

  it("calls a row invalid when it has the wrong number of fields, a key that does not decode, or no key", () => {
    assert.equal(manifestEntry(["src"], BATCH_OPERATIONS_LAYOUT).kind, "invalid");
    assert.equal(manifestEntry(["src", "k", "v", "extra"], BATCH_OPERATIONS_LAYOUT).kind, "invalid");
    assert.deepEqual(manifestEntry(["src", "bad%E0%A4"], BATCH_OPERATIONS_LAYOUT), {
      kind: "invalid",
      text: "bad%E0%A4",
      reason: "key is not valid URL encoding",
    });
    assert.equal(manifestEntry(["src", ""], BATCH_OPERATIONS_LAYOUT).kind, "invalid");
    assert.equal(manifestEntry(["", "k"], BATCH_OPERATIONS_LAYOUT).kind, "invalid");
  });

  it("treats an empty line as blank, not as a row", () => {
    assert.deepEqual(manifestEntry([""], BATCH_OPERATIONS_LAYOUT), { kind: "blank" });
  });

  it("takes an inventory row's Size and ETag, quoting the bare ETag as listings do", () => {
    // Prepare
    const layout = inventoryLayout(INVENTORY_SCHEMA);
    const row = [
      "src",
      "dir%2Fmy+file",
      "",
      "true",
      "false",
      "5368709121",
      "2024-01-01T00:00:00.000Z",
      "d41d8cd98f00b204e9800998ecf8427e-12",
      "STANDARD",
    ];

    // Act
    const entry = manifestEntry(row, layout);

    // Assess
    assert.deepEqual(entry, {
      kind: "object",
      bucket: "src",
      key: "dir/my file",
      versionId: undefined,
      size: 5_368_709_121,
      etag: '"d41d8cd98f00b204e9800998ecf8427e-12"',
    });
  });

  it("skips inventory rows of delete markers and of older versions", () => {
    const layout = inventoryLayout(INVENTORY_SCHEMA);
    assert.deepEqual(manifestEntry(["src", "k", "v1", "true", "true", "", "", "", ""], layout), { kind: "skip", reason: "delete marker" });
    assert.deepEqual(manifestEntry(["src", "k", "v0", "false", "false", "1", "", "e", ""], layout), {
      kind: "skip",
      reason: "not the latest version",
    });
  });

  it("calls an inventory row with a size that is not a byte count invalid", () => {
    const layout = inventoryLayout("Bucket, Key, Size");
    assert.equal(manifestEntry(["src", "k", "-1"], layout).kind, "invalid");
    assert.equal(manifestEntry(["src", "k", "1e3"], layout).kind, "invalid");
    assert.equal(manifestEntry(["src", "k", "12"], layout).kind, "object");
  });
});

describe("planChunks", () => {
  it("cuts a plain file into adjacent byte ranges that cover it, and keeps a gzip file whole", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 10_000 }), fc.integer({ min: 1, max: 3_000 }), (size, chunkBytes) => {
        const chunks = planChunks(
          [
            { bucket: "m", key: "manifest.csv", size, format: "csv" },
            { bucket: "m", key: "data.csv.gz", size, format: "csv" },
          ],
          chunkBytes,
        );
        const plain = chunks.filter((c) => !c.gzip);
        assert.equal(plain[0]?.start, 0);
        assert.equal(plain.at(-1)?.end, size);
        for (let i = 1; i < plain.length; i++) assert.equal(plain[i]?.start, plain[i - 1]?.end);
        assert.ok(plain.every((c) => c.end - c.start <= chunkBytes && (c.end > c.start || size === 0)));
        const gz = chunks.filter((c) => c.gzip);
        assert.deepEqual(
          gz.map((c) => [c.start, c.end]),
          [[0, size]],
        );
        assert.deepEqual(
          chunks.map((c) => [c.chunk, c.of]),
          chunks.map((_, i) => [i, chunks.length]),
        );
      }),
    );
  });

  it("seeds one chunk for an empty manifest, so the job still completes", () => {
    assert.deepEqual(
      planChunks([{ bucket: "m", key: "empty.csv", size: 0, format: "csv" }]).map((c) => [c.start, c.end, c.of]),
      [[0, 0, 1]],
    );
  });
});

describe("manifestFormatOf", () => {
  it("reads a .json manifest as an inventory and anything else as a Batch Operations CSV", () => {
    assert.equal(manifestFormatOf("inv/src/2024-01-01T00-00Z/manifest.json"), "inventory");
    assert.equal(manifestFormatOf("lists/keys.csv"), "csv");
    assert.equal(manifestFormatOf("lists/keys.csv.gz"), "csv");
  });
});

describe("parseInventoryManifest", () => {
  const manifest = (over: Record<string, unknown> = {}) =>
    JSON.stringify({
      sourceBucket: "src",
      destinationBucket: "arn:aws:s3:::inventory-bucket",
      version: "2016-11-30",
      creationTimestamp: "1514944800000",
      fileFormat: "CSV",
      fileSchema: INVENTORY_SCHEMA,
      files: [
        { key: "inv/src/data/a.csv.gz", size: 123, MD5checksum: "x" },
        { key: "inv/src/data/b.csv.gz", size: 456, MD5checksum: "y" },
      ],
      ...over,
    });

  it("names the data files in the inventory's destination bucket, with their schema", () => {
    assert.deepEqual(parseInventoryManifest(manifest(), "manifest-bucket"), [
      { bucket: "inventory-bucket", key: "inv/src/data/a.csv.gz", size: 123, format: "inventory", schema: INVENTORY_SCHEMA },
      { bucket: "inventory-bucket", key: "inv/src/data/b.csv.gz", size: 456, format: "inventory", schema: INVENTORY_SCHEMA },
    ]);
  });

  it("falls back to the manifest's own bucket without a destination bucket", () => {
    const files = parseInventoryManifest(manifest({ destinationBucket: undefined }), "manifest-bucket");
    assert.ok(files.every((f) => f.bucket === "manifest-bucket"));
  });

  it("rejects ORC and Parquet inventories, a schema without Key, and what is not a manifest", () => {
    assert.throws(() => parseInventoryManifest(manifest({ fileFormat: "ORC" }), "m"), /only CSV/);
    assert.throws(() => parseInventoryManifest(manifest({ fileSchema: "Bucket, Size" }), "m"), /lacks Bucket or Key/);
    assert.throws(() => parseInventoryManifest("{", "m"), ManifestError);
    assert.throws(() => parseInventoryManifest(manifest({ files: "nope" }), "m"), /at files/);
  });
});

describe("list messages of manifest chunks", () => {
  it("round-trip the chunk and its position, with any manifest key, as ASCII", () => {
    fc.assert(
      fc.property(
        anyKey.filter((k) => k.length > 0),
        fc.nat({ max: 2 ** 40 }),
        fc.nat({ max: 1_000_000 }),
        (key, byte, row) => {
          const task: ListTask = {
            job: { id: "job-1", source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } },
            range: {},
            hop: 3,
            manifest: {
              bucket: "manifests",
              key,
              etag: '"abc"',
              format: "inventory",
              gzip: true,
              schema: INVENTORY_SCHEMA,
              chunk: 4,
              of: 9,
              start: 0,
              end: 2 ** 41,
              row,
              byte,
            },
          };
          const body = listBody(task);
          assert.match(body, /^[\x20-\x7e]*$/);
          assert.deepEqual(parseListBody(body), { ...task, range: { startAfter: undefined, endAt: undefined }, token: undefined });
        },
      ),
    );
  });

  it("rejects a chunk index outside the chunk count as malformed", () => {
    const body = listBody({
      job: { id: "job-1", source: { bucket: "src", prefix: "" }, destination: { bucket: "dst", prefix: "" } },
      range: {},
      hop: 0,
      manifest: { bucket: "m", key: "k.csv", format: "csv", gzip: false, chunk: 2, of: 2, start: 0, end: 10, row: 0, byte: 0 },
    });
    assert.throws(() => parseListBody(body), /chunk must be below of/);
  });
});
