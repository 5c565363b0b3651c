/** Seeds a bucket with known objects (demo, tests, bench) and checks copies of them. */

import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { CreateBucketCommand, GetObjectCommand, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";

export interface SeedObject {
  readonly key: string;
  readonly body: Uint8Array;
  readonly contentType: string;
  readonly metadata: Readonly<Record<string, string>>;
}

const FIXTURE = fileURLToPath(new URL("../../test/fixtures/awkward-keys.json", import.meta.url));

/** Every key in test/fixtures/awkward-keys.json (a copy of shared/fixtures). */
export function awkwardKeys(): string[] {
  return (JSON.parse(readFileSync(FIXTURE, "utf8")) as { keys: string[] }).keys;
}

const TYPES = ["text/plain", "application/json", "image/png", "application/octet-stream"];

/** A deterministic object for a key: its body, type and metadata derive from the key. */
export function seedObject(key: string, i: number): SeedObject {
  const body = key === "zero-byte-object" ? new Uint8Array(0) : new TextEncoder().encode(`${i}:${key}:${"x".repeat(i % 97)}`);
  return {
    key,
    body,
    contentType: TYPES[i % TYPES.length] ?? "text/plain",
    metadata: { seq: String(i), origin: "s3-fanout-seed" },
  };
}

/** `count` generated keys across a few prefixes, some starting outside ASCII. */
export function generatedKeys(count: number, prefix = ""): string[] {
  const heads = ["data/", "logs/2026/", "img/", "Z/", "é/", "日本/", "😀/", "~tilde/", " space/", "0/"];
  return Array.from({ length: count }, (_, i) => `${prefix}${heads[i % heads.length]}${String(i).padStart(7, "0")}.bin`);
}

export async function ensureBucket(s3: S3Client, bucket: string): Promise<void> {
  try {
    await s3.send(new CreateBucketCommand({ Bucket: bucket }));
  } catch (err) {
    const name = (err as { name?: string }).name;
    if (name !== "BucketAlreadyOwnedByYou" && name !== "BucketAlreadyExists") throw err;
  }
}

export async function mapLimit<T, R>(items: readonly T[], limit: number, fn: (item: T, i: number) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let next = 0;
  const worker = async () => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i] as T, i);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}

export async function putObjects(s3: S3Client, bucket: string, objects: readonly SeedObject[], concurrency = 32): Promise<void> {
  await mapLimit(objects, concurrency, (o) =>
    s3.send(new PutObjectCommand({ Bucket: bucket, Key: o.key, Body: o.body, ContentType: o.contentType, Metadata: { ...o.metadata } })),
  );
}

export interface ObjectMismatch {
  readonly key: string;
  readonly problem: string;
}

/** Reads every expected object back from `bucket` and lists what differs. */
export async function checkObjects(
  s3: S3Client,
  bucket: string,
  expected: readonly SeedObject[],
  keyOf: (key: string) => string = (k) => k,
  concurrency = 32,
): Promise<ObjectMismatch[]> {
  const results = await mapLimit(expected, concurrency, async (o): Promise<ObjectMismatch | undefined> => {
    const key = keyOf(o.key);
    try {
      const got = await s3.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
      const body = got.Body ? await got.Body.transformToByteArray() : new Uint8Array(0);
      if (Buffer.compare(Buffer.from(body), Buffer.from(o.body)) !== 0) return { key, problem: "bytes differ" };
      if (got.ContentType !== o.contentType) return { key, problem: `content type ${got.ContentType} != ${o.contentType}` };
      for (const [k, v] of Object.entries(o.metadata)) {
        if (got.Metadata?.[k] !== v) return { key, problem: `metadata ${k}=${got.Metadata?.[k]} != ${v}` };
      }
      return undefined;
    } catch (err) {
      return { key, problem: `missing: ${(err as Error).name}` };
    }
  });
  return results.filter((r): r is ObjectMismatch => r !== undefined);
}
