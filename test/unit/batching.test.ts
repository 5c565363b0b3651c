import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import {
  type BatchLimits,
  batchIdOf,
  type CopyBatch,
  DEFAULT_BATCH_LIMITS,
  packCopyBatches,
  packSendRequests,
  SEND_BATCH_MAX_ENTRIES,
} from "../../lambdas/core/batching.ts";
import { type CopyItem, copyItemWire, type JobRef, parseCopyBody } from "../../lambdas/core/messages.ts";
import { loadAwkwardKeys, s3Key } from "./arbitraries.ts";

const JOB: JobRef = {
  id: "20240305-070809-abc123",
  source: { bucket: "source-bucket", prefix: "in/\u00e9/" },
  destination: { bucket: "destination-bucket", prefix: "out/" },
};

const ETAG = '"9b2cf535f27731c974343645a3985328"';

/** Items always carry an `etag` property, as parseCopyBody returns them. */
const copyItem: fc.Arbitrary<CopyItem> = fc.record(
  {
    key: s3Key,
    size: fc.maxSafeNat(),
    etag: fc.option(fc.constantFrom(ETAG, '"0123456789abcdef0123456789abcdef-12"'), { nil: undefined }),
  },
  { noNullPrototype: true },
);

/** Listed keys are distinct, as in one S3 listing. */
const listing = fc.uniqueArray(copyItem, { selector: (i) => i.key, maxLength: 250 });

/** Caps that always fit one 1,024-byte key (up to 3,072 encoded characters) plus the envelope. */
const limits: fc.Arbitrary<BatchLimits> = fc.record({
  maxKeys: fc.integer({ min: 1, max: 120 }),
  maxBytes: fc.integer({ min: 4 * 1024, max: 64 * 1024 }),
});

function itemsOf(batches: readonly CopyBatch[]): CopyItem[] {
  return batches.flatMap((b) => parseCopyBody(b.body).items);
}

function wireLength(item: CopyItem): number {
  return JSON.stringify(copyItemWire(item)).length;
}

describe("packCopyBatches", () => {
  it("keeps every item exactly once and in order, whatever the key lengths", () => {
    fc.assert(
      fc.property(listing, limits, (items, lim) => {
        // Act
        const batches = packCopyBatches(JOB, items, lim);

        // Assess
        assert.deepEqual(itemsOf(batches), items);
      }),
      { numRuns: 300 },
    );
  });

  it("never puts more than maxKeys keys or maxBytes bytes in one message", () => {
    fc.assert(
      fc.property(listing, limits, (items, lim) => {
        // Act
        const batches = packCopyBatches(JOB, items, lim);

        // Assess
        for (const b of batches) {
          assert.ok(b.keys >= 1 && b.keys <= lim.maxKeys, `batch of ${b.keys} keys, cap ${lim.maxKeys}`);
          assert.ok(Buffer.byteLength(b.body) <= lim.maxBytes, `body of ${Buffer.byteLength(b.body)} bytes, cap ${lim.maxBytes}`);
        }
      }),
      { numRuns: 300 },
    );
  });

  it("describes each batch truthfully: id, key count and total size match its body", () => {
    fc.assert(
      fc.property(listing, limits, fc.nat({ max: 20 }), (items, lim, attempt) => {
        // Act
        const batches = packCopyBatches(JOB, items, lim, attempt);

        // Assess
        for (const b of batches) {
          const task = parseCopyBody(b.body);
          assert.equal(task.batchId, b.batchId);
          assert.equal(task.attempt, attempt);
          assert.deepEqual(task.job, JOB);
          assert.equal(b.keys, task.items.length);
          assert.equal(
            b.bytes,
            task.items.reduce((n, i) => n + i.size, 0),
          );
        }
      }),
      { numRuns: 200 },
    );
  });

  it("fills each message before starting the next one", () => {
    fc.assert(
      fc.property(listing, limits, (items, lim) => {
        // Act
        const batches = packCopyBatches(JOB, items, lim);

        // Assess
        for (let i = 0; i + 1 < batches.length; i++) {
          const b = batches[i];
          const nextFirst = batches[i + 1] && parseCopyBody(batches[i + 1]?.body ?? "").items[0];
          assert.ok(b !== undefined && nextFirst !== undefined);
          const full = b.keys === lim.maxKeys || Buffer.byteLength(b.body) + 1 + wireLength(nextFirst) > lim.maxBytes;
          assert.ok(full, `batch ${i} had room for the next key`);
        }
      }),
      { numRuns: 200 },
    );
  });

  it("keeps messages of 1,024-byte emoji keys under the default 64 KiB cap", () => {
    // Prepare
    const longEmojiKey = loadAwkwardKeys().find((k) => k.startsWith("long/\u{1f600}"));
    assert.ok(longEmojiKey !== undefined && Buffer.byteLength(longEmojiKey) === 1024);
    // Same length, distinct keys: swap the trailing ASCII for a counter.
    const stem = longEmojiKey.replace(/z+$/, "");
    const items = Array.from({ length: 250 }, (_, i): CopyItem => ({ key: `${stem}${String(i).padStart(3, "0")}`, size: i, etag: ETAG }));
    assert.ok(items.every((i) => Buffer.byteLength(i.key) === 1024));

    // Act
    const batches = packCopyBatches(JOB, items);

    // Assess
    assert.ok(batches.length > Math.ceil(items.length / DEFAULT_BATCH_LIMITS.maxKeys), "the byte cap, not the key cap, must cut these");
    for (const b of batches) assert.ok(Buffer.byteLength(b.body) <= DEFAULT_BATCH_LIMITS.maxBytes);
    assert.deepEqual(itemsOf(batches), items);
  });

  it("packs every awkward fixture key and parses it back intact", () => {
    // Prepare
    const items = loadAwkwardKeys().map((key, i): CopyItem => ({ key, size: i, etag: undefined }));

    // Act
    const batches = packCopyBatches(JOB, items, { maxKeys: 7, maxBytes: 8 * 1024 });

    // Assess
    assert.deepEqual(itemsOf(batches), items);
    for (const b of batches) assert.match(b.body, /^[\x20-\x7e]*$/);
  });

  it("cuts 250 small keys into messages of 100, 100 and 50 by default", () => {
    // Prepare
    const items = Array.from({ length: 250 }, (_, i): CopyItem => ({ key: `k/${i}`, size: 1, etag: undefined }));

    // Act
    const batches = packCopyBatches(JOB, items);

    // Assess
    assert.deepEqual(
      batches.map((b) => b.keys),
      [100, 100, 50],
    );
  });

  it("returns no batches for no items", () => {
    // Act
    const batches = packCopyBatches(JOB, []);

    // Assess
    assert.deepEqual(batches, []);
  });

  it("throws RangeError for a single key larger than the cap", () => {
    // Prepare
    const huge: CopyItem = { key: "\u00e9".repeat(512), size: 1, etag: undefined };

    // Act / Assess
    assert.throws(
      () => packCopyBatches(JOB, [{ key: "small", size: 1, etag: undefined }, huge], { maxKeys: 100, maxBytes: 1024 }),
      RangeError,
    );
  });

  it("gives the same ids to the same listing, every time", () => {
    fc.assert(
      fc.property(listing, limits, fc.nat({ max: 5 }), (items, lim, attempt) => {
        // Act
        const first = packCopyBatches(JOB, items, lim, attempt, "parent");
        const second = packCopyBatches(
          JOB,
          items.map((i) => ({ ...i })),
          lim,
          attempt,
          "parent",
        );

        // Assess
        assert.deepEqual(
          second.map((b) => b.batchId),
          first.map((b) => b.batchId),
        );
        assert.deepEqual(second, first);
      }),
      { numRuns: 100 },
    );
  });

  it("gives distinct ids to the batches of one listing", () => {
    fc.assert(
      fc.property(listing, limits, (items, lim) => {
        // Act
        const ids = packCopyBatches(JOB, items, lim).map((b) => b.batchId);

        // Assess
        assert.equal(new Set(ids).size, ids.length);
        for (const id of ids) assert.match(id, /^[A-Za-z0-9_-]{1,128}$/);
      }),
      { numRuns: 200 },
    );
  });

  it("gives different ids to other attempts, other parents and other jobs", () => {
    fc.assert(
      fc.property(
        listing.filter((l) => l.length > 0),
        limits,
        fc.nat({ max: 5 }),
        (items, lim, attempt) => {
          // Act
          const ids = (batches: CopyBatch[]) => batches.map((b) => b.batchId);
          const base = ids(packCopyBatches(JOB, items, lim, attempt, "p1"));
          const variants = [
            ids(packCopyBatches(JOB, items, lim, attempt + 1, "p1")),
            ids(packCopyBatches(JOB, items, lim, attempt, "p2")),
            ids(packCopyBatches(JOB, items, lim, attempt, "")),
            ids(packCopyBatches({ ...JOB, id: "other-job" }, items, lim, attempt, "p1")),
          ];

          // Assess
          for (const other of variants) assert.ok(other.every((id) => !base.includes(id)));
        },
      ),
      { numRuns: 100 },
    );
  });

  it("gives different ids to different key lists, even when keys contain NUL", () => {
    // Prepare: S3 keys may contain U+0000; the id must not depend on where keys are cut.
    const a: CopyItem[] = [
      { key: "a\u0000b", size: 1, etag: undefined },
      { key: "c", size: 1, etag: undefined },
    ];
    const b: CopyItem[] = [
      { key: "a", size: 1, etag: undefined },
      { key: "b\u0000c", size: 1, etag: undefined },
    ];

    // Act
    const idA = batchIdOf(JOB.id, a, 0);
    const idB = batchIdOf(JOB.id, b, 0);

    // Assess
    assert.notEqual(idA, idB);
  });
});

describe("packSendRequests", () => {
  const body = fc.string({ unit: fc.constantFrom("a", "\u00e9", "\u4e2d", "\u{1f600}"), maxLength: 300 });
  const messages = fc.array(fc.record({ id: fc.nat(), body }, { noNullPrototype: true }), { maxLength: 60 });

  it("keeps every message once, in order, in requests of at most 10 entries and maxBytes", () => {
    fc.assert(
      fc.property(messages, fc.integer({ min: 1200, max: 5000 }), (msgs, maxBytes) => {
        // Act
        const requests = packSendRequests(msgs, SEND_BATCH_MAX_ENTRIES, maxBytes);

        // Assess
        assert.deepEqual(requests.flat(), msgs);
        for (const r of requests) {
          assert.ok(r.length >= 1 && r.length <= SEND_BATCH_MAX_ENTRIES);
          const bytes = r.reduce((n, m) => n + Buffer.byteLength(m.body), 0);
          assert.ok(bytes <= maxBytes, `request of ${bytes} bytes, cap ${maxBytes}`);
        }
        for (const m of requests.flat()) assert.ok(msgs.includes(m), "the very same message objects are returned");
      }),
      { numRuns: 300 },
    );
  });

  it("counts bytes, not UTF-16 code units", () => {
    // Prepare: 3 bodies of 100 emoji are 200 code units but 400 bytes each.
    const msgs = [0, 1, 2].map((id) => ({ id, body: "\u{1f600}".repeat(100) }));

    // Act
    const requests = packSendRequests(msgs, 10, 1000);

    // Assess
    assert.deepEqual(
      requests.map((r) => r.map((m) => m.id)),
      [[0, 1], [2]],
    );
  });

  it("cuts 25 small messages into requests of 10, 10 and 5 by default", () => {
    // Prepare
    const msgs = Array.from({ length: 25 }, (_, id) => ({ id, body: "{}" }));

    // Act
    const requests = packSendRequests(msgs);

    // Assess
    assert.deepEqual(
      requests.map((r) => r.length),
      [10, 10, 5],
    );
  });

  it("returns no requests for no messages", () => {
    // Act
    const requests = packSendRequests([]);

    // Assess
    assert.deepEqual(requests, []);
  });
});
