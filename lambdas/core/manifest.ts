/**
 * Manifests: a job can take its keys from a list instead of a listing.
 * - `csv`: an S3 Batch Operations CSV manifest (S3BatchOperations_CSV_20180820),
 *   rows `bucket,key[,versionId]`, no header.
 * - `inventory`: an S3 Inventory report (S3InventoryReport_CSV_20161130): a
 *   manifest.json naming CSV data files (usually .csv.gz) whose columns are
 *   its `fileSchema`.
 *
 * Keys in both are URL-encoded as S3 encodes everywhere it URL-encodes keys
 * (listings with EncodingType=url, inventory, event notifications): form
 * encoding, a space as `+` and a plus as `%2B`. A raw `+` is therefore a
 * space. Any encoder that is not form encoding (encodeURIComponent, Python's
 * quote) writes a plus as `%2B`, so it decodes right too.
 *
 * The manifest is read by the list function in chunks: a plain file is cut
 * into byte ranges up front; a gzip file cannot be cut and is one chunk. This
 * module is AWS-free: the chunk plan, the inventory manifest, and what a row
 * means.
 */
import * as v from "valibot";
import { S3FanoutError } from "./errors.ts";
import { decodeS3ListKey } from "./keyCodec.ts";

export type ManifestFormat = "csv" | "inventory";

/** A manifest that cannot be read as one: retrying cannot help. */
export class ManifestError extends S3FanoutError {}

/** One unit of manifest reading, seeded by the kickoff as one list message. */
export interface ManifestChunk {
  /** Where the file of this chunk is (a CSV manifest, or one inventory data file). */
  readonly bucket: string;
  readonly key: string;
  /** The file's ETag when the kickoff knew it: reads are pinned to it (a changed file fails, not mixes). */
  readonly etag?: string | undefined;
  readonly format: ManifestFormat;
  /** A gzip file is read whole, from its start, and never cut. */
  readonly gzip: boolean;
  /** Column names of an inventory data file, as its manifest's `fileSchema` gives them. */
  readonly schema?: string | undefined;
  /** This chunk's index among all the job's chunks, from 0. */
  readonly chunk: number;
  /** How many chunks the job seeded. */
  readonly of: number;
  /** Bytes [start, end) of the file: a row belongs to the chunk in which it starts. Gzip: 0 and the file's size. */
  readonly start: number;
  readonly end: number;
}

/** How far a chunk has been read, carried by its continuation. */
export interface ManifestPosition {
  /** Records of the chunk already handled (blank lines included). */
  readonly row: number;
  /** Byte offset of the next record (plain files; 0 until known). Gzip files skip `row` records instead. */
  readonly byte: number;
}

export type ManifestTask = ManifestChunk & ManifestPosition;

/** The default byte range of a plain manifest chunk. */
export const DEFAULT_MANIFEST_CHUNK_BYTES = 64 * 1024 * 1024;

export function isGzipKey(key: string): boolean {
  return /\.gz$/i.test(key);
}

/** The format a manifest URL names: `.json` is an inventory manifest, anything else a Batch Operations CSV. */
export function manifestFormatOf(key: string): ManifestFormat {
  return /\.json$/i.test(key) ? "inventory" : "csv";
}

/** One file to read: a CSV manifest, or one data file of an inventory. */
export interface ManifestFile {
  readonly bucket: string;
  readonly key: string;
  readonly size: number;
  readonly etag?: string | undefined;
  readonly format: ManifestFormat;
  readonly schema?: string | undefined;
}

/**
 * The chunks of a job's manifest files, in order: byte ranges of at most
 * `chunkBytes` for a plain file (one empty chunk for an empty file), the
 * whole file for a gzip one.
 */
export function planChunks(files: readonly ManifestFile[], chunkBytes: number = DEFAULT_MANIFEST_CHUNK_BYTES): ManifestChunk[] {
  if (!Number.isInteger(chunkBytes) || chunkBytes < 1) throw new RangeError("chunkBytes must be a positive integer");
  const spans: Omit<ManifestChunk, "chunk" | "of">[] = [];
  for (const f of files) {
    const base = { bucket: f.bucket, key: f.key, etag: f.etag, format: f.format, schema: f.schema };
    if (isGzipKey(f.key)) {
      spans.push({ ...base, gzip: true, start: 0, end: f.size });
      continue;
    }
    const count = Math.max(1, Math.ceil(f.size / chunkBytes));
    for (let i = 0; i < count; i++) {
      spans.push({ ...base, gzip: false, start: i * chunkBytes, end: Math.min(f.size, (i + 1) * chunkBytes) });
    }
  }
  return spans.map((s, chunk) => ({ ...s, chunk, of: spans.length }));
}

const InventoryManifestSchema = v.object({
  sourceBucket: v.optional(v.string()),
  destinationBucket: v.optional(v.string()),
  fileFormat: v.string(),
  fileSchema: v.string(),
  files: v.array(
    v.object({
      key: v.pipe(v.string(), v.minLength(1)),
      size: v.pipe(v.number(), v.integer(), v.minValue(0)),
    }),
  ),
});

/**
 * The data files an S3 Inventory manifest.json names. They live in the
 * inventory's destination bucket (an ARN in the manifest); without one, in
 * the manifest's own bucket. Only the CSV format is read.
 */
export function parseInventoryManifest(text: string, manifestBucket: string): ManifestFile[] {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new ManifestError("inventory manifest is not JSON");
  }
  const result = v.safeParse(InventoryManifestSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new ManifestError(`inventory manifest is invalid${path ? ` at ${path}` : ""}: ${issue?.message ?? "unknown"}`);
  }
  const m = result.output;
  if (m.fileFormat.toUpperCase() !== "CSV") throw new ManifestError(`inventory format ${m.fileFormat} is not supported (only CSV)`);
  inventoryLayout(m.fileSchema);
  const bucket = m.destinationBucket ? m.destinationBucket.replace(/^arn:aws[a-z-]*:s3:::/, "") : manifestBucket;
  return m.files.map((f) => ({ bucket, key: f.key, size: f.size, format: "inventory", schema: m.fileSchema }));
}

/** Where a row's fields are. */
export interface RowLayout {
  readonly columns: number;
  /** A Batch Operations row may leave out its version id: 2 or 3 fields. */
  readonly minColumns: number;
  readonly bucket: number;
  readonly key: number;
  readonly versionId?: number | undefined;
  readonly size?: number | undefined;
  readonly etag?: number | undefined;
  readonly isLatest?: number | undefined;
  readonly isDeleteMarker?: number | undefined;
}

export const BATCH_OPERATIONS_LAYOUT: RowLayout = { columns: 3, minColumns: 2, bucket: 0, key: 1, versionId: 2 };

/** Column positions of an inventory `fileSchema` such as "Bucket, Key, Size, LastModifiedDate, ETag". */
export function inventoryLayout(schema: string): RowLayout {
  const names = schema.split(",").map((n) => n.trim().toLowerCase());
  const at = (name: string) => {
    const i = names.indexOf(name);
    return i < 0 ? undefined : i;
  };
  const bucket = at("bucket");
  const key = at("key");
  if (bucket === undefined || key === undefined) throw new ManifestError(`inventory fileSchema lacks Bucket or Key: "${schema}"`);
  return {
    columns: names.length,
    minColumns: names.length,
    bucket,
    key,
    versionId: at("versionid"),
    size: at("size"),
    etag: at("etag"),
    isLatest: at("islatest"),
    isDeleteMarker: at("isdeletemarker"),
  };
}

export function layoutOf(chunk: Pick<ManifestChunk, "format" | "schema">): RowLayout {
  if (chunk.format === "csv") return BATCH_OPERATIONS_LAYOUT;
  if (chunk.schema === undefined) throw new ManifestError("an inventory chunk needs its fileSchema");
  return inventoryLayout(chunk.schema);
}

/** What one manifest row asks for. */
export type ManifestEntry =
  | {
      readonly kind: "object";
      readonly bucket: string;
      readonly key: string;
      readonly versionId?: string | undefined;
      /** Known from an inventory's Size column; otherwise a HEAD finds it. */
      readonly size?: number | undefined;
      readonly etag?: string | undefined;
    }
  /** An empty line. */
  | { readonly kind: "blank" }
  /** An inventory row of a delete marker or of an older version: nothing to copy. */
  | { readonly kind: "skip"; readonly reason: string }
  /** A row that names no key we can read; `text` is its key field as written, when it has one. */
  | { readonly kind: "invalid"; readonly text: string; readonly reason: string };

/** Decodes a manifest key: form encoding, as S3 writes it (`+` is a space, `%2B` a plus). */
export function decodeManifestKey(encoded: string): string {
  return decodeS3ListKey(encoded);
}

/** S3 Inventory writes ETags bare; listings and HEAD quote them. Copy items carry the quoted form. */
export function quotedEtag(etag: string): string {
  return etag.startsWith('"') || etag.startsWith('W/"') ? etag : `"${etag}"`;
}

export function manifestEntry(fields: readonly string[], layout: RowLayout): ManifestEntry {
  if (fields.length === 1 && fields[0] === "") return { kind: "blank" };
  const field = (i: number | undefined) => (i === undefined ? undefined : fields[i]);
  const text = field(layout.key) ?? "";
  if (fields.length < layout.minColumns || fields.length > layout.columns) {
    return { kind: "invalid", text, reason: `expected ${describeColumns(layout)} fields, got ${fields.length}` };
  }
  const bucket = field(layout.bucket) ?? "";
  if (bucket === "") return { kind: "invalid", text, reason: "empty bucket" };
  let key: string;
  try {
    key = decodeManifestKey(text);
  } catch {
    return { kind: "invalid", text, reason: "key is not valid URL encoding" };
  }
  if (key === "") return { kind: "invalid", text, reason: "empty key" };
  if (field(layout.isDeleteMarker)?.toLowerCase() === "true") return { kind: "skip", reason: "delete marker" };
  if (field(layout.isLatest)?.toLowerCase() === "false") return { kind: "skip", reason: "not the latest version" };
  const versionId = field(layout.versionId) || undefined;
  const sizeText = field(layout.size);
  let size: number | undefined;
  if (sizeText !== undefined && sizeText !== "") {
    size = Number(sizeText);
    if (!/^\d+$/.test(sizeText) || !Number.isSafeInteger(size))
      return { kind: "invalid", text, reason: `size "${sizeText}" is not a byte count` };
  }
  const etagText = field(layout.etag);
  const etag = etagText ? quotedEtag(etagText) : undefined;
  return { kind: "object", bucket, key, versionId, size, etag };
}

function describeColumns(layout: RowLayout): string {
  return layout.minColumns === layout.columns ? String(layout.columns) : `${layout.minColumns}-${layout.columns}`;
}
