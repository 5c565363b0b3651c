/**
 * The lean CopyObject path (lambdas/aws/leanCopy.ts) against the SDK path,
 * over real HTTP to the emulator through a recording proxy: every awkward
 * key copies the same way, the requests carry the same path, CopySource and
 * x-amz-* headers, and S3's errors map to the same classes.
 */
import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import { CreateBucketCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { createS3Client, leanCopierOf } from "../../lambdas/aws/clients.ts";
import { leanCovers } from "../../lambdas/aws/leanS3.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import type { JobOptions } from "../../lambdas/core/jobOptions.ts";
import { classifyError, errorInfo } from "../../lambdas/core/retry.ts";
import { awkwardKeys } from "../../scripts/lib/seed.ts";
import { bucketName, sdkPathS3Client, seedBuckets, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { type ListeningProxy, listen, readBody, replyS3Error, replyWith, upstreamTo } from "../support/forward.ts";

interface Seen {
  readonly url: string;
  readonly headers: http.IncomingHttpHeaders;
}

/** Forwards everything, records each copy request, and answers copies itself while `inject` says so. */
async function recordingProxy(target: string) {
  const copies: Seen[] = [];
  const state: { inject?: ((res: http.ServerResponse) => void) | undefined } = {};
  const upstream = upstreamTo(target);
  const proxy: ListeningProxy = await listen(async (req, res) => {
    const body = await readBody(req);
    if (req.method === "PUT" && req.headers["x-amz-copy-source"] !== undefined) {
      copies.push({ url: req.url ?? "", headers: req.headers });
      if (state.inject) {
        state.inject(res);
        return;
      }
    }
    replyWith(res, await upstream.send(req, body));
  }, upstream);
  return { ...proxy, copies, state };
}

/** The x-amz-* headers that say what a copy does (not when, nor who sent it). */
function what(seen: Seen): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(seen.headers)) {
    if (!k.startsWith("x-amz-") || k === "x-amz-date" || k === "x-amz-user-agent") continue;
    out[k] = String(v);
  }
  return out;
}

// Keys the fixture may not hold: characters encodeURIComponent keeps but the SDK's path encoding escapes.
const EXTRA_KEYS = ["bang!quote'(paren)*star", "dot/./segment", "dotdot/../segment", "trailing/", "a//double"];

describe("lean CopyObject path", () => {
  let emulator: TestEmulator;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let lean: S3Client;
  let sdk: S3Client;
  let source: string;
  const keys = [...new Set([...awkwardKeys(), ...EXTRA_KEYS])];

  before(async () => {
    emulator = await startTestEmulator();
    ({ source } = await seedBuckets(emulator, "lean", keys));
    proxy = await recordingProxy(emulator.endpoint);
    lean = createS3Client({ endpoint: proxy.endpoint, maxAttempts: 1 });
    sdk = sdkPathS3Client({ endpoint: proxy.endpoint, maxAttempts: 1 });
  });

  after(async () => {
    lean?.destroy();
    sdk?.destroy();
    await proxy?.close();
    emulator?.s3.destroy();
    emulator?.sqs.destroy();
    await emulator?.stop();
  });

  it("is taken only for copy clients built by createS3Client with nothing added to them", () => {
    assert.ok(leanCopierOf(lean), "a bare copy client");
    assert.equal(leanCopierOf(sdk), undefined, "a client with added middleware");
    assert.equal(leanCopierOf(emulator.s3), undefined, "a client with SDK retries");
  });

  it("covers the default options, storage class, ACL, SSE and requester pays, not REPLACE directives or checksums", () => {
    assert.ok(leanCovers(undefined));
    assert.ok(leanCovers({ storageClass: "STANDARD_IA", acl: "bucket-owner-full-control", sse: "AES256", requesterPays: true }));
    assert.ok(leanCovers({ metadataDirective: "COPY", taggingDirective: "COPY" }));
    assert.ok(!leanCovers({ metadataDirective: "REPLACE", metadata: { a: "b" } }));
    assert.ok(!leanCovers({ taggingDirective: "REPLACE", tagging: "a=b" }));
    assert.ok(!leanCovers({ checksumAlgorithm: "SHA256" }));
  });

  for (const [name, options] of [
    ["default options", undefined],
    [
      "storage class, ACL, SSE, requester pays, tagging COPY",
      { storageClass: "STANDARD", acl: "private", sse: "AES256", requesterPays: true, taggingDirective: "COPY" },
    ],
  ] as const) {
    it(`copies every awkward key with ${name}, sending what the SDK path sends`, async () => {
      const jobOptions = options as JobOptions | undefined;
      const results: Record<string, Seen[]> = {};
      for (const [path, client] of [
        ["lean", lean],
        ["sdk", sdk],
      ] as const) {
        const destination = bucketName(`lean-${path}`);
        await emulator.s3.send(new CreateBucketCommand({ Bucket: destination }));
        const store = new S3ObjectStore(emulator.s3, undefined, () => client);
        const from = proxy.copies.length;
        for (const key of keys) {
          await store.copy({
            sourceBucket: source,
            sourceKey: key,
            destinationBucket: destination,
            destinationKey: key,
            size: 1,
            options: jobOptions,
          });
        }
        results[path] = proxy.copies.slice(from);
        assert.equal(results[path].length, keys.length, `${path}: one request per key`);
        for (const key of keys) {
          const [src, dst] = await Promise.all([
            emulator.s3.send(new HeadObjectCommand({ Bucket: source, Key: key })),
            emulator.s3.send(new HeadObjectCommand({ Bucket: destination, Key: key })),
          ]);
          assert.equal(dst.ETag, src.ETag, `${path}: ${JSON.stringify(key)}`);
          assert.equal(dst.ContentLength, src.ContentLength, `${path}: ${JSON.stringify(key)}`);
        }
        // Same requests but for the bucket in the path.
        results[path] = results[path].map((s) => ({ ...s, url: s.url.replace(`/${destination}/`, "/DEST/") }));
      }
      const leanSeen = results.lean ?? [];
      const sdkSeen = results.sdk ?? [];
      for (let i = 0; i < keys.length; i++) {
        const l = leanSeen[i] as Seen;
        const s = sdkSeen[i] as Seen;
        assert.equal(l.url, s.url, `path of ${JSON.stringify(keys[i])}`);
        assert.deepEqual(what(l), what(s), `x-amz-* headers of ${JSON.stringify(keys[i])}`);
        assert.match(
          String(l.headers.authorization),
          /^AWS4-HMAC-SHA256 Credential=test\/\d{8}\/us-east-1\/s3\/aws4_request, SignedHeaders=.*x-amz-copy-source/,
        );
      }
    });
  }

  async function failedCopy(client: S3Client, sourceKey: string, inject?: (res: http.ServerResponse) => void) {
    const destination = bucketName("lean-err");
    await emulator.s3.send(new CreateBucketCommand({ Bucket: destination }));
    const store = new S3ObjectStore(emulator.s3, undefined, () => client);
    proxy.state.inject = inject;
    try {
      await store.copy({ sourceBucket: source, sourceKey, destinationBucket: destination, destinationKey: "x", size: 1 });
      return undefined;
    } catch (err) {
      return { info: errorInfo(err), class: classifyError(errorInfo(err)) };
    } finally {
      proxy.state.inject = undefined;
    }
  }

  const injected: [string, ((res: http.ServerResponse) => void) | undefined, string, string][] = [
    ["a missing source key", undefined, "NoSuchKey", "vanished"],
    ["SlowDown", (res) => replyS3Error(res, 503, "SlowDown", "Please reduce your request rate."), "SlowDown", "throttle"],
    ["AccessDenied", (res) => replyS3Error(res, 403, "AccessDenied", "Access Denied"), "AccessDenied", "permanent"],
    ["InternalError", (res) => replyS3Error(res, 500, "InternalError", "We encountered an internal error."), "InternalError", "transient"],
    [
      "an error inside a 200",
      (res) => {
        res.writeHead(200, { "content-type": "application/xml" });
        res.end("<?xml version='1.0'?>\n<Error><Code>InternalError</Code><Message>boom &amp; more</Message></Error>");
      },
      "InternalError",
      "throttle",
    ],
  ];
  for (const [name, inject, code, expected] of injected) {
    it(`maps ${name} as the SDK path does: ${code}, ${expected}`, async () => {
      const key = inject ? (keys[0] as string) : "no/such/key";
      const viaLean = await failedCopy(lean, key, inject);
      const viaSdk = await failedCopy(sdk, key, inject);
      assert.ok(viaLean && viaSdk, "both paths fail");
      assert.equal(viaLean.info.code, code);
      assert.equal(viaLean.class, expected);
      assert.deepEqual(
        { code: viaLean.info.code, status: viaLean.info.status, class: viaLean.class },
        { code: viaSdk.info.code, status: viaSdk.info.status, class: viaSdk.class },
      );
    });
  }

  it("a 200 with an empty body fails as on the SDK path (InternalError, 503), not a copy", async () => {
    const empty = (res: http.ServerResponse) => {
      res.writeHead(200);
      res.end();
    };
    const viaLean = await failedCopy(lean, keys[0] as string, empty);
    const viaSdk = await failedCopy(sdk, keys[0] as string, empty);
    assert.ok(viaLean && viaSdk, "both paths fail");
    assert.deepEqual(
      { code: viaLean.info.code, status: viaLean.info.status, class: viaLean.class },
      { code: viaSdk.info.code, status: viaSdk.info.status, class: viaSdk.class },
    );
    assert.equal(viaLean.info.code, "InternalError");
  });
});
