/**
 * The lean ListObjectsV2 path (lambdas/aws/leanS3.ts) against the SDK path,
 * over real HTTP to the emulator through a recording proxy: every awkward
 * key lists the same way page by page (prefix, start-after, continuation),
 * the requests carry the same query, and any answer the lean path does not
 * know (an error, a throttle, a body that is not a listing) is listed again
 * the SDK's way, with the SDK's retries and error.
 */
import assert from "node:assert/strict";
import type http from "node:http";
import { after, before, describe, it } from "node:test";
import type { S3Client } from "@aws-sdk/client-s3";
import { createS3Client, leanListerOf } from "../../lambdas/aws/clients.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import type { ListedObject } from "../../lambdas/core/ports.ts";
import { awkwardKeys, seedObject } from "../../scripts/lib/seed.ts";
import { sdkPathS3Client, seedBuckets, startTestEmulator, type TestEmulator } from "../support/emulator.ts";
import { type ListeningProxy, listen, readBody, replyS3Error, replyWith, upstreamTo } from "../support/forward.ts";

interface SeenList {
  readonly query: URLSearchParams;
  /** Sent by the SDK's middleware, never by the lean path. */
  readonly sdk: boolean;
}

/** Forwards everything, records each listing, and answers the next listings itself while `inject` holds answers. */
async function recordingProxy(target: string) {
  const lists: SeenList[] = [];
  const inject: ((res: http.ServerResponse) => void)[] = [];
  const upstream = upstreamTo(target);
  const proxy: ListeningProxy = await listen(async (req, res) => {
    const body = await readBody(req);
    const url = new URL(req.url ?? "/", "http://proxy");
    if (req.method === "GET" && url.searchParams.get("list-type") === "2") {
      lists.push({ query: url.searchParams, sdk: req.headers["amz-sdk-invocation-id"] !== undefined });
      const answer = inject.shift();
      if (answer) {
        answer(res);
        return;
      }
    }
    replyWith(res, await upstream.send(req, body));
  }, upstream);
  return { ...proxy, lists, inject };
}

/** Every page of a listing as the lister asks for it: the first by start-after, the rest by token. */
async function listAll(store: S3ObjectStore, bucket: string, prefix: string, maxKeys: number, startAfter?: string) {
  const pages: ListedObject[][] = [];
  let token: string | undefined;
  do {
    const page = await store.listPage({ bucket, prefix, maxKeys, startAfter, token });
    pages.push([...page.objects]);
    token = page.nextToken;
  } while (token !== undefined);
  return pages;
}

// Keys the list encoding treats specially: `+` and space (S3 writes a space as `+`), `%`, `&`, `<`.
const EXTRA_KEYS = ["plus+sign", "space and+plus", "per%25cent", "amp&ersand<lt>", "q?uery#frag", "trailing/"];

describe("lean ListObjectsV2 path", () => {
  let emulator: TestEmulator;
  let proxy: Awaited<ReturnType<typeof recordingProxy>>;
  let lean: S3Client;
  let sdk: S3Client;
  let source: string;
  const keys = [...new Set([...awkwardKeys(), ...EXTRA_KEYS])].sort(compareKeys);

  before(async () => {
    emulator = await startTestEmulator();
    ({ source } = await seedBuckets(emulator, "leanlist", keys));
    proxy = await recordingProxy(emulator.endpoint);
    lean = createS3Client({ endpoint: proxy.endpoint });
    sdk = sdkPathS3Client({ endpoint: proxy.endpoint });
  });

  after(async () => {
    lean?.destroy();
    sdk?.destroy();
    await proxy?.close();
    emulator?.s3.destroy();
    emulator?.sqs.destroy();
    await emulator?.stop();
  });

  it("is taken only by clients built by createS3Client with nothing added to them", () => {
    assert.ok(leanListerOf(lean), "a bare client");
    assert.equal(leanListerOf(sdk), undefined, "a client with added middleware");
  });

  for (const [name, prefix, maxKeys, startAfter] of [
    ["the whole bucket, 1,000 keys a page", "", 1000, undefined],
    ["the whole bucket, 7 keys a page", "", 7, undefined],
    ["after a key, 5 keys a page", "", 5, "plus+sign"],
    ["under a prefix, 3 keys a page", "s", 3, undefined],
  ] as const) {
    it(`lists every awkward key as the SDK path does: ${name}`, async () => {
      const from = proxy.lists.length;
      const viaLean = await listAll(new S3ObjectStore(lean), source, prefix, maxKeys, startAfter);
      const leanSeen = proxy.lists.slice(from);
      const mid = proxy.lists.length;
      const viaSdk = await listAll(new S3ObjectStore(sdk), source, prefix, maxKeys, startAfter);
      const sdkSeen = proxy.lists.slice(mid);

      assert.deepEqual(viaLean, viaSdk, "the same pages, keys, sizes and ETags");
      const expected = keys.filter((k) => k.startsWith(prefix) && (startAfter === undefined || compareKeys(k, startAfter) > 0));
      assert.ok(expected.length > 0, "the case lists something");
      assert.deepEqual(
        viaLean.flat().map((o) => o.key),
        expected,
      );
      // Sizes as seeded (seedBuckets numbers the keys in the order given).
      const seeded = new Map(keys.map((k, i) => [k, seedObject(k, i).body.length]));
      assert.deepEqual(
        viaLean.flat().map((o) => [o.key, o.size, /^"[0-9a-f]{32}"$/.test(o.etag ?? "")]),
        expected.map((k) => [k, seeded.get(k), true]),
      );
      assert.ok(
        leanSeen.every((s) => !s.sdk),
        "the lean client listed every page the lean way",
      );
      assert.ok(sdkSeen.every((s) => s.sdk));
      // The same query, page by page (the continuation tokens are the emulator's own, the same for both).
      const queries = (seen: SeenList[]) => seen.map((s) => [...s.query].sort(([a], [b]) => a.localeCompare(b)));
      assert.deepEqual(queries(leanSeen), queries(sdkSeen));
    });
  }

  it("lists a page the SDK's way, retrying, when the lean path is answered SlowDown", async () => {
    const expected = await listAll(new S3ObjectStore(sdk), source, "", 1000);
    const from = proxy.lists.length;
    proxy.inject.push((res) => replyS3Error(res, 503, "SlowDown", "Please reduce your request rate."));
    proxy.inject.push((res) => replyS3Error(res, 503, "SlowDown", "Please reduce your request rate."));
    const pages = await listAll(new S3ObjectStore(lean), source, "", 1000);
    assert.deepEqual(pages, expected);
    // The lean try, then the SDK's tries: one throttled, one answered.
    assert.deepEqual(
      proxy.lists.slice(from).map((s) => s.sdk),
      [false, true, true],
    );
  });

  it("lists a page the SDK's way when the answer is not a listing (an HTML 200)", async () => {
    const expected = await listAll(new S3ObjectStore(sdk), source, "", 1000);
    const from = proxy.lists.length;
    proxy.inject.push((res) => {
      res.writeHead(200, { "content-type": "text/html" });
      res.end("<html><body>captive portal</body></html>");
    });
    assert.deepEqual(await listAll(new S3ObjectStore(lean), source, "", 1000), expected);
    assert.deepEqual(
      proxy.lists.slice(from).map((s) => s.sdk),
      [false, true],
    );
  });

  it("fails a missing bucket with the SDK's error", async () => {
    const missing = (client: S3Client) =>
      new S3ObjectStore(client).listPage({ bucket: "no-such-bucket-lean", prefix: "", maxKeys: 1000 }).then(
        () => "listed",
        (e: unknown) => (e as Error).name,
      );
    const [viaLean, viaSdk] = [await missing(lean), await missing(sdk)];
    assert.equal(viaLean, "NoSuchBucket");
    assert.equal(viaLean, viaSdk);
  });
});
