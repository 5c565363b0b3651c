/**
 * Conformance of the embedded S3 emulator (fauxqs, patched by
 * patches/fauxqs+2.4.1.patch) with the S3 behaviour the copier's tag and
 * large-object paths rely on:
 * - object tags: x-amz-tagging on PutObject/CreateMultipartUpload, CopyObject's
 *   tagging directive, Get/Put/DeleteObjectTagging, x-amz-tagging-count;
 * - multipart: UploadPart, UploadPartCopy with byte ranges, ListParts paging,
 *   NoSuchUpload once an upload is completed or aborted;
 * - listing a 20,000-key bucket page by page (the patch indexes keys so a page
 *   no longer sorts the whole bucket; this test checks the results, not the time).
 * Without the patch the tagging and ListParts tests fail: fauxqs answers
 * GET ?tagging and GET ?uploadId with the object's body, stores a PUT ?tagging
 * body as the object, deletes the object on DELETE ?tagging, ignores
 * x-amz-tagging and clamps copy ranges that run past the source.
 */

import assert from "node:assert/strict";
import { randomBytes } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { Agent, request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateBucketCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  DeleteObjectTaggingCommand,
  GetObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type ListPartsCommandOutput,
  PutObjectCommand,
  PutObjectTaggingCommand,
  S3Client,
  S3ServiceException,
  type Tag,
  UploadPartCommand,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";

type Fauxqs = Awaited<ReturnType<typeof import("fauxqs")["startFauxqs"]>>;

const MiB = 1024 * 1024;
const BUCKET = "emulator-tagging";
const LIST_BUCKET = "emulator-listing-20k";

async function startEmulator(options: { s3StorageDir?: string; dataDir?: string } = {}): Promise<{ server: Fauxqs; s3: S3Client }> {
  const { startFauxqs } = await import("fauxqs");
  const server = await startFauxqs({ port: 0, logger: false, ...options });
  const s3 = new S3Client({
    endpoint: server.address,
    region: "us-east-1",
    forcePathStyle: true,
    credentials: { accessKeyId: "test", secretAccessKey: "test" },
  });
  return { server, s3 };
}

/** Asserts that `promise` fails with the S3 error `code` and HTTP `status`. */
async function rejectsWith(promise: Promise<unknown>, code: string, status: number): Promise<void> {
  await assert.rejects(promise, (err: unknown) => {
    assert.ok(err instanceof S3ServiceException, `expected an S3 error ${code}, got ${String(err)}`);
    assert.equal(err.name, code);
    assert.equal(err.$metadata.httpStatusCode, status, `${code}: HTTP status`);
    return true;
  });
}

function tagsOf(tagSet: Tag[] | undefined): [string, string][] {
  return (tagSet ?? []).map((t) => [t.Key ?? "", t.Value ?? ""]);
}

/** The byte order of UTF-8 keys, independent of the emulator. */
function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

/**
 * A plain path-style REST call without the SDK (the emulator does not check signatures). Only used to seed
 * and change the 20,000-key bucket: through the SDK that alone takes most of a minute.
 */
function rawRequest(agent: Agent, endpoint: string, method: "PUT" | "DELETE", bucket: string, key: string, body = ""): Promise<void> {
  const url = new URL(endpoint);
  const path = `/${bucket}/${key.split("/").map(encodeURIComponent).join("/")}`;
  return new Promise((resolve, reject) => {
    const req = request(
      { agent, host: url.hostname, port: url.port, method, path, headers: { "content-length": Buffer.byteLength(body) } },
      (res) => {
        res.resume();
        res.on("end", () =>
          res.statusCode !== undefined && res.statusCode < 300 ? resolve() : reject(new Error(`${method} ${key}: HTTP ${res.statusCode}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/** Runs `fn` over `items`, `limit` at a time. */
async function inParallel<T>(items: readonly T[], limit: number, fn: (item: T) => Promise<unknown>): Promise<void> {
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const item = items[next++] as T;
      await fn(item);
    }
  };
  await Promise.all(Array.from({ length: limit }, worker));
}

describe("S3 emulator tagging, multipart and listing (fauxqs + patch)", () => {
  let server: Fauxqs;
  let s3: S3Client;

  /** HeadObject's raw x-amz-tagging-count header (the SDK's HeadObject output has no TagCount). */
  async function headTagCount(key: string): Promise<string | undefined> {
    const command = new HeadObjectCommand({ Bucket: BUCKET, Key: key });
    let headers: Record<string, string> = {};
    command.middlewareStack.add(
      (next) => async (args) => {
        const result = await next(args);
        headers = (result.response as { headers?: Record<string, string> }).headers ?? {};
        return result;
      },
      { step: "deserialize", name: "captureHeadHeaders" },
    );
    await s3.send(command);
    return headers["x-amz-tagging-count"];
  }

  async function getTags(key: string, bucket = BUCKET): Promise<[string, string][]> {
    return tagsOf((await s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }))).TagSet);
  }

  async function getTagCount(key: string): Promise<number | undefined> {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    await out.Body?.transformToByteArray();
    return out.TagCount;
  }

  async function getBody(key: string): Promise<Buffer> {
    const out = await s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key }));
    return Buffer.from((await out.Body?.transformToByteArray()) ?? []);
  }

  async function put(key: string, body: string | Buffer, tagging?: string): Promise<void> {
    await s3.send(new PutObjectCommand({ Bucket: BUCKET, Key: key, Body: body, ContentLength: body.length, Tagging: tagging }));
  }

  before(async () => {
    ({ server, s3 } = await startEmulator());
    await s3.send(new CreateBucketCommand({ Bucket: BUCKET }));
  });

  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  describe("object tags", () => {
    it("PutObject's x-amz-tagging is stored and GetObjectTagging returns it (URL-decoded, non-ASCII intact)", async () => {
      await put("tagged/one", "body", "project=s3%20fanout&formula=a%2Bb%3Dc&empty=&flag&lang=fran%C3%A7ais%20%E4%B8%AD%E6%96%87");
      assert.deepEqual(await getTags("tagged/one"), [
        ["project", "s3 fanout"],
        ["formula", "a+b=c"],
        ["empty", ""],
        ["flag", ""],
        ["lang", "français 中文"],
      ]);
      assert.deepEqual(await getBody("tagged/one"), Buffer.from("body"), "GetObject still returns the body");
    });

    it("GetObject reports TagCount and HeadObject sends x-amz-tagging-count; untagged objects send neither", async () => {
      await put("tagged/count", "x", "a=1&b=2&c=3");
      assert.equal(await getTagCount("tagged/count"), 3);
      assert.equal(await headTagCount("tagged/count"), "3");
      await put("untagged", "x");
      assert.equal(await getTagCount("untagged"), undefined);
      assert.equal(await headTagCount("untagged"), undefined);
      assert.deepEqual(await getTags("untagged"), []);
    });

    it("PutObjectTagging replaces the tag set without changing ETag or LastModified; DeleteObjectTagging removes it", async () => {
      await put("tagged/replace", "x", "old=1&gone=2");
      const before = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "tagged/replace" }));
      await s3.send(
        new PutObjectTaggingCommand({
          Bucket: BUCKET,
          Key: "tagged/replace",
          Tagging: {
            TagSet: [
              { Key: "new", Value: "v 1" },
              { Key: "path", Value: "a/b:c@d_e.f-g" },
              { Key: "blank", Value: "" },
            ],
          },
        }),
      );
      assert.deepEqual(await getTags("tagged/replace"), [
        ["new", "v 1"],
        ["path", "a/b:c@d_e.f-g"],
        ["blank", ""],
      ]);
      const afterPut = await s3.send(new HeadObjectCommand({ Bucket: BUCKET, Key: "tagged/replace" }));
      assert.equal(afterPut.ETag, before.ETag);
      assert.equal(afterPut.LastModified?.getTime(), before.LastModified?.getTime());
      assert.equal(await headTagCount("tagged/replace"), "3");

      const deleted = await s3.send(new DeleteObjectTaggingCommand({ Bucket: BUCKET, Key: "tagged/replace" }));
      assert.equal(deleted.$metadata.httpStatusCode, 204);
      assert.deepEqual(await getTags("tagged/replace"), []);
      assert.equal(await getTagCount("tagged/replace"), undefined);
      assert.deepEqual(await getBody("tagged/replace"), Buffer.from("x"), "the object itself is untouched");
    });

    it("an overwrite without x-amz-tagging leaves no tags, and neither does a delete and re-create", async () => {
      await put("tagged/overwrite", "v1", "k=v");
      await put("tagged/overwrite", "v2");
      assert.deepEqual(await getTags("tagged/overwrite"), []);
      await put("tagged/overwrite", "v3", "k=v3");
      await s3.send(new DeleteObjectCommand({ Bucket: BUCKET, Key: "tagged/overwrite" }));
      await rejectsWith(s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: "tagged/overwrite" })), "NoSuchKey", 404);
      await put("tagged/overwrite", "v4");
      assert.deepEqual(await getTags("tagged/overwrite"), []);
    });

    it("CopyObject copies the source's tags by default and with TaggingDirective COPY", async () => {
      await put("copy/source", "copy me", "team=data&tier=hot");
      await s3.send(new CopyObjectCommand({ Bucket: BUCKET, Key: "copy/default", CopySource: `${BUCKET}/copy/source` }));
      assert.deepEqual(await getTags("copy/default"), [
        ["team", "data"],
        ["tier", "hot"],
      ]);
      await s3.send(
        new CopyObjectCommand({ Bucket: BUCKET, Key: "copy/explicit", CopySource: `${BUCKET}/copy/source`, TaggingDirective: "COPY" }),
      );
      assert.deepEqual(await getTags("copy/explicit"), [
        ["team", "data"],
        ["tier", "hot"],
      ]);
      assert.deepEqual(await getBody("copy/explicit"), Buffer.from("copy me"));
      // The copy owns its tags: retagging it leaves the source alone.
      await s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: "copy/explicit", Tagging: { TagSet: [{ Key: "x", Value: "y" }] } }));
      assert.deepEqual(await getTags("copy/source"), [
        ["team", "data"],
        ["tier", "hot"],
      ]);
    });

    it("CopyObject with TaggingDirective REPLACE uses x-amz-tagging, or no tags without it", async () => {
      await put("copy/replace-source", "r", "team=data");
      await s3.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: "copy/replaced",
          CopySource: `${BUCKET}/copy/replace-source`,
          TaggingDirective: "REPLACE",
          Tagging: "owner=ops&stage=copy%201",
        }),
      );
      assert.deepEqual(await getTags("copy/replaced"), [
        ["owner", "ops"],
        ["stage", "copy 1"],
      ]);
      await s3.send(
        new CopyObjectCommand({
          Bucket: BUCKET,
          Key: "copy/cleared",
          CopySource: `${BUCKET}/copy/replace-source`,
          TaggingDirective: "REPLACE",
        }),
      );
      assert.deepEqual(await getTags("copy/cleared"), []);
      assert.equal(await getTagCount("copy/cleared"), undefined);
    });

    it("rejects tag sets S3 rejects, with S3's error codes", async () => {
      const eleven = Array.from({ length: 11 }, (_, i) => `k${i}=v`).join("&");
      await rejectsWith(put("bad/too-many", "x", eleven), "BadRequest", 400);
      await rejectsWith(put("bad/duplicate", "x", "k=1&k=2"), "InvalidArgument", 400);
      await rejectsWith(put("bad/no-key", "x", "=v"), "InvalidArgument", 400);
      await rejectsWith(put("bad/reserved", "x", "aws%3Aowner=me"), "InvalidTag", 400);
      await rejectsWith(put("bad/long-key", "x", `${"k".repeat(129)}=v`), "InvalidTag", 400);
      await rejectsWith(put("bad/long-value", "x", `k=${"v".repeat(257)}`), "InvalidTag", 400);
      await rejectsWith(put("bad/comma", "x", "k=a%2Cb"), "InvalidTag", 400);
      await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: "bad/too-many" })), "NoSuchKey", 404);

      await put("bad/target", "x", "keep=me");
      const putTags = (TagSet: Tag[]) => s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: "bad/target", Tagging: { TagSet } }));
      await rejectsWith(
        putTags([
          { Key: "a", Value: "1" },
          { Key: "a", Value: "2" },
        ]),
        "InvalidTag",
        400,
      );
      await rejectsWith(putTags([{ Key: "a", Value: "semi;colon" }]), "InvalidTag", 400);
      await rejectsWith(putTags(Array.from({ length: 11 }, (_, i) => ({ Key: `k${i}`, Value: "v" }))), "BadRequest", 400);
      assert.deepEqual(await getTags("bad/target"), [["keep", "me"]], "a rejected PutObjectTagging changes nothing");
      await rejectsWith(
        s3.send(new PutObjectTaggingCommand({ Bucket: BUCKET, Key: "bad/missing", Tagging: { TagSet: [{ Key: "a", Value: "b" }] } })),
        "NoSuchKey",
        404,
      );
      await rejectsWith(
        s3.send(
          new CopyObjectCommand({
            Bucket: BUCKET,
            Key: "bad/copy",
            CopySource: `${BUCKET}/bad/target`,
            TaggingDirective: "REPLACE",
            Tagging: eleven,
          }),
        ),
        "BadRequest",
        400,
      );
    });
  });

  describe("multipart uploads", () => {
    it("CreateMultipartUpload's tags go to the completed object; UploadPart parts of 5 MiB assemble in order", async () => {
      const key = "multipart/tagged";
      const parts = [randomBytes(5 * MiB), randomBytes(5 * MiB), randomBytes(MiB + 17)];
      const { UploadId } = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, Tagging: "source=multipart&size=large" }),
      );
      assert.ok(UploadId);
      const etags: string[] = [];
      for (const [i, body] of parts.entries()) {
        const out = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: i + 1, Body: body }));
        assert.ok(out.ETag);
        etags.push(out.ETag);
      }
      await rejectsWith(s3.send(new GetObjectTaggingCommand({ Bucket: BUCKET, Key: key })), "NoSuchKey", 404);
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: key,
          UploadId,
          MultipartUpload: { Parts: etags.map((ETag, i) => ({ ETag, PartNumber: i + 1 })) },
        }),
      );
      assert.deepEqual(await getTags(key), [
        ["source", "multipart"],
        ["size", "large"],
      ]);
      assert.equal(await getTagCount(key), 2);
      assert.equal(await headTagCount(key), "2");
      assert.ok((await getBody(key)).equals(Buffer.concat(parts)), "completed body is the parts in order");
      await rejectsWith(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId })), "NoSuchUpload", 404);
    });

    it("UploadPartCopy with CopySourceRange copies a 12 MiB source in three parts; the copy gets the upload's tags, not the source's", async () => {
      // The emulator caps request bodies at 11 MiB, so the 12 MiB source is itself a multipart upload.
      const source = randomBytes(12 * MiB);
      const src = await s3.send(
        new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: "multipart/source-12mib", Tagging: "origin=source" }),
      );
      const srcParts = [];
      for (const [i, offset] of [0, 5 * MiB, 10 * MiB].entries()) {
        const Body = source.subarray(offset, Math.min(offset + 5 * MiB, source.length));
        const out = await s3.send(
          new UploadPartCommand({ Bucket: BUCKET, Key: "multipart/source-12mib", UploadId: src.UploadId, PartNumber: i + 1, Body }),
        );
        srcParts.push({ ETag: out.ETag, PartNumber: i + 1 });
      }
      await s3.send(
        new CompleteMultipartUploadCommand({
          Bucket: BUCKET,
          Key: "multipart/source-12mib",
          UploadId: src.UploadId,
          MultipartUpload: { Parts: srcParts },
        }),
      );
      assert.deepEqual(await getTags("multipart/source-12mib"), [["origin", "source"]]);
      const key = "multipart/range-copy";
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key, Tagging: "origin=copy" }));
      assert.ok(UploadId);
      const ranges: [number, number][] = [
        [0, 5 * MiB - 1],
        [5 * MiB, 10 * MiB - 1],
        [10 * MiB, 12 * MiB - 1],
      ];
      const CopySource = `${BUCKET}/multipart/source-12mib`;
      // A range that runs one byte past the source is an error in S3, not a silently shorter part.
      await rejectsWith(
        s3.send(
          new UploadPartCopyCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId,
            PartNumber: 3,
            CopySource,
            CopySourceRange: `bytes=${10 * MiB}-${12 * MiB}`,
          }),
        ),
        "InvalidArgument",
        400,
      );
      await rejectsWith(
        s3.send(new UploadPartCopyCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, CopySource, CopySourceRange: "0-99" })),
        "InvalidArgument",
        400,
      );
      const parts: { ETag: string; PartNumber: number }[] = [];
      for (const [i, [first, last]] of ranges.entries()) {
        const out = await s3.send(
          new UploadPartCopyCommand({
            Bucket: BUCKET,
            Key: key,
            UploadId,
            PartNumber: i + 1,
            CopySource,
            CopySourceRange: `bytes=${first}-${last}`,
          }),
        );
        assert.ok(out.CopyPartResult?.ETag);
        parts.push({ ETag: out.CopyPartResult.ETag, PartNumber: i + 1 });
      }
      const listed = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }));
      assert.deepEqual(
        listed.Parts?.map((p) => [p.PartNumber, p.Size, p.ETag]),
        parts.map((p, i) => {
          const [first, last] = ranges[i] as [number, number];
          return [p.PartNumber, last - first + 1, p.ETag];
        }),
      );
      await s3.send(new CompleteMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
      assert.ok((await getBody(key)).equals(source), "the copy is byte-identical to the source");
      assert.deepEqual(await getTags(key), [["origin", "copy"]]);
    });

    it("ListParts pages by MaxParts and PartNumberMarker, in part number order, with each part's ETag, size and date", async () => {
      const key = "multipart/list-parts";
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      assert.ok(UploadId);
      const etags = new Map<number, string>();
      for (const n of [3, 1, 7, 2, 5, 4, 6, 2]) {
        // Part 2 goes up twice: the second upload replaces the first.
        const body = Buffer.alloc(100 + n + etags.size, n);
        const out = await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: n, Body: body }));
        assert.ok(out.ETag);
        etags.set(n, out.ETag);
      }
      const pages: { numbers: (number | undefined)[]; truncated: boolean | undefined; next: string | undefined }[] = [];
      let marker: string | undefined;
      do {
        const page: ListPartsCommandOutput = await s3.send(
          new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId, MaxParts: 3, PartNumberMarker: marker }),
        );
        assert.equal(page.Bucket, BUCKET);
        assert.equal(page.Key, key);
        assert.equal(page.UploadId, UploadId);
        assert.equal(page.MaxParts, 3);
        assert.equal(page.PartNumberMarker ?? "0", marker ?? "0");
        for (const part of page.Parts ?? []) {
          assert.equal(part.ETag, etags.get(part.PartNumber ?? 0), `part ${part.PartNumber}: ETag`);
          assert.ok(part.Size !== undefined && part.Size > 100, `part ${part.PartNumber}: Size`);
          assert.ok(part.LastModified instanceof Date, `part ${part.PartNumber}: LastModified`);
        }
        pages.push({ numbers: (page.Parts ?? []).map((p) => p.PartNumber), truncated: page.IsTruncated, next: page.NextPartNumberMarker });
        marker = page.IsTruncated ? page.NextPartNumberMarker : undefined;
        assert.ok(pages.length < 10, "ListParts does not terminate");
      } while (marker);
      assert.deepEqual(pages, [
        { numbers: [1, 2, 3], truncated: true, next: "3" },
        { numbers: [4, 5, 6], truncated: true, next: "6" },
        { numbers: [7], truncated: false, next: "7" },
      ]);
      const part2 = (await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumberMarker: "1", MaxParts: 1 }))).Parts;
      assert.equal(part2?.[0]?.Size, 100 + 2 + 7, "the re-uploaded part 2 replaced the first one");

      const all = await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }));
      assert.deepEqual(
        all.Parts?.map((p) => p.PartNumber),
        [1, 2, 3, 4, 5, 6, 7],
      );
      assert.equal(all.IsTruncated, false);
      assert.equal(all.MaxParts, 1000);
    });

    it("answers NoSuchUpload for an aborted upload, an unknown upload ID and another key's upload; part numbers stay within 1..10000", async () => {
      const key = "multipart/aborted";
      const { UploadId } = await s3.send(new CreateMultipartUploadCommand({ Bucket: BUCKET, Key: key }));
      assert.ok(UploadId);
      await s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 1, Body: "part" }));
      await rejectsWith(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: "multipart/other-key", UploadId })), "NoSuchUpload", 404);
      await rejectsWith(
        s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: "multipart/other-key", UploadId, PartNumber: 2, Body: "x" })),
        "NoSuchUpload",
        404,
      );
      for (const PartNumber of [0, 10001]) {
        await rejectsWith(
          s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber, Body: "x" })),
          "InvalidArgument",
          400,
        );
      }
      assert.deepEqual((await s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId }))).Parts?.length, 1);

      await s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId }));
      await rejectsWith(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId })), "NoSuchUpload", 404);
      await rejectsWith(
        s3.send(new UploadPartCommand({ Bucket: BUCKET, Key: key, UploadId, PartNumber: 2, Body: "x" })),
        "NoSuchUpload",
        404,
      );
      await rejectsWith(s3.send(new AbortMultipartUploadCommand({ Bucket: BUCKET, Key: key, UploadId })), "NoSuchUpload", 404);
      await rejectsWith(s3.send(new ListPartsCommand({ Bucket: BUCKET, Key: key, UploadId: "no-such-upload-id" })), "NoSuchUpload", 404);
      await rejectsWith(s3.send(new GetObjectCommand({ Bucket: BUCKET, Key: key })), "NoSuchKey", 404);
    });
  });

  describe("listing a large bucket", () => {
    const COUNT = 20_000;
    // Keys in all UTF-8 length classes, so byte order differs from UTF-16 order.
    const STEMS = ["a", "Z", "é", "中", "\uFFFD", "😀", "dir/sub", "dir"];
    const keyFor = (i: number) => `${STEMS[i % STEMS.length]}/${(i * 7919) % COUNT}-${i.toString(36)}`;

    async function listAll(maxKeys: number): Promise<{ keys: string[]; pages: number }> {
      const keys: string[] = [];
      let pages = 0;
      let token: string | undefined;
      do {
        const page = await s3.send(new ListObjectsV2Command({ Bucket: LIST_BUCKET, MaxKeys: maxKeys, ContinuationToken: token }));
        pages++;
        const pageKeys = (page.Contents ?? []).map((c) => c.Key ?? "");
        assert.ok(pageKeys.length <= maxKeys, `page ${pages}: more than MaxKeys keys`);
        if (page.IsTruncated) assert.equal(pageKeys.length, maxKeys, `page ${pages}: truncated but not full`);
        keys.push(...pageKeys);
        token = page.IsTruncated ? page.NextContinuationToken : undefined;
        assert.ok(pages <= COUNT / maxKeys + 2, "listing does not terminate");
      } while (token);
      return { keys, pages };
    }

    function assertByteOrderedOnce(listed: string[], expected: Set<string>, context: string): void {
      const seen = new Set(listed);
      assert.equal(seen.size, listed.length, `${context}: a key was listed twice`);
      const missing = [...expected].filter((k) => !seen.has(k));
      assert.deepEqual(missing.slice(0, 5), [], `${context}: ${missing.length} keys missing`);
      for (const key of listed) assert.ok(expected.has(key), `${context}: unexpected key ${key}`);
      assert.equal(listed.length, expected.size, `${context}: count`);
      for (let i = 1; i < listed.length; i++) {
        assert.ok(utf8Compare(listed[i - 1] as string, listed[i] as string) < 0, `${context}: ${listed[i - 1]} listed before ${listed[i]}`);
      }
    }

    it("pages through 20,000 keys with MaxKeys 1000: every key once, in UTF-8 byte order, also after deletes and new keys", async (t) => {
      await s3.send(new CreateBucketCommand({ Bucket: LIST_BUCKET }));
      const expected = new Set(Array.from({ length: COUNT }, (_, i) => keyFor(i)));
      assert.equal(expected.size, COUNT);
      const agent = new Agent({ keepAlive: true, maxSockets: 16 });
      t.after(() => agent.destroy());
      const putRaw = (key: string) => rawRequest(agent, server.address, "PUT", LIST_BUCKET, key, "x");
      await inParallel([...expected], 16, putRaw);
      // The raw path-style PUT stores the key the SDK lists.
      assert.equal((await s3.send(new HeadObjectCommand({ Bucket: LIST_BUCKET, Key: keyFor(5) }))).ContentLength, 1);

      const first = await listAll(1000);
      assert.equal(first.pages, COUNT / 1000);
      assertByteOrderedOnce(first.keys, expected, "first listing");

      // Change the bucket between listings: the listing must follow.
      const removed = first.keys.filter((_, i) => i % 37 === 0);
      await inParallel(removed, 16, (key) => rawRequest(agent, server.address, "DELETE", LIST_BUCKET, key));
      for (const key of removed) expected.delete(key);
      const added = Array.from({ length: 300 }, (_, i) => `${STEMS[i % STEMS.length]}/new-${i}`);
      added.push(removed[0] as string); // a deleted key put back
      await inParallel(added, 16, putRaw);
      for (const key of added) expected.add(key);

      const second = await listAll(1000);
      assertByteOrderedOnce(second.keys, expected, "listing after changes");

      // StartAfter and Prefix on the same index.
      const startAfter = second.keys[12_345] as string;
      const tail = await s3.send(new ListObjectsV2Command({ Bucket: LIST_BUCKET, StartAfter: startAfter, MaxKeys: 5 }));
      assert.deepEqual(
        tail.Contents?.map((c) => c.Key),
        second.keys.slice(12_346, 12_351),
      );
      const prefixed = await s3.send(new ListObjectsV2Command({ Bucket: LIST_BUCKET, Prefix: "😀/", MaxKeys: 1000 }));
      const wanted = second.keys.filter((k) => k.startsWith("😀/"));
      assert.deepEqual(
        prefixed.Contents?.map((c) => c.Key),
        wanted.slice(0, 1000),
      );
      const folded = await s3.send(new ListObjectsV2Command({ Bucket: LIST_BUCKET, Delimiter: "/", MaxKeys: 1000 }));
      assert.deepEqual(
        folded.CommonPrefixes?.map((p) => p.Prefix),
        [...new Set(STEMS.map((s) => `${s.split("/")[0]}/`))].sort(utf8Compare),
      );
      assert.equal(folded.Contents, undefined);
    });
  });

  describe("with persistence", () => {
    for (const mode of ["s3StorageDir", "dataDir"] as const) {
      it(`${mode}: tagging and ListParts work and the objects survive a restart`, async (t) => {
        const dir = await mkdtemp(join(tmpdir(), `emulator-tagging-${mode}-`));
        const running = new Set<Awaited<ReturnType<typeof startEmulator>>>();
        const start = async () => {
          const emu = await startEmulator({ [mode]: dir });
          running.add(emu);
          return emu;
        };
        const stop = async (emu: Awaited<ReturnType<typeof startEmulator>>) => {
          if (!running.delete(emu)) return;
          emu.s3.destroy();
          await emu.server.stop();
        };
        // Even when an assertion fails: a running emulator would keep the test process alive.
        t.after(async () => {
          for (const emu of [...running]) await stop(emu);
          await rm(dir, { recursive: true, force: true });
        });

        const bucket = "persisted-tags";
        const first = await start();
        const s3p = first.s3;
        await s3p.send(new CreateBucketCommand({ Bucket: bucket }));
        await s3p.send(new PutObjectCommand({ Bucket: bucket, Key: "plain", Body: "p", ContentLength: 1, Tagging: "a=1" }));
        await s3p.send(new PutObjectTaggingCommand({ Bucket: bucket, Key: "plain", Tagging: { TagSet: [{ Key: "b", Value: "2" }] } }));
        assert.deepEqual(tagsOf((await s3p.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "plain" }))).TagSet), [["b", "2"]]);
        const got = await s3p.send(new GetObjectCommand({ Bucket: bucket, Key: "plain" }));
        assert.equal(await got.Body?.transformToString(), "p");
        assert.equal(got.TagCount, 1);

        const { UploadId } = await s3p.send(new CreateMultipartUploadCommand({ Bucket: bucket, Key: "multi", Tagging: "m=1" }));
        const part = await s3p.send(new UploadPartCommand({ Bucket: bucket, Key: "multi", UploadId, PartNumber: 1, Body: "part-one" }));
        const listed = await s3p.send(new ListPartsCommand({ Bucket: bucket, Key: "multi", UploadId }));
        assert.deepEqual(
          listed.Parts?.map((p) => [p.PartNumber, p.Size]),
          [[1, 8]],
        );
        await s3p.send(
          new CompleteMultipartUploadCommand({
            Bucket: bucket,
            Key: "multi",
            UploadId,
            MultipartUpload: { Parts: [{ ETag: part.ETag, PartNumber: 1 }] },
          }),
        );
        assert.deepEqual(tagsOf((await s3p.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "multi" }))).TagSet), [["m", "1"]]);
        await s3p.send(new CopyObjectCommand({ Bucket: bucket, Key: "copied", CopySource: `${bucket}/multi` }));
        assert.deepEqual(tagsOf((await s3p.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: "copied" }))).TagSet), [["m", "1"]]);
        await stop(first);

        // Tags are not persisted (see patches/README.md); the objects and the listing are.
        const second = await start();
        for (const [key, body] of [
          ["plain", "p"],
          ["multi", "part-one"],
          ["copied", "part-one"],
        ] as const) {
          const out = await second.s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
          assert.equal(await out.Body?.transformToString(), body, `${key} after restart`);
          await second.s3.send(new GetObjectTaggingCommand({ Bucket: bucket, Key: key }));
        }
        const list = await second.s3.send(new ListObjectsV2Command({ Bucket: bucket }));
        assert.deepEqual(
          list.Contents?.map((c) => c.Key),
          ["copied", "multi", "plain"],
        );
      });
    }
  });
});
