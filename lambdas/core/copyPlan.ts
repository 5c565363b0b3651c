/**
 * Copy planning: when an object needs multipart UploadPartCopy, and how its
 * bytes are cut into parts within S3's limits (5 MiB-5 GiB parts, 10,000
 * parts, CopyObject up to 5 GiB).
 */
import { UsageError } from "./errors.ts";

export const MiB = 1024 * 1024;
export const GiB = 1024 * MiB;
/** The largest object CopyObject copies in one request. */
export const MAX_COPY_OBJECT_BYTES = 5 * GiB;
export const MIN_PART_BYTES = 5 * MiB;
export const MAX_PART_BYTES = 5 * GiB;
export const MAX_PARTS = 10_000;

export interface MultipartSettings {
  /** Objects larger than this are copied part by part. @default 64 MiB */
  readonly threshold: number;
  /** Bytes per part (grown when an object would need more than 10,000 parts). @default 64 MiB */
  readonly partSize: number;
  /** Parts in flight per object. @default 8 */
  readonly partConcurrency: number;
}

export const DEFAULT_MULTIPART: MultipartSettings = { threshold: 64 * MiB, partSize: 64 * MiB, partConcurrency: 8 };

export interface PartPlan {
  readonly partNumber: number;
  /** First byte, inclusive. */
  readonly first: number;
  /** Last byte, inclusive. */
  readonly last: number;
}

/** An ETag of the multipart form ("<md5 of part md5s>-<parts>"), which no single-request copy can reproduce. */
export function isMultipartEtag(etag: string | undefined): boolean {
  return etag !== undefined && /^"?[0-9a-f]{32}-\d+"?$/i.test(etag);
}

/**
 * Copied by parts: objects above the threshold (always above CopyObject's
 * 5 GiB), and objects whose ETag is of the multipart form, so that the copy
 * records that ETag and `verify`/sync can recognise it without reading bytes.
 */
export function needsMultipart(size: number, settings: Pick<MultipartSettings, "threshold">, etag?: string): boolean {
  return size > Math.min(settings.threshold, MAX_COPY_OBJECT_BYTES) || (size > 0 && isMultipartEtag(etag));
}

/** The part size actually used for an object: the setting, grown to fit in 10,000 parts. */
export function effectivePartSize(size: number, partSize: number): number {
  const fitting = Math.ceil(size / MAX_PARTS);
  return Math.min(MAX_PART_BYTES, Math.max(MIN_PART_BYTES, partSize, fitting));
}

/** Byte ranges of every part, in order, covering [0, size) exactly. */
export function planParts(size: number, partSize: number): PartPlan[] {
  if (!Number.isSafeInteger(size) || size <= 0) throw new RangeError("a multipart copy needs a positive size");
  const step = effectivePartSize(size, partSize);
  const parts: PartPlan[] = [];
  for (let first = 0, n = 1; first < size; first += step, n++) {
    parts.push({ partNumber: n, first, last: Math.min(size, first + step) - 1 });
  }
  return parts;
}

const UNITS: Record<string, number> = {
  "": 1,
  b: 1,
  k: 1000,
  kb: 1000,
  kib: 1024,
  m: 1000 ** 2,
  mb: 1000 ** 2,
  mib: MiB,
  g: 1000 ** 3,
  gb: 1000 ** 3,
  gib: GiB,
  t: 1000 ** 4,
  tb: 1000 ** 4,
  tib: 1024 * GiB,
};

/** Parses "8MiB", "64 MB", "5GiB", "1048576": binary units with i, decimal without. */
export function parseSize(text: string, name = "size"): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*([a-zA-Z]*)\s*$/.exec(text);
  const unit = UNITS[(match?.[2] ?? "?").toLowerCase()];
  if (!match || unit === undefined) throw new UsageError(`${name} must be a size such as 8MiB, 64MB or 1048576, got "${text}"`);
  const bytes = Math.round(Number(match[1]) * unit);
  if (!Number.isSafeInteger(bytes) || bytes <= 0) throw new UsageError(`${name} must be a positive size, got "${text}"`);
  return bytes;
}
