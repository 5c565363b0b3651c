import assert from "node:assert/strict";
import { describe, it } from "node:test";
import fc from "fast-check";
import { type ChunkRecord, CsvParser, type OpenBytes, plainChunkRecords, wholeFileRecords } from "../../lambdas/core/csv.ts";
import { ManifestError } from "../../lambdas/core/manifest.ts";
import { anyKey } from "./arbitraries.ts";

function parseAll(text: string | Buffer): { start: number; end: number; fields: readonly string[] }[] {
  const parser = new CsvParser(0);
  const bytes = typeof text === "string" ? Buffer.from(text) : text;
  return [...parser.push(bytes), ...parser.finish()];
}

/** A file served in blocks of `block` bytes from any offset, as a Range GET streams it. */
function served(file: Buffer, block: number): OpenBytes & { opened: number[] } {
  const opened: number[] = [];
  const open = async function* (start: number) {
    opened.push(start);
    for (let i = start; i < file.length; i += block) yield file.subarray(i, Math.min(file.length, i + block));
  };
  return Object.assign(open, { opened });
}

async function collect(records: AsyncIterable<ChunkRecord>): Promise<ChunkRecord[]> {
  const out: ChunkRecord[] = [];
  for await (const r of records) out.push(r);
  return out;
}

/** Every record of the file, read chunk by chunk as the seeded list messages would. */
async function readInChunks(file: Buffer, chunkBytes: number, block: number): Promise<string[][]> {
  const rows: string[][] = [];
  const count = Math.max(1, Math.ceil(file.length / chunkBytes));
  for (let i = 0; i < count; i++) {
    const window = { start: i * chunkBytes, end: Math.min(file.length, (i + 1) * chunkBytes) };
    for (const r of await collect(plainChunkRecords(served(file, block), window, { row: 0, byte: window.start }))) rows.push([...r.fields]);
  }
  return rows;
}

/** RFC 4180 writing: quote a field when it holds a comma, a quote or a line break (or, sometimes, anyway). */
function csvField(value: string, alwaysQuote: boolean): string {
  return alwaysQuote || /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

const fieldText = fc.string({ unit: fc.constantFrom("a", "b", " ", ",", '"', "é", "😀", "%2B", "+", "\t"), maxLength: 8 });
const lineBreakText = fc.string({ unit: fc.constantFrom("a", ",", '"', "\n", "\r\n", "é"), maxLength: 6 });

interface CsvFile {
  readonly rows: string[][];
  readonly bytes: Buffer;
}

function csvFile(field: fc.Arbitrary<string>): fc.Arbitrary<CsvFile> {
  return fc
    .record({
      rows: fc.array(fc.array(field, { minLength: 1, maxLength: 4 }), { maxLength: 12 }),
      crlf: fc.boolean(),
      trailing: fc.boolean(),
      quoteAll: fc.boolean(),
    })
    .map(({ rows, crlf, trailing, quoteAll }) => {
      // A lone empty field would be a blank line, which reads as [""]: write it quoted to keep the row as written.
      const lines = rows.map((r) => r.map((f) => csvField(f, quoteAll || (r.length === 1 && f === ""))).join(","));
      const eol = crlf ? "\r\n" : "\n";
      const text = lines.join(eol) + (trailing && lines.length > 0 ? eol : "");
      return { rows, bytes: Buffer.from(text) };
    });
}

describe("CsvParser", () => {
  it("reads quoted fields with commas, doubled quotes and line breaks, with each record's byte offsets", () => {
    // Prepare
    const text = 'a,b\r\n"x,y","q""z"\n\n"multi\nline",2\nlast,row';

    // Act
    const records = parseAll(text);

    // Assess
    assert.deepEqual(records, [
      { start: 0, end: 5, fields: ["a", "b"] },
      { start: 5, end: 18, fields: ["x,y", 'q"z'] },
      { start: 18, end: 19, fields: [""] },
      { start: 19, end: 34, fields: ["multi\nline", "2"] },
      { start: 34, end: 42, fields: ["last", "row"] },
    ]);
  });

  it("reads the same records whatever pieces the bytes come in", () => {
    fc.assert(
      fc.property(csvFile(lineBreakText), fc.array(fc.integer({ min: 1, max: 7 }), { minLength: 1 }), (file, sizes) => {
        const parser = new CsvParser(0);
        const records: { start: number; end: number; fields: readonly string[] }[] = [];
        let at = 0;
        for (let i = 0; at < file.bytes.length; i++) {
          const n = sizes[i % sizes.length] ?? 1;
          records.push(...parser.push(file.bytes.subarray(at, at + n)));
          at += n;
        }
        records.push(...parser.finish());
        assert.deepEqual(records, parseAll(file.bytes));
        assert.deepEqual(
          records.map((r) => r.fields),
          file.rows,
        );
      }),
      { numRuns: 500 },
    );
  });

  it("keeps multi-byte characters whole when a piece ends inside one", () => {
    // Prepare
    const bytes = Buffer.from("😀é,x\n");
    const parser = new CsvParser(0);

    // Act
    const records = [...bytes].flatMap((b) => parser.push(Uint8Array.of(b)));

    // Assess
    assert.deepEqual(
      records.map((r) => r.fields),
      [["😀é", "x"]],
    );
  });

  it("rejects a quote inside an unquoted field, text after a closing quote, and an unterminated quote", () => {
    assert.throws(() => parseAll('ab"c,d\n'), ManifestError);
    assert.throws(() => parseAll('"ab"c,d\n'), ManifestError);
    assert.throws(() => parseAll('"ab,d\n'), /unterminated quoted field/);
  });

  it("treats a lone CR inside an unquoted field as text", () => {
    assert.deepEqual(
      parseAll("a\rb,c\r\n").map((r) => r.fields),
      [["a\rb", "c"]],
    );
  });

  it("reads a last record without a line terminator, and nothing after a final one", () => {
    assert.deepEqual(
      parseAll("a,b\nc,d").map((r) => r.fields),
      [
        ["a", "b"],
        ["c", "d"],
      ],
    );
    assert.deepEqual(
      parseAll("a,b\n").map((r) => r.fields),
      [["a", "b"]],
    );
    assert.deepEqual(parseAll(""), []);
  });
});

describe("plainChunkRecords", () => {
  it("yields every row exactly once, in order, wherever the file is cut into chunks", async () => {
    await fc.assert(
      fc.asyncProperty(csvFile(fieldText), fc.integer({ min: 1, max: 40 }), fc.integer({ min: 1, max: 9 }), async (file, chunk, block) => {
        assert.deepEqual(await readInChunks(file.bytes, chunk, block), file.rows);
      }),
      { numRuns: 1000 },
    );
  });

  it("yields every row of keys of any characters exactly once, in every chunk size", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(fc.tuple(anyKey, fc.boolean()), { maxLength: 10 }), async (keys) => {
        const rows = keys.map(([k]) => ["bucket", k.replace(/[\r\n]/g, "_")]);
        const text = rows.map((r, i) => r.map((f) => csvField(f, keys[i]?.[1] ?? false)).join(",")).join("\n");
        const bytes = Buffer.from(text);
        for (let chunk = 1; chunk <= bytes.length + 1; chunk++) assert.deepEqual(await readInChunks(bytes, chunk, 5), rows);
      }),
      { numRuns: 60 },
    );
  });

  it("never loses or repeats a row when quoted fields hold line breaks: a cut through one fails loudly instead", async () => {
    await fc.assert(
      fc.asyncProperty(csvFile(lineBreakText), fc.integer({ min: 1, max: 30 }), async (file, chunk) => {
        let rows: string[][];
        try {
          rows = await readInChunks(file.bytes, chunk, 4);
        } catch (err) {
          assert.ok(err instanceof ManifestError, String(err));
          return;
        }
        assert.deepEqual(rows, file.rows);
      }),
      { numRuns: 1000 },
    );
  });

  it("reads past the chunk's end to finish its last row, and the next chunk begins after it", async () => {
    // Prepare
    const file = Buffer.from("b,k1\nb,a-long-key\nb,k3\n");
    const first = { start: 0, end: 8 };
    const second = { start: 8, end: file.length };

    // Act
    const a = await collect(plainChunkRecords(served(file, 3), first, { row: 0, byte: 0 }));
    const b = await collect(plainChunkRecords(served(file, 3), second, { row: 0, byte: 8 }));

    // Assess
    assert.deepEqual(
      a.map((r) => r.fields[1]),
      ["k1", "a-long-key"],
    );
    assert.deepEqual(
      b.map((r) => [r.fields[1], r.row, r.start]),
      [["k3", 0, 18]],
    );
  });

  it("resumes at a row's byte offset with its row number, reading from there", async () => {
    // Prepare
    const file = Buffer.from("b,k1\nb,k2\nb,k3\nb,k4\n");
    const open = served(file, 64);
    const window = { start: 0, end: file.length };
    const all = await collect(plainChunkRecords(served(file, 64), window, { row: 0, byte: 0 }));
    const third = all[2];
    assert.ok(third);

    // Act
    const rest = await collect(plainChunkRecords(open, window, { row: third.row, byte: third.start }));

    // Assess
    assert.deepEqual(open.opened, [third.start]);
    assert.deepEqual(
      rest.map((r) => [r.fields[1], r.row]),
      [
        ["k3", 2],
        ["k4", 3],
      ],
    );
  });

  it("owns nothing when no row starts inside the chunk", async () => {
    // Prepare
    const file = Buffer.from("b,a-key-longer-than-the-chunk\nb,k2\n");

    // Act
    const records = await collect(plainChunkRecords(served(file, 4), { start: 5, end: 10 }, { row: 0, byte: 5 }));

    // Assess
    assert.deepEqual(records, []);
  });

  it("stops reading soon after the chunk's end rather than reading the rest of the file", async () => {
    // Prepare
    const file = Buffer.from(`${"b,k\n".repeat(1000)}`);
    let served = 0;
    const open: OpenBytes = async function* (start) {
      for (let i = start; i < file.length; i += 16) {
        served += 16;
        yield file.subarray(i, i + 16);
      }
    };

    // Act
    const records = await collect(plainChunkRecords(open, { start: 0, end: 40 }, { row: 0, byte: 0 }));

    // Assess
    assert.equal(records.length, 10);
    assert.ok(served <= 64, `read ${served} bytes`);
  });
});

describe("wholeFileRecords", () => {
  it("skips the rows already handled and numbers the rest from there", async () => {
    // Prepare
    async function* bytes() {
      yield Buffer.from("b,k1\nb,k2\n");
      yield Buffer.from("b,k3\nb,k4");
    }

    // Act
    const records = await collect(wholeFileRecords(bytes(), 2));

    // Assess
    assert.deepEqual(
      records.map((r) => [r.fields[1], r.row]),
      [
        ["k3", 2],
        ["k4", 3],
      ],
    );
  });
});
