/**
 * RFC 4180 CSV at the byte level, incremental, with the byte offset of every
 * record, and the reading of one manifest chunk.
 *
 * Quoted fields may hold commas, doubled quotes and line breaks; a record
 * ends at LF or CRLF outside quotes. The parser is strict (a quote inside an
 * unquoted field, or anything but a separator after a closing quote, is an
 * error), which is also what exposes a reader that started inside a quoted
 * field.
 *
 * A plain file is cut into byte ranges [start, end). A record belongs to the
 * chunk in which it starts. A chunk's reader cannot know whether byte
 * `start` is inside quotes, so it begins right after the first LF at or after
 * `start - 1` ("sync"), and reads on past `end` to finish its last record.
 * That is exact whenever no quoted field holds a raw line break across a cut;
 * the chunk before such a cut sees its last record run past where the next
 * chunk begins and fails with ManifestError instead of letting a key be lost
 * or read twice. (Manifest keys are URL-encoded, so raw line breaks in fields
 * do not occur in well-formed manifests.)
 */
import { ManifestError } from "./manifest.ts";

const LF = 0x0a;
const CR = 0x0d;
const QUOTE = 0x22;
const COMMA = 0x2c;

export interface CsvRecord {
  /** Byte offset of the record's first byte. */
  readonly start: number;
  /** Byte offset just past its line terminator (or the end of input). */
  readonly end: number;
  readonly fields: readonly string[];
}

enum State {
  FieldStart,
  Unquoted,
  Quoted,
  /** A quote inside a quoted field: the closing one, or the first of a doubled pair. */
  QuoteInQuoted,
  /** A CR outside quotes: a CRLF terminator if LF follows. */
  CarriageReturn,
}

const utf8 = new TextDecoder("utf-8", { fatal: true });

/** Feeds bytes in any pieces; returns the records they complete. */
export class CsvParser {
  private state = State.FieldStart;
  private quotedField = false;
  private field = new Uint8Array(256);
  private fieldLength = 0;
  private fields: string[] = [];
  private recordStart: number;
  private pos: number;

  /** @param offset the byte offset of the first byte pushed */
  constructor(offset = 0) {
    this.pos = offset;
    this.recordStart = offset;
  }

  /** Offset of the next byte to push. */
  get position(): number {
    return this.pos;
  }

  push(bytes: Uint8Array): CsvRecord[] {
    const out: CsvRecord[] = [];
    for (let i = 0; i < bytes.length; i++) {
      const b = bytes[i] as number;
      this.step(b, out);
      this.pos++;
    }
    return out;
  }

  /** End of input: the last record, if it had no terminator. */
  finish(): CsvRecord[] {
    const out: CsvRecord[] = [];
    switch (this.state) {
      case State.Quoted:
        throw new ManifestError(`unterminated quoted field in the record at byte ${this.recordStart}`);
      case State.FieldStart:
        if (this.fields.length === 0) return out;
        this.endField();
        break;
      default:
        this.endField();
    }
    this.endRecord(out, this.pos);
    return out;
  }

  private step(b: number, out: CsvRecord[]): void {
    switch (this.state) {
      case State.FieldStart:
        if (b === QUOTE) {
          this.state = State.Quoted;
          this.quotedField = true;
        } else if (b === COMMA) this.endField();
        else if (b === LF) this.endLine(out);
        else if (b === CR) this.state = State.CarriageReturn;
        else {
          this.append(b);
          this.state = State.Unquoted;
        }
        return;
      case State.Unquoted:
        if (b === COMMA) {
          this.endField();
          this.state = State.FieldStart;
        } else if (b === LF) this.endLine(out);
        else if (b === CR) this.state = State.CarriageReturn;
        else if (b === QUOTE) throw new ManifestError(`a quote inside an unquoted field at byte ${this.pos}`);
        else this.append(b);
        return;
      case State.Quoted:
        if (b === QUOTE) this.state = State.QuoteInQuoted;
        else this.append(b);
        return;
      case State.QuoteInQuoted:
        if (b === QUOTE) {
          this.append(QUOTE);
          this.state = State.Quoted;
        } else if (b === COMMA) {
          this.endField();
          this.state = State.FieldStart;
        } else if (b === LF) this.endLine(out);
        else if (b === CR) this.state = State.CarriageReturn;
        else throw new ManifestError(`unexpected character after a closing quote at byte ${this.pos}`);
        return;
      case State.CarriageReturn:
        if (b === LF) {
          this.endLine(out);
          return;
        }
        // A lone CR is text in an unquoted field; after a closing quote it is an error.
        if (this.quotedField) throw new ManifestError(`unexpected character after a closing quote at byte ${this.pos - 1}`);
        this.append(CR);
        this.state = State.Unquoted;
        this.step(b, out);
        return;
    }
  }

  private append(b: number): void {
    if (this.fieldLength === this.field.length) {
      const bigger = new Uint8Array(this.field.length * 2);
      bigger.set(this.field);
      this.field = bigger;
    }
    this.field[this.fieldLength++] = b;
  }

  private endField(): void {
    let text: string;
    try {
      text = utf8.decode(this.field.subarray(0, this.fieldLength));
    } catch {
      throw new ManifestError(`a field of the record at byte ${this.recordStart} is not UTF-8`);
    }
    this.fields.push(text);
    this.fieldLength = 0;
    this.quotedField = false;
  }

  /** The LF at this.pos ends the record. */
  private endLine(out: CsvRecord[]): void {
    this.endField();
    this.endRecord(out, this.pos + 1);
  }

  private endRecord(out: CsvRecord[], end: number): void {
    out.push({ start: this.recordStart, end, fields: this.fields });
    this.fields = [];
    this.recordStart = end;
    this.state = State.FieldStart;
    this.quotedField = false;
  }
}

/** A record of a chunk, numbered from the chunk's first record. */
export interface ChunkRecord extends CsvRecord {
  readonly row: number;
}

/** Bytes of a file from an offset to its end; the reader stops early by leaving the loop. */
export type OpenBytes = (start: number) => AsyncIterable<Uint8Array>;

export interface ChunkWindow {
  readonly start: number;
  readonly end: number;
}

/**
 * The records of a plain file's chunk [start, end), from a position: `row`
 * records already handled and `byte` the offset of the next one (used when
 * row > 0). Reads past `end` only to finish the chunk's last record.
 */
export async function* plainChunkRecords(
  open: OpenBytes,
  window: ChunkWindow,
  position: { readonly row: number; readonly byte: number },
): AsyncGenerator<ChunkRecord> {
  const { start, end } = window;
  const resuming = position.row > 0;
  // Reading begins at a record start we know, or one byte early to sync on the LF before `start`.
  const syncing = !resuming && start > 0;
  if (syncing && start >= end) return;
  const from = resuming ? position.byte : syncing ? start - 1 : start;
  let parser: CsvParser | undefined = syncing ? undefined : new CsvParser(from);
  let offset = from;
  let row = position.row;
  /** Just past the first LF at or after end - 1: where the next chunk's reader begins. */
  let nextChunkBegins: number | undefined;
  /** The chunk's last record must end exactly where the next chunk begins. */
  const checkLast = (last: CsvRecord): void => {
    if (nextChunkBegins !== undefined && last.end !== nextChunkBegins) {
      throw new ManifestError(
        `the record at byte ${last.start} runs past byte ${nextChunkBegins}, where the next chunk begins: a quoted field holds a line break across a chunk cut`,
      );
    }
  };

  for await (const block of open(from)) {
    const blockStart = offset;
    offset += block.length;
    if (nextChunkBegins === undefined && offset > end - 1) {
      const lf = block.indexOf(LF, Math.max(0, end - 1 - blockStart));
      if (lf >= 0) nextChunkBegins = blockStart + lf + 1;
    }
    let bytes = block;
    if (parser === undefined) {
      const lf = block.indexOf(LF);
      if (lf < 0) continue;
      const first = blockStart + lf + 1;
      if (first >= end) return; // no record starts in this chunk
      parser = new CsvParser(first);
      bytes = block.subarray(lf + 1);
    }
    for (const record of parser.push(bytes)) {
      const last = record.end >= end;
      if (last) checkLast(record);
      yield { ...record, row: row++ };
      if (last) return;
    }
  }
  if (parser === undefined) return;
  for (const record of parser.finish()) {
    checkLast(record);
    yield { ...record, row: row++ };
  }
}

/** The records of a whole (decompressed) file, skipping the first `row` of them. */
export async function* wholeFileRecords(bytes: AsyncIterable<Uint8Array>, skip: number): AsyncGenerator<ChunkRecord> {
  const parser = new CsvParser(0);
  let row = 0;
  for await (const block of bytes) {
    for (const record of parser.push(block)) {
      if (row >= skip) yield { ...record, row };
      row++;
    }
  }
  for (const record of parser.finish()) {
    if (row >= skip) yield { ...record, row };
    row++;
  }
}
