/**
 * Conformance of the embedded S3 emulator (fauxqs, patched by
 * patches/fauxqs+2.4.1.patch) with the S3 listing behaviour s3-fanout relies on:
 * - keys are listed in UTF-8 byte order (= code point order), across pages;
 * - with EncodingType=url, keys and echoed parameters come back form-encoded.
 * Without the patch these tests fail: keys are lost between pages and keys
 * come back raw (so control characters and `+`/space cannot be told apart).
 */

import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { after, before, describe, it } from "node:test";
import {
  CreateBucketCommand,
  ListObjectsCommand,
  type ListObjectsCommandOutput,
  ListObjectsV2Command,
  type ListObjectsV2CommandOutput,
  PutObjectCommand,
  S3Client,
} from "@aws-sdk/client-s3";
import { startFauxqs } from "fauxqs";
import { decodeS3ListKey } from "../../lambdas/core/keyCodec.ts";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";

type Fauxqs = Awaited<ReturnType<typeof startFauxqs>>;

const BUCKET = "conformance-awkward";
const ASCII_BUCKET = "conformance-ascii";
const PAGE_SIZES = [1, 2, 7, 1000] as const;

/** The shared awkward-key fixture: `{ about, keys }`. */
function loadFixtureKeys(): string[] {
  const raw: unknown = JSON.parse(readFileSync(new URL("../fixtures/awkward-keys.json", import.meta.url), "utf8"));
  if (typeof raw !== "object" || raw === null || !("keys" in raw) || !Array.isArray(raw.keys)) {
    throw new Error("awkward-keys.json: expected { about, keys: string[] }");
  }
  const keys: unknown[] = raw.keys;
  if (!keys.every((k): k is string => typeof k === "string")) {
    throw new Error("awkward-keys.json: every key must be a string");
  }
  return keys;
}

const ASCII_A_TO_M = [..."abcdefghijklm"];
const LONG_PREFIX = `shared/${"x".repeat(300)}/`;

const OWN_KEYS = [
  // ASCII a..m
  ...ASCII_A_TO_M,
  // Only code points above U+FFFF (surrogate pairs in UTF-16, 4 bytes in UTF-8).
  "\u{10000}",
  "\u{1F600}",
  "\u{1F600}\u{1F600}",
  "\u{10FFFD}",
  // Only code points in U+E000–U+FFFF (above the surrogates in UTF-16, 3 bytes in UTF-8).
  "\uE000",
  "\uF8FF",
  "\uFB01",
  "\uFF5E",
  "\uFFFD\uFFFD",
  // Long shared prefixes whose last characters fall into every UTF-8 length class.
  `${LONG_PREFIX}a`,
  `${LONG_PREFIX}b`,
  `${LONG_PREFIX}\u00e9`,
  `${LONG_PREFIX}\uFFFD`,
  `${LONG_PREFIX}\u{1F600}`,
  `${LONG_PREFIX}\u{1F600}/deeper`,
  // Keys that differ only after a common prefix, at the UTF-16 vs UTF-8 trap.
  "q",
  "q/",
  "q\uD7FF",
  "q\uE000",
  "q\uFFFF",
  "q\u{10000}",
  "q\u{1F600}z",
  "q\u{1F600}\uE000",
  "q\u{1F600}\u{1F600}",
  "q a",
  "q+a",
  "q%20a",
];

const KEYS = [...loadFixtureKeys(), ...OWN_KEYS];

/** Independent oracle: compare the UTF-8 bytes. */
function utf8Compare(a: string, b: string): number {
  return Buffer.compare(Buffer.from(a, "utf8"), Buffer.from(b, "utf8"));
}

function byteOrder(keys: Iterable<string>): string[] {
  return [...keys].sort(utf8Compare);
}

/** A key for test names and messages: invisible and unassigned characters as \u{…}, long keys cut. */
function show(key: string): string {
  const chars = Array.from(key);
  const cut = chars.length > 48 ? `${chars.slice(0, 45).join("")}…` : key;
  return JSON.stringify(cut).replace(/[^\p{L}\p{N}\p{P}\p{S} ]/gu, (c) => `\\u{${(c.codePointAt(0) ?? 0).toString(16)}}`);
}

/** What a url-encoded listing value may contain (encodeURIComponent output plus `+` and `/`). */
const URL_ENCODED = /^[A-Za-z0-9\-_.!~*'()%+/]*$/;

function decodeListed(encoded: string | undefined, what: string): string {
  assert.ok(encoded !== undefined, `${what} is missing`);
  assert.match(encoded, URL_ENCODED, `${what} is not url-encoded: ${show(encoded)}`);
  return decodeS3ListKey(encoded);
}

/** Asserts `listed` is exactly `expected` (each once) and ascends in UTF-8 byte order. */
function assertListing(listed: readonly string[], expected: readonly string[], context: string): void {
  const seen = new Map<string, number>();
  for (const key of listed) seen.set(key, (seen.get(key) ?? 0) + 1);
  const duplicated = [...seen].filter(([, n]) => n > 1).map(([k]) => show(k));
  const wanted = new Set(expected);
  const missing = expected.filter((k) => !seen.has(k)).map(show);
  const unexpected = listed.filter((k) => !wanted.has(k)).map(show);
  assert.deepEqual(duplicated, [], `${context}: keys listed more than once`);
  assert.deepEqual(missing, [], `${context}: keys not listed`);
  assert.deepEqual(unexpected, [], `${context}: keys listed that should not be`);

  const outOfOrderByCompareKeys: string[] = [];
  const outOfOrderByBytes: string[] = [];
  for (let i = 1; i < listed.length; i++) {
    const prev = listed[i - 1] as string;
    const cur = listed[i] as string;
    if (!(compareKeys(prev, cur) < 0)) outOfOrderByCompareKeys.push(`${show(prev)} before ${show(cur)}`);
    if (!(utf8Compare(prev, cur) < 0)) outOfOrderByBytes.push(`${show(prev)} before ${show(cur)}`);
  }
  assert.deepEqual(outOfOrderByCompareKeys, [], `${context}: not in compareKeys order`);
  assert.deepEqual(outOfOrderByBytes, [], `${context}: not in UTF-8 byte order`);
  assert.equal(listed.length, expected.length, `${context}: count`);
}

interface V2Listing {
  /** Keys and common prefixes, decoded, each page sorted, pages concatenated. */
  entries: string[];
  keys: string[];
  commonPrefixes: string[];
  pages: ListObjectsV2CommandOutput[];
}

describe("S3 emulator listing conformance (fauxqs + patch)", () => {
  let server: Fauxqs;
  let s3: S3Client;

  async function putAll(bucket: string, keys: readonly string[]): Promise<void> {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
    for (const key of keys) {
      const body = key === "zero-byte-object" ? "" : "x";
      // An explicit ContentLength: the SDK sets none for an empty body and then warns.
      await s3.send(new PutObjectCommand({ Bucket: bucket, Key: key, Body: body, ContentLength: body.length }));
    }
  }

  async function listV2(
    bucket: string,
    opts: { maxKeys: number; prefix?: string; startAfter?: string; delimiter?: string },
  ): Promise<V2Listing> {
    const out: V2Listing = { entries: [], keys: [], commonPrefixes: [], pages: [] };
    let token: string | undefined;
    const pageLimit = KEYS.length + 10;
    do {
      const page = await s3.send(
        new ListObjectsV2Command({
          Bucket: bucket,
          MaxKeys: opts.maxKeys,
          Prefix: opts.prefix,
          StartAfter: opts.startAfter,
          Delimiter: opts.delimiter,
          ContinuationToken: token,
          EncodingType: "url",
        }),
      );
      out.pages.push(page);
      const n = out.pages.length;
      assert.equal(page.EncodingType, "url", `page ${n}: EncodingType`);
      const keys = (page.Contents ?? []).map((c) => decodeListed(c.Key, `page ${n} Key`));
      const prefixes = (page.CommonPrefixes ?? []).map((p) => decodeListed(p.Prefix, `page ${n} CommonPrefix`));
      assert.ok(keys.length + prefixes.length <= opts.maxKeys, `page ${n}: more than MaxKeys entries`);
      out.keys.push(...keys);
      out.commonPrefixes.push(...prefixes);
      out.entries.push(...byteOrder([...keys, ...prefixes]));
      token = page.IsTruncated ? page.NextContinuationToken : undefined;
      if (page.IsTruncated) assert.ok(token, `page ${n}: truncated without NextContinuationToken`);
      assert.ok(n <= pageLimit, "listing does not terminate");
    } while (token);
    return out;
  }

  async function listV1(
    bucket: string,
    opts: { maxKeys: number; delimiter?: string },
  ): Promise<{ entries: string[]; pages: ListObjectsCommandOutput[] }> {
    const entries: string[] = [];
    const pages: ListObjectsCommandOutput[] = [];
    let marker: string | undefined;
    do {
      const page = await s3.send(
        new ListObjectsCommand({
          Bucket: bucket,
          MaxKeys: opts.maxKeys,
          Marker: marker,
          Delimiter: opts.delimiter,
          EncodingType: "url",
        }),
      );
      pages.push(page);
      const n = pages.length;
      assert.equal(page.EncodingType, "url", `page ${n}: EncodingType`);
      assert.equal(decodeListed(page.Marker ?? "", `page ${n} Marker`), marker ?? "", `page ${n}: Marker echo`);
      const keys = (page.Contents ?? []).map((c) => decodeListed(c.Key, `page ${n} Key`));
      const prefixes = (page.CommonPrefixes ?? []).map((p) => decodeListed(p.Prefix, `page ${n} CommonPrefix`));
      assert.ok(keys.length + prefixes.length <= opts.maxKeys, `page ${n}: more than MaxKeys entries`);
      const pageEntries = byteOrder([...keys, ...prefixes]);
      entries.push(...pageEntries);
      if (!page.IsTruncated) break;
      // S3 only promises NextMarker with a delimiter; otherwise the next marker is the last key.
      const last = pageEntries.at(-1);
      if (page.NextMarker !== undefined) {
        assert.equal(decodeListed(page.NextMarker, `page ${n} NextMarker`), last, `page ${n}: NextMarker`);
      } else {
        assert.equal(opts.delimiter, undefined, `page ${n}: truncated with a delimiter but no NextMarker`);
      }
      assert.ok(last !== undefined, `page ${n}: truncated but empty`);
      marker = last;
      assert.ok(n <= KEYS.length + 10, "listing does not terminate");
    } while (marker !== undefined);
    return { entries, pages };
  }

  /** S3's delimiter semantics, computed independently of the emulator. */
  function expectedWithDelimiter(keys: readonly string[], prefix: string, delimiter: string): string[] {
    const entries = new Set<string>();
    for (const key of keys) {
      if (!key.startsWith(prefix)) continue;
      const at = key.indexOf(delimiter, prefix.length);
      entries.add(at < 0 ? key : key.slice(0, at + delimiter.length));
    }
    return byteOrder(entries);
  }

  before(async () => {
    assert.equal(new Set(KEYS).size, KEYS.length, "test keys must be distinct");
    server = await startFauxqs({ port: 0, logger: false });
    s3 = new S3Client({
      endpoint: server.address,
      region: "us-east-1",
      forcePathStyle: true,
      credentials: { accessKeyId: "test", secretAccessKey: "test" },
    });
    await putAll(BUCKET, KEYS);
    await putAll(ASCII_BUCKET, ASCII_A_TO_M);
  });

  after(async () => {
    s3?.destroy();
    await server?.stop();
  });

  it("the test oracles agree: compareKeys sorts the key set exactly like UTF-8 bytes", () => {
    assert.deepEqual([...KEYS].sort(compareKeys), byteOrder(KEYS));
  });

  for (const maxKeys of PAGE_SIZES) {
    it(`ListObjectsV2 (EncodingType=url, MaxKeys=${maxKeys}) lists every key exactly once in UTF-8 byte order`, async () => {
      const listing = await listV2(BUCKET, { maxKeys });
      assertListing(listing.keys, byteOrder(KEYS), `MaxKeys=${maxKeys}`);
      assert.equal(listing.pages.length, Math.max(1, Math.ceil(KEYS.length / maxKeys)), "page count");
    });
  }

  it("13 ASCII keys a..m listed with MaxKeys=1 all come back, alone and next to awkward keys (original bug report)", async () => {
    const alone = await listV2(ASCII_BUCKET, { maxKeys: 1 });
    assert.deepEqual(alone.keys, ASCII_A_TO_M);
    const mixed = await listV2(BUCKET, { maxKeys: 1 });
    assert.deepEqual(
      mixed.keys.filter((k) => ASCII_A_TO_M.includes(k)),
      ASCII_A_TO_M,
    );
  });

  const START_AFTER = [
    "\u0001control",
    "carriage\rreturn",
    "new\nline",
    " leading-space",
    "a b+c%20d",
    "plus+sign",
    "%2F-not-a-slash",
    "\ud7ff-before-surrogates",
    "\ue000-private-use",
    "\uffff-max-bmp",
    "\ud83d\ude00/smile",
    "q\uFFFF",
    `${LONG_PREFIX}\uFFFD`,
    "not-a-key-\u{1F600}",
  ];
  for (const startAfter of START_AFTER) {
    it(`StartAfter=${show(startAfter)} lists exactly the keys after it in UTF-8 byte order`, async () => {
      const expected = byteOrder(KEYS).filter((k) => utf8Compare(k, startAfter) > 0);
      for (const maxKeys of [7, 1000]) {
        const listing = await listV2(BUCKET, { maxKeys, startAfter });
        assertListing(listing.keys, expected, `StartAfter, MaxKeys=${maxKeys}`);
        const first = listing.pages[0];
        assert.ok(first);
        assert.equal(decodeListed(first.StartAfter, "StartAfter echo"), startAfter);
      }
    });
  }

  const PREFIXES = [
    "long/",
    "dir/",
    "a b+",
    "plus+",
    "%2F",
    "carriage\r",
    "\u0001",
    "\u4e2d\u6587/",
    "\u{1F600}",
    "\uFFFD",
    "q",
    "q\u{1F600}",
    LONG_PREFIX,
    "no-such-prefix/",
  ];
  for (const prefix of PREFIXES) {
    it(`Prefix=${show(prefix)} with EncodingType=url lists exactly the keys starting with it`, async () => {
      const expected = byteOrder(KEYS.filter((k) => k.startsWith(prefix)));
      for (const maxKeys of [2, 1000]) {
        const listing = await listV2(BUCKET, { maxKeys, prefix });
        assertListing(listing.keys, expected, `Prefix, MaxKeys=${maxKeys}`);
        for (const page of listing.pages) assert.equal(decodeListed(page.Prefix, "Prefix echo"), prefix);
      }
    });
  }

  for (const maxKeys of PAGE_SIZES) {
    it(`ListObjectsV2 with Delimiter="/" (MaxKeys=${maxKeys}) lists every key and common prefix once, in order`, async () => {
      const listing = await listV2(BUCKET, { maxKeys, delimiter: "/" });
      assertListing(listing.entries, expectedWithDelimiter(KEYS, "", "/"), `Delimiter, MaxKeys=${maxKeys}`);
      for (const page of listing.pages) assert.equal(decodeListed(page.Delimiter, "Delimiter echo"), "/");
      assert.ok(listing.commonPrefixes.includes("\ud83d\ude00/"), "astral common prefix");
      assert.ok(listing.commonPrefixes.includes("/"), "common prefix of a leading-slash key");
    });
  }

  it("ListObjectsV2 with Prefix and Delimiter pages through nested common prefixes", async () => {
    const prefix = LONG_PREFIX;
    const expected = expectedWithDelimiter(KEYS, prefix, "/");
    assert.ok(expected.includes(`${LONG_PREFIX}\u{1F600}/`));
    for (const maxKeys of [1, 2, 1000]) {
      const listing = await listV2(BUCKET, { maxKeys, prefix, delimiter: "/" });
      assertListing(listing.entries, expected, `Prefix+Delimiter, MaxKeys=${maxKeys}`);
    }
  });

  for (const maxKeys of PAGE_SIZES) {
    it(`ListObjects V1 (EncodingType=url, MaxKeys=${maxKeys}) pages by Marker through every key once, in order`, async () => {
      const listing = await listV1(BUCKET, { maxKeys });
      assertListing(listing.entries, byteOrder(KEYS), `V1 MaxKeys=${maxKeys}`);
    });
  }

  it("ListObjects V1 with Delimiter returns a url-encoded NextMarker that pages through every entry once", async () => {
    const listing = await listV1(BUCKET, { maxKeys: 2, delimiter: "/" });
    assertListing(listing.entries, expectedWithDelimiter(KEYS, "", "/"), "V1 Delimiter MaxKeys=2");
    assert.ok(listing.pages.some((p) => p.NextMarker !== undefined));
  });
});
