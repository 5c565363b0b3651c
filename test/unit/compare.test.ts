import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { compareObjects, listObjects, mergeJoin } from "../../lambdas/core/compare.ts";
import { compareKeys, sortKeys } from "../../lambdas/core/keyOrder.ts";
import type { ListedObject, ListPage, ListPageRequest } from "../../lambdas/core/ports.ts";
import { anyKey } from "./arbitraries.ts";

/** A bucket in memory that pages as S3 does (byte order, StartAfter, tokens). */
function memoryLister(buckets: Record<string, string[]>) {
  let calls = 0;
  return {
    get calls() {
      return calls;
    },
    async listPage(r: ListPageRequest): Promise<ListPage> {
      calls++;
      const keys = sortKeys(buckets[r.bucket] ?? []).filter((k) => k.startsWith(r.prefix));
      const after = r.token ?? r.startAfter;
      const rest = after === undefined ? keys : keys.filter((k) => compareKeys(k, after) > 0);
      const page = rest.slice(0, r.maxKeys);
      return {
        objects: page.map((key) => ({ key, size: key.length, etag: `"${key.length}"` })),
        nextToken: rest.length > r.maxKeys ? page.at(-1) : undefined,
      };
    },
  };
}

async function collect<T>(it: AsyncIterable<T>): Promise<T[]> {
  const out: T[] = [];
  for await (const x of it) out.push(x);
  return out;
}

const obj = (key: string, size = 1, etag = '"e"'): ListedObject => ({ key, size, etag });

describe("mergeJoin", () => {
  it("pairs every key of either side exactly once, in byte order", async () => {
    await fc.assert(
      fc.asyncProperty(fc.uniqueArray(anyKey, { maxLength: 40 }), fc.uniqueArray(anyKey, { maxLength: 40 }), async (a, b) => {
        const pairs = await collect(
          mergeJoin(listObjects(memoryLister({ a }), "a", "", {}, "", 3), listObjects(memoryLister({ b }), "b", "", {}, "", 5)),
        );
        const expected = sortKeys([...new Set([...a, ...b])]);
        assert.deepEqual(
          pairs.map((p) => p.key),
          expected,
        );
        for (const p of pairs) {
          assert.equal(p.source !== undefined, a.includes(p.key));
          assert.equal(p.destination !== undefined, b.includes(p.key));
        }
      }),
      { numRuns: 300 },
    );
  });
});

describe("listObjects", () => {
  it("lists only the range, rewriting keys to another prefix", async () => {
    const lister = memoryLister({ d: ["to/a", "to/b", "to/c", "to/d", "other"] });
    const got = await collect(listObjects(lister, "d", "to/", { startAfter: "to/a", endAt: "to/c" }, "from/", 1));
    assert.deepEqual(
      got.map((o) => o.key),
      ["from/b", "from/c"],
    );
  });
});

describe("compareObjects", () => {
  it("counts the same size and ETag as identical, and tells size from content differences", () => {
    assert.equal(compareObjects(obj("k", 5, '"a"'), obj("k", 5, '"a"')), "same");
    assert.equal(compareObjects(obj("k", 5, '"a"'), obj("k", 6, '"a"')), "size");
    assert.equal(compareObjects(obj("k", 5, '"a"'), obj("k", 5, '"b"')), "etag");
  });

  it("asks to confirm differing ETags when either is of the multipart form, instead of calling them different", () => {
    const single = '"9e107d9d372bb6826bd81d3542a419d6"';
    const parts = '"e4d909c290d0fb1ca068ffaddf22cbd0-4"';
    assert.equal(compareObjects(obj("k", 50, single), obj("k", 50, parts)), "confirm");
    assert.equal(compareObjects(obj("k", 50, parts), obj("k", 50, single)), "confirm");
    assert.equal(compareObjects(obj("k", 50, single), obj("k", 51, parts)), "size");
    assert.equal(compareObjects(obj("k", 50, '"etag-1"'), obj("k", 50, '"etag-2"')), "etag", "only real multipart ETags count");
  });
});
