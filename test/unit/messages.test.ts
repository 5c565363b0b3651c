import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { MalformedMessageError } from "../../lambdas/core/errors.ts";
import {
  asciiJson,
  type CopyItem,
  type CopyTask,
  copyBody,
  type JobRef,
  type ListTask,
  listBody,
  parseCopyBody,
  parseListBody,
} from "../../lambdas/core/messages.ts";
import { anyKey, graphemeString, hasLoneSurrogate, loadAwkwardKeys, s3Key } from "./arbitraries.ts";

/** Code units SQS accepts in a body: #x9 #xA #xD #x20-#xD7FF #xE000-#xFFFD (astral pairs are not expected here). */
function sqsAccepts(unit: number): boolean {
  return unit === 0x09 || unit === 0x0a || unit === 0x0d || (unit >= 0x20 && unit <= 0xd7ff) || (unit >= 0xe000 && unit <= 0xfffd);
}

const JOB: JobRef = {
  id: "20240305-070809-abc123",
  source: { bucket: "source-bucket", prefix: "in/\u00e9 +%/" },
  destination: { bucket: "destination-bucket", prefix: "out/\u{1f600}/" },
};

function assertSqsSafe(body: string): void {
  for (let i = 0; i < body.length; i++) {
    const unit = body.charCodeAt(i);
    assert.ok(unit <= 0x7f, `non-ASCII U+${unit.toString(16).padStart(4, "0")} at ${i} in ${body.slice(Math.max(0, i - 20), i + 20)}`);
    assert.ok(sqsAccepts(unit), `SQS rejects U+${unit.toString(16).padStart(4, "0")} at ${i}`);
  }
}

function listTask(overrides: Partial<ListTask> = {}): ListTask {
  return { job: JOB, range: { startAfter: undefined, endAt: undefined }, token: undefined, hop: 0, ...overrides };
}

function copyTask(items: readonly CopyItem[], overrides: Partial<CopyTask> = {}): CopyTask {
  return { job: JOB, batchId: "batch_1-x", attempt: 0, items, ...overrides };
}

function item(key: string, size = 1, etag: string | undefined = '"d41d8cd98f00b204e9800998ecf8427e"'): CopyItem {
  return { key, size, etag };
}

/** The body as a plain object, to break it on purpose. */
function wire(body: string): Record<string, unknown> {
  const parsed: unknown = JSON.parse(body);
  assert.ok(typeof parsed === "object" && parsed !== null && !Array.isArray(parsed));
  return { ...parsed };
}

function assertMalformed(parse: () => unknown, reason: RegExp): void {
  assert.throws(parse, (err: unknown) => {
    assert.ok(err instanceof MalformedMessageError, `expected MalformedMessageError, got ${String(err)}`);
    assert.equal(err.name, "MalformedMessageError");
    assert.match(err.message, reason);
    return true;
  });
}

const keys = fc.oneof(anyKey, graphemeString, s3Key);
const PLAIN = { noNullPrototype: true } as const;
const location = fc.record({ bucket: fc.stringMatching(/^[a-z0-9][a-z0-9.-]{2,62}$/), prefix: keys }, PLAIN);
const jobRef: fc.Arbitrary<JobRef> = fc.record(
  {
    id: fc.stringMatching(/^[A-Za-z0-9_-]{1,64}$/),
    source: location,
    destination: location,
  },
  PLAIN,
);
const optionalKey = fc.option(keys, { nil: undefined });
const etag = fc.option(
  fc.stringMatching(/^[0-9a-f]{32}(-[0-9]{1,5})?$/).map((h) => `"${h}"`),
  { nil: undefined },
);
const copyItem: fc.Arbitrary<CopyItem> = fc.record({ key: keys, size: fc.maxSafeNat(), etag }, PLAIN);

describe("listBody / parseListBody", () => {
  it("round-trips a list task for every awkward fixture key as range bounds", () => {
    // Prepare
    const tasks = loadAwkwardKeys().map((k) =>
      listTask({
        job: { ...JOB, source: { bucket: "s", prefix: k } },
        range: { startAfter: k, endAt: `${k}\u{10ffff}` },
        token: "tok",
        hop: 3,
      }),
    );

    // Act
    const parsed = tasks.map((t) => parseListBody(listBody(t)));

    // Assess
    assert.deepEqual(parsed, tasks);
  });

  it("round-trips arbitrary list tasks and always produces an SQS-safe ASCII body", () => {
    // Prepare
    const task: fc.Arbitrary<ListTask> = fc.record(
      {
        job: jobRef,
        range: fc.record({ startAfter: optionalKey, endAt: optionalKey }, PLAIN),
        token: fc.option(fc.string({ unit: "binary", minLength: 1, maxLength: 200 }), { nil: undefined }),
        hop: fc.nat(),
      },
      PLAIN,
    );

    fc.assert(
      fc.property(task, (t) => {
        // Act
        const body = listBody(t);

        // Assess
        assertSqsSafe(body);
        assert.deepEqual(parseListBody(body), t);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps open range bounds open", () => {
    // Prepare
    const task = listTask({ range: { startAfter: "a", endAt: undefined } });

    // Act
    const parsed = parseListBody(listBody(task));

    // Assess
    assert.equal(parsed.range.startAfter, "a");
    assert.equal(parsed.range.endAt, undefined);
  });
});

describe("copyBody / parseCopyBody", () => {
  it("round-trips every awkward fixture key in one batch", () => {
    // Prepare
    const task = copyTask(
      loadAwkwardKeys().map((k, i) => item(k, i)),
      { attempt: 2 },
    );

    // Act
    const body = copyBody(task);
    const parsed = parseCopyBody(body);

    // Assess
    assertSqsSafe(body);
    assert.deepEqual(parsed, task);
  });

  it("sends keys that SQS rejects as encoded text", () => {
    // Prepare
    const rejected = ["\u0000", "\u0001control", "\ufffe-noncharacter", "\uffff-max-bmp", "\u001b[31m"];
    const task = copyTask(rejected.map((k) => item(k)));

    // Act
    const body = copyBody(task);

    // Assess
    assertSqsSafe(body);
    for (const k of rejected) assert.ok(!body.includes(k));
    assert.deepEqual(
      parseCopyBody(body).items.map((i) => i.key),
      rejected,
    );
  });

  it("round-trips arbitrary copy tasks and always produces an SQS-safe ASCII body", () => {
    // Prepare
    const task: fc.Arbitrary<CopyTask> = fc.record(
      {
        job: jobRef,
        batchId: fc.stringMatching(/^[A-Za-z0-9_-]{1,128}$/),
        attempt: fc.nat({ max: 1000 }),
        items: fc.array(copyItem, { minLength: 1, maxLength: 20 }),
      },
      PLAIN,
    );

    fc.assert(
      fc.property(task, (t) => {
        // Act
        const body = copyBody(t);

        // Assess
        assertSqsSafe(body);
        assert.deepEqual(parseCopyBody(body), t);
      }),
      { numRuns: 500 },
    );
  });

  it("keeps a non-ASCII ETag out of the raw body", () => {
    // Prepare: S3-compatible stores are not bound to hex ETags; the body must stay SQS-safe whatever they return.
    const task = copyTask([item("k", 1, '"\u00e9t\u00e9"'), item("k2", 2, "\uffff")]);

    // Act
    const body = copyBody(task);

    // Assess
    assertSqsSafe(body);
    assert.deepEqual(parseCopyBody(body), task);
  });
});

describe("message validation", () => {
  it("rejects a body that is not JSON", () => {
    assertMalformed(() => parseCopyBody("not json {"), /not JSON/);
    assertMalformed(() => parseListBody(""), /not JSON/);
  });

  it("rejects JSON that is not an object", () => {
    for (const body of ["null", "[]", "42", '"copy"']) {
      assertMalformed(() => parseCopyBody(body), /JSON object|version/);
    }
  });

  it("rejects another message version, naming it", () => {
    // Prepare
    const body = JSON.stringify({ ...wire(copyBody(copyTask([item("k")]))), v: 2 });

    // Act / Assess
    assertMalformed(() => parseCopyBody(body), /version 2/);
  });

  it("rejects a message without a version", () => {
    // Prepare
    const { v: _dropped, ...rest } = wire(listBody(listTask()));

    // Act / Assess
    assertMalformed(() => parseListBody(JSON.stringify(rest)), /version/);
  });

  it("rejects a list message handed to the copy parser and vice versa, naming both types", () => {
    // Prepare
    const list = listBody(listTask());
    const copy = copyBody(copyTask([item("k")]));

    // Act / Assess
    assertMalformed(() => parseCopyBody(list), /expected a copy message, got list/);
    assertMalformed(() => parseListBody(copy), /expected a list message, got copy/);
  });

  it("rejects a copy message with a missing field, naming the field", () => {
    for (const field of ["job", "batch", "attempt", "items"]) {
      // Prepare
      const { [field]: _dropped, ...rest } = wire(copyBody(copyTask([item("k")])));

      // Act / Assess
      assertMalformed(() => parseCopyBody(JSON.stringify(rest)), new RegExp(field));
    }
  });

  it("rejects a list message with a missing field, naming the field", () => {
    for (const field of ["job", "range", "hop"]) {
      // Prepare
      const { [field]: _dropped, ...rest } = wire(listBody(listTask()));

      // Act / Assess
      assertMalformed(() => parseListBody(JSON.stringify(rest)), new RegExp(field));
    }
  });

  it("rejects a copy message with more than 1,000 items", () => {
    // Prepare
    const body = copyBody(copyTask(Array.from({ length: 1001 }, (_, i) => item(`k${i}`))));

    // Act / Assess
    assertMalformed(() => parseCopyBody(body), /items/);
  });

  it("rejects a copy message with no items", () => {
    // Prepare
    const body = JSON.stringify({ ...wire(copyBody(copyTask([item("k")]))), items: [] });

    // Act / Assess
    assertMalformed(() => parseCopyBody(body), /items/);
  });

  it("rejects a copy item with a negative or fractional size, naming where", () => {
    for (const s of [-1, 1.5, "12"]) {
      // Prepare
      const body = JSON.stringify({ ...wire(copyBody(copyTask([item("k")]))), items: [{ k: "k", s }] });

      // Act / Assess
      assertMalformed(() => parseCopyBody(body), /items\.0\.s/);
    }
  });

  it("rejects a job id or batch id with characters outside the safe set", () => {
    // Prepare
    const base = wire(copyBody(copyTask([item("k")])));
    const badBatch = JSON.stringify({ ...base, batch: "a/b" });
    const badJob = JSON.stringify({ ...base, job: { ...JOB, id: "../x" } });

    // Act / Assess
    assertMalformed(() => parseCopyBody(badBatch), /batch/);
    assertMalformed(() => parseCopyBody(badJob), /job\.id/);
  });

  it("rejects a copy message whose key is not valid transport encoding as malformed (poison, not retried)", () => {
    // Prepare: "%E0%A4" is truncated UTF-8, "%ED%A0%80" a lone surrogate.
    for (const k of ["%E0%A4", "%ED%A0%80", "%"]) {
      const body = JSON.stringify({ ...wire(copyBody(copyTask([item("k")]))), items: [{ k, s: 1 }] });

      // Act / Assess
      assertMalformed(() => parseCopyBody(body), /key|encod/);
    }
  });

  it("rejects a list message whose range bound is not valid transport encoding as malformed", () => {
    // Prepare
    const body = JSON.stringify({ ...wire(listBody(listTask())), range: { startAfter: "%C3" } });

    // Act / Assess
    assertMalformed(() => parseListBody(body), /key|encod/);
  });
});

describe("asciiJson", () => {
  it("escapes every non-ASCII character, astral ones as surrogate pairs", () => {
    // Act
    const json = asciiJson({ k: "\u00e9\u007f\uffff\u{1f600}" });

    // Assess
    assert.equal(json, '{"k":"\\u00e9\\u007f\\uffff\\ud83d\\ude00"}');
  });

  it("escapes control characters and lone surrogates as JSON.stringify does", () => {
    // Act
    const json = asciiJson(["\u0000\n\t", "\ud800"]);

    // Assess
    assert.equal(json, '["\\u0000\\n\\t","\\ud800"]');
  });

  it("is SQS-safe ASCII and parses back to the same value, lone surrogates included", () => {
    // Prepare
    const value = fc.oneof(
      fc.string({ unit: "binary", maxLength: 30 }),
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 30 }),
      fc.jsonValue(),
    );

    fc.assert(
      fc.property(value, (v) => {
        // Act
        const json = asciiJson(v);

        // Assess
        assertSqsSafe(json);
        assert.deepEqual(JSON.parse(json), JSON.parse(JSON.stringify(v)));
      }),
      { numRuns: 1000 },
    );
  });

  it("generates lone surrogates in the property above (guards the generator)", () => {
    // Act
    const samples = fc.sample(
      fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), minLength: 30, maxLength: 30 }),
      { numRuns: 50, seed: 42 },
    );

    // Assess
    assert.ok(samples.some(hasLoneSurrogate));
  });
});
