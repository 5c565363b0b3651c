/**
 * Reads one manifest chunk page by page (pageSize rows), emitting copy
 * batches as it goes, and hands the rest of the chunk to a fresh invocation
 * before its deadline, as the lister does for a key range.
 *
 * - Rows become copy items. Inventory rows carry Size and ETag; rows without
 *   a size (every Batch Operations row) are HEADed here, many at once, so the
 *   copier never needs to: a missing object is recorded as vanished, a HEAD
 *   refused for good (403...) leaves the key to the copier with size 0, whose
 *   own error then reports it.
 * - Only rows naming the source bucket under the source prefix (and passing
 *   the job's include/exclude patterns) are copied; the others, delete
 *   markers and older versions are counted as skipped.
 *   Rows that name no readable key are recorded as failed (InvalidManifestRow).
 * - Pages are cut at fixed row numbers of the chunk and a continuation starts
 *   on a page boundary, so a page read again yields the same batches, with
 *   the same ids: duplicates count once.
 * - A plain file's continuation resumes at the byte offset of its next row;
 *   a gzip file's re-reads the file and skips the rows already handled
 *   (gzip cannot be entered in the middle; skipping is parsing without
 *   HEADs or sends, far faster than handling rows).
 */
import { pipeline, Readable } from "node:stream";
import { createGunzip } from "node:zlib";
import { batchIdOf, packCopyBatches } from "./batching.ts";
import { manifestPortionRange } from "./chunks.ts";
import { type ChunkRecord, plainChunkRecords, wholeFileRecords } from "./csv.ts";
import { keyFilter } from "./jobOptions.ts";
import type { ListingDeps, ListResult } from "./lister.ts";
import { layoutOf, ManifestError, type ManifestTask, manifestEntry } from "./manifest.ts";
import { type CopyItem, type JobRef, type ListTask, listBody } from "./messages.ts";
import type { BatchRef, KeyFailure, ManifestSource, ObjectHead, ObjectHeads } from "./ports.ts";
import { classifyError, type ErrorInfo, errorInfo, retrying } from "./retry.ts";

/** HEADs in flight per list invocation for manifest rows without a size. */
export const DEFAULT_HEAD_CONCURRENCY = 32;

export interface ManifestListerDeps extends ListingDeps {
  readonly manifests: ManifestSource;
  /** HEADs rows that carry no size; required for Batch Operations manifests. */
  readonly heads?: ObjectHeads | undefined;
  /** @default DEFAULT_HEAD_CONCURRENCY */
  readonly headConcurrency?: number;
  /** Told of what an operator may want to know: a HEAD refused. */
  readonly onNotice?: (notice: ManifestNotice) => void;
}

export type ManifestNotice = { readonly kind: "head-refused"; readonly key: string; readonly error: ErrorInfo };

export interface ManifestListResult extends ListResult {
  readonly rows: number;
  readonly skipped: number;
  readonly vanished: number;
  readonly invalid: number;
}

export async function listManifestChunk(
  task: ListTask & { readonly manifest: ManifestTask },
  deps: ManifestListerDeps,
): Promise<ManifestListResult> {
  const { job, manifest: m } = task;
  const layout = layoutOf(m);
  const fromRow = m.row;
  /** Rows of the chunk handled so far. */
  let row = fromRow;
  const emitted: BatchRef[] = [];
  const counts = { listed: 0, pages: 0, skipped: 0, vanished: 0, invalid: 0 };
  const result = (extra: Partial<ManifestListResult> = {}): ManifestListResult => ({
    listed: counts.listed,
    pages: counts.pages,
    batches: emitted.length,
    rows: row - fromRow,
    skipped: counts.skipped,
    vanished: counts.vanished,
    invalid: counts.invalid,
    ...extra,
  });
  const portion = (continued: boolean) =>
    deps.ledger.recordPortion({
      jobId: job.id,
      range: manifestPortionRange(m.chunk, fromRow),
      listed: counts.listed,
      batches: emitted,
      continued,
      chunk: { id: m.chunk, of: m.of, from: fromRow, to: row },
      skipped: counts.skipped,
    });

  const records = chunkRecords(deps.manifests, m);
  try {
    let next = await records.next();
    for (;;) {
      if (next.done) {
        await portion(false);
        return result();
      }
      if (await deps.halt.isHalted(job.id)) return result({ halted: true });
      const pageStart = row;
      const pageEnd = (Math.floor(row / deps.pageSize) + 1) * deps.pageSize;
      const page: ChunkRecord[] = [];
      while (!next.done && row < pageEnd) {
        page.push(next.value);
        row++;
        next = await records.next();
      }
      counts.pages++;
      const out = await readPage(job, m.chunk, page, layout, deps);
      counts.skipped += out.skipped;
      if (await deps.halt.isHalted(job.id)) return result({ halted: true });
      if (out.items.length > 0) {
        const batches = packCopyBatches(job, out.items, deps.limits);
        await deps.sink.send(
          "copy",
          batches.map((b) => ({ body: b.body })),
        );
        for (const b of batches) emitted.push({ batchId: b.batchId, keys: b.keys, bytes: b.bytes });
      }
      const settled = out.vanished.length + out.invalid.length;
      if (settled > 0) {
        // Keys settled without a copy get an outcome of their own, reachable from this portion like any batch.
        const ids = [...out.vanished, ...out.invalid.map((f) => f.key)].map((key) => ({ key }));
        const batchId = batchIdOf(job.id, ids, 0, `manifest:${m.chunk}:${pageStart}`);
        await deps.ledger.recordBatch({
          jobId: job.id,
          batchId,
          copied: 0,
          copiedBytes: 0,
          vanished: out.vanished,
          failed: out.invalid,
          children: [],
        });
        emitted.push({ batchId, keys: settled, bytes: 0 });
      }
      counts.listed += out.items.length + settled;
      counts.vanished += out.vanished.length;
      counts.invalid += out.invalid.length;

      if (!next.done && deps.remainingMs() < deps.safetyMs) {
        if (await deps.halt.isHalted(job.id)) return result({ halted: true });
        const rest: ManifestTask = { ...m, row, byte: next.value.start };
        await deps.sink.send("list", [{ body: listBody({ job, range: {}, hop: task.hop + 1, manifest: rest }) }]);
        await portion(true);
        return result({ continuedFrom: `row ${row}` });
      }
    }
  } finally {
    await records.return(undefined);
  }
}

interface PageOutcome {
  readonly items: CopyItem[];
  readonly vanished: string[];
  readonly invalid: KeyFailure[];
  readonly skipped: number;
}

async function readPage(
  job: JobRef,
  chunk: number,
  page: readonly ChunkRecord[],
  layout: ReturnType<typeof layoutOf>,
  deps: ManifestListerDeps,
): Promise<PageOutcome> {
  const { bucket, prefix } = job.source;
  const selects = keyFilter(job.options, prefix);
  const invalid: KeyFailure[] = [];
  let skipped = 0;
  /** Selected rows in manifest order; a size of undefined is HEADed. */
  const selected: { key: string; versionId?: string | undefined; size?: number | undefined; etag?: string | undefined }[] = [];
  for (const record of page) {
    const entry = manifestEntry(record.start === 0 ? withoutBom(record.fields) : record.fields, layout);
    if (entry.kind === "blank") continue;
    if (entry.kind === "skip") skipped++;
    else if (entry.kind === "invalid") {
      invalid.push({
        key: entry.text === "" ? `(chunk ${chunk} row ${record.row})` : entry.text,
        size: 0,
        error: { code: "InvalidManifestRow", message: `${entry.reason} (chunk ${chunk}, row ${record.row}, byte ${record.start})` },
        attempts: 0,
      });
    } else if (entry.bucket !== bucket || !entry.key.startsWith(prefix) || !selects(entry.key)) skipped++;
    else selected.push({ key: entry.key, versionId: entry.versionId, size: entry.size, etag: entry.etag });
  }

  const unsized = selected.filter((s) => s.size === undefined);
  const heads =
    unsized.length === 0
      ? []
      : await headAll(
          job,
          unsized.map((s) => ({ key: s.key, versionId: s.versionId })),
          deps,
        );
  // By row, not by key: one key may be named at several versions.
  const headOf = new Map<(typeof selected)[number], HeadResult>();
  unsized.forEach((s, i) => {
    const h = heads[i];
    if (h !== undefined) headOf.set(s, h);
  });
  const items: CopyItem[] = [];
  const vanished: string[] = [];
  for (const s of selected) {
    const version = s.versionId === undefined ? {} : { versionId: s.versionId };
    if (s.size !== undefined) {
      items.push({ key: s.key, size: s.size, etag: s.etag, ...version });
      continue;
    }
    const h = headOf.get(s);
    if (h === undefined || h === "missing") vanished.push(s.key);
    else if ("error" in h) {
      deps.onNotice?.({ kind: "head-refused", key: s.key, error: h.error });
      items.push({ key: s.key, size: 0, ...version });
    } else items.push({ key: s.key, size: h.size, etag: h.etag, ...version });
  }
  return { items, vanished, invalid, skipped };
}

/** Spreadsheet tools start a CSV file with a byte order mark; it is not part of the first bucket name. */
function withoutBom(fields: readonly string[]): readonly string[] {
  const [first, ...rest] = fields;
  return first?.startsWith("\uFEFF") ? [first.slice(1), ...rest] : fields;
}

type HeadResult = ObjectHead | "missing" | { readonly error: ErrorInfo };

/** HEADs keys with bounded concurrency. Transient errors retry, then fail the invocation (the page is read again). */
async function headAll(
  job: JobRef,
  keys: readonly { readonly key: string; readonly versionId?: string | undefined }[],
  deps: ManifestListerDeps,
): Promise<HeadResult[]> {
  const { bucket } = job.source;
  const heads = deps.heads;
  if (heads === undefined) throw new ManifestError("manifest rows without a size need HEAD, and no object store was given");
  const results: HeadResult[] = new Array(keys.length);
  let next = 0;
  const worker = async () => {
    for (let i = next++; i < keys.length; i = next++) {
      const { key, versionId } = keys[i] as (typeof keys)[number];
      try {
        results[i] = await retrying(() => heads.head(bucket, key, job.options, versionId));
      } catch (err) {
        const info = errorInfo(err);
        const kind = classifyError(info);
        if (kind === "vanished") results[i] = "missing";
        else if (kind === "permanent") results[i] = { error: info };
        else throw err;
      }
    }
  };
  const width = Math.max(1, Math.min(deps.headConcurrency ?? DEFAULT_HEAD_CONCURRENCY, keys.length));
  await Promise.all(Array.from({ length: width }, worker));
  return results;
}

/** The records of a chunk from its position: a byte range of a plain file, or a whole gzip file. */
export function chunkRecords(source: ManifestSource, m: ManifestTask): AsyncGenerator<ChunkRecord> {
  const open = (start: number) => source.read({ bucket: m.bucket, key: m.key, start, etag: m.etag });
  if (m.gzip) return wholeFileRecords(gunzip(open(0)), m.row);
  return plainChunkRecords(open, m, m);
}

async function* gunzip(bytes: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  const gz = createGunzip();
  pipeline(Readable.from(bytes), gz, () => undefined);
  try {
    for await (const block of gz) yield block as Uint8Array;
  } catch (err) {
    const code = (err as { code?: unknown }).code;
    if (typeof code === "string" && code.startsWith("Z_")) throw new ManifestError(`not a readable gzip file: ${errorInfo(err).message}`);
    throw err;
  }
}
