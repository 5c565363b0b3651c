/**
 * plan: a job's objects tallied from a listing of its source or from its
 * manifest, read the way the list function reads them, for the capacity and
 * cost model of lambdas/core/plan.ts. Nothing is written and nothing is
 * enqueued; only a page of keys per listing unit is held at a time.
 */
import { readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { S3Client } from "@aws-sdk/client-s3";
import { seedTasks } from "../../lambdas/aws/jobStart.ts";
import { planManifest, S3ManifestSource } from "../../lambdas/aws/s3Manifest.ts";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { type BatchLimits, DEFAULT_BATCH_LIMITS, packCopyBatches } from "../../lambdas/core/batching.ts";
import { compareObjects, listObjects, mapRange, mergeJoin, type Pair, SOURCE_ETAG_METADATA } from "../../lambdas/core/compare.ts";
import type { ChunkRecord } from "../../lambdas/core/csv.ts";
import { isLedgerKey } from "../../lambdas/core/deletions.ts";
import { UsageError } from "../../lambdas/core/errors.ts";
import { keyFilter } from "../../lambdas/core/jobOptions.ts";
import { layoutOf, manifestEntry } from "../../lambdas/core/manifest.ts";
import { chunkRecords } from "../../lambdas/core/manifestLister.ts";
import type { CopyItem, JobRef } from "../../lambdas/core/messages.ts";
import {
  addMessageCounts,
  countMessages,
  type DeletionCount,
  type MessageCounts,
  NO_MESSAGES,
  ObjectTally,
  type PlanSource,
  type PriceTable,
  parsePriceTable,
} from "../../lambdas/core/plan.ts";
import type { ListedObject } from "../../lambdas/core/ports.ts";
import { classifyError, errorInfo, retrying } from "../../lambdas/core/retry.ts";
import type { ManifestRequest } from "./operator.ts";
import { mapLimit } from "./seed.ts";

/** The price table the project ships. */
export const DEFAULT_PRICES_FILE = fileURLToPath(new URL("../../config/prices.json", import.meta.url));

/** Reads and validates a price table: an unreadable file is a usage error, a malformed one a ConfigError. */
export function loadPriceTable(file: string = DEFAULT_PRICES_FILE): PriceTable {
  let text: string;
  try {
    text = readFileSync(file, "utf8");
  } catch (err) {
    throw new UsageError(`--prices: cannot read "${file}": ${errorInfo(err).message}`);
  }
  return parsePriceTable(text, file);
}

export interface Tallied {
  readonly tally: ObjectTally;
  readonly messages: MessageCounts;
  readonly source: PlanSource;
  /** Manifest rows not copied on purpose: another bucket, outside the prefix, delete markers, older versions. */
  readonly skipped: number;
  /** Manifest rows naming a key that does not exist. */
  readonly vanished: number;
  /** Manifest rows naming no readable key. */
  readonly invalid: number;
}

export interface TallyOptions {
  /** The job the messages are cut for: its source, destination and options shape the message envelope. */
  readonly job: JobRef;
  readonly multipart: ConstructorParameters<typeof ObjectTally>[0];
  readonly limits?: BatchLimits;
  /** Listing units (ranges or manifest chunks) read at once. @default 8 */
  readonly concurrency?: number;
  /** HEADs at once for manifest rows without a size. @default 32 */
  readonly headConcurrency?: number;
  readonly pageSize?: number;
  /** Told of the objects counted so far (progress). */
  readonly onObjects?: (n: number) => void;
}

/** Cuts one page of copy items into messages as the list function does, and counts them. */
function pageMessages(job: JobRef, items: readonly CopyItem[], limits: BatchLimits): MessageCounts {
  if (items.length === 0) return NO_MESSAGES;
  return countMessages(packCopyBatches(job, items, limits).map((b) => b.body));
}

/** What a sync found by merge-joining the source and destination selections (plan --delete). */
export interface Compared {
  /** Source keys the destination holds identically (same size and ETag, or our copy by parts of it). */
  readonly identical: number;
  /** Source keys missing or different in the destination. */
  readonly toCopy: number;
  readonly deletions: DeletionCount;
}

export interface ListingTallyOptions extends TallyOptions {
  readonly sync: boolean;
  /**
   * Merge-join each range with the destination's listing of the same keys (job.destination, in the
   * source's key space, as the list function's DestinationCursor reads it) and count what it finds.
   */
  readonly compare?: boolean;
}

/**
 * Every object of the source selection, range by range as the kickoff seeds them (splits aside); keys
 * the job's --include/--exclude leave out are listed (pages) but not counted. With `compare`, the
 * destination's keys the selection lacks are counted as the list function records them for deletion.
 */
export async function tallyListing(s3: S3Client, options: ListingTallyOptions): Promise<Tallied & { compared?: Compared }> {
  const { job } = options;
  const store = new S3ObjectStore(s3);
  const tally = new ObjectTally(options.multipart);
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS;
  const pageSize = options.pageSize ?? 1000;
  const selects = keyFilter(job.options, job.source.prefix);
  const { source, destination } = job;
  const destinationKey = (key: string) => destination.prefix + key.slice(source.prefix.length);
  let messages = NO_MESSAGES;
  let pages = 0;
  const found = { identical: 0, toCopy: 0, keys: 0, protected: 0 };
  // The kickoff's own seeds: the default points and the source's top-level prefixes (one delimited listing).
  const ranges = (await seedTasks(s3, job, undefined)).tasks.map((t) => t.range);
  await mapLimit(ranges, options.concurrency ?? 8, async (range) => {
    let page: ListedObject[] = [];
    let listed = 0;
    let rangePages = 0;
    const flush = () => {
      rangePages++;
      messages = addMessageCounts(messages, pageMessages(job, page, limits));
      options.onObjects?.(page.length);
      page = [];
      listed = 0;
    };
    const sourceObjects = listObjects(store, source.bucket, source.prefix, range, source.prefix, pageSize);
    const pairs: AsyncIterable<Pair> = options.compare
      ? mergeJoin(
          sourceObjects,
          listObjects(
            store,
            destination.bucket,
            destination.prefix,
            mapRange(range, source.prefix, destination.prefix),
            source.prefix,
            pageSize,
          ),
        )
      : sourceOnly(sourceObjects);
    for await (const pair of pairs) {
      const o = pair.source;
      if (o === undefined) {
        // Only the destination has it: deleted unless outside the patterns (not in the selection) or a ledger's record.
        if (!selects(pair.key)) continue;
        if (isLedgerKey(destinationKey(pair.key))) found.protected++;
        else found.keys++;
        continue;
      }
      listed++;
      if (selects(o.key)) {
        tally.add(o.size, o.etag);
        page.push(o);
        if (options.compare) {
          if (await identicalCopy(store, o, pair.destination, destination.bucket, destinationKey(o.key))) found.identical++;
          else found.toCopy++;
        }
      }
      if (listed >= pageSize) flush();
    }
    // The list function stops a range at a page that is not full or that passes its end: one more than the full pages.
    flush();
    pages += rangePages;
  });
  return {
    tally,
    messages,
    source: { kind: "listing", units: ranges.length, sync: options.sync, pages },
    skipped: 0,
    vanished: 0,
    invalid: 0,
    ...(options.compare
      ? { compared: { identical: found.identical, toCopy: found.toCopy, deletions: { keys: found.keys, protected: found.protected } } }
      : {}),
  };
}

async function* sourceOnly(objects: AsyncIterable<ListedObject>): AsyncGenerator<Pair> {
  for await (const o of objects) yield { key: o.key, source: o };
}

/**
 * The sync rule (lambdas/core/sync.ts): same size and ETag; an ETag of the multipart form asks the
 * destination's HEAD for the source ETag our copy by parts records. A failed HEAD says copy.
 */
async function identicalCopy(
  store: S3ObjectStore,
  source: ListedObject,
  destination: ListedObject | undefined,
  bucket: string,
  key: string,
): Promise<boolean> {
  if (destination === undefined) return false;
  const verdict = compareObjects(source, destination);
  if (verdict !== "confirm") return verdict === "same";
  if (source.etag === undefined) return false;
  try {
    return (await store.head(bucket, key)).metadata[SOURCE_ETAG_METADATA] === source.etag;
  } catch {
    return false;
  }
}

/**
 * Every row of a manifest, chunk by chunk as the kickoff seeds them: rows
 * naming the source bucket under its prefix are counted; rows without a size
 * (S3 Batch Operations CSV) are HEADed, as the list function will.
 */
export async function tallyManifest(s3: S3Client, manifest: ManifestRequest, options: TallyOptions): Promise<Tallied> {
  const { job } = options;
  const { bucket, prefix } = job.source;
  const selects = keyFilter(job.options, prefix);
  const plan = await planManifest(s3, manifest, manifest.chunkBytes);
  const reader = new S3ManifestSource(s3);
  const store = new S3ObjectStore(s3);
  const tally = new ObjectTally(options.multipart);
  const limits = options.limits ?? DEFAULT_BATCH_LIMITS;
  const pageSize = options.pageSize ?? 1000;
  let messages = NO_MESSAGES;
  const counts = { rows: 0, pages: 0, settledPages: 0, headed: 0, skipped: 0, vanished: 0, invalid: 0 };

  const handlePage = async (layout: ReturnType<typeof layoutOf>, records: readonly ChunkRecord[]) => {
    counts.pages++;
    const settledBefore = counts.vanished + counts.invalid;
    const rows: { key: string; size?: number | undefined; etag?: string | undefined }[] = [];
    for (const record of records) {
      // Spreadsheet tools start a file with a byte order mark; it is not part of the first bucket name.
      const [first = "", ...rest] = record.fields;
      const fields = record.start === 0 && first.startsWith("\uFEFF") ? [first.slice(1), ...rest] : record.fields;
      const entry = manifestEntry(fields, layout);
      if (entry.kind === "blank") continue;
      if (entry.kind === "invalid") counts.invalid++;
      else if (entry.kind === "skip" || entry.bucket !== bucket || !entry.key.startsWith(prefix) || !selects(entry.key)) counts.skipped++;
      else rows.push({ key: entry.key, size: entry.size, etag: entry.etag });
    }
    const items: CopyItem[] = [];
    const unsized = rows.filter((r) => r.size === undefined);
    counts.headed += unsized.length;
    const heads = await mapLimit(unsized, options.headConcurrency ?? 32, async (r) => {
      try {
        return await retrying(() => store.head(bucket, r.key, job.options));
      } catch (err) {
        const kind = classifyError(errorInfo(err));
        if (kind === "vanished") return "missing" as const;
        if (kind === "permanent") return "refused" as const;
        throw err;
      }
    });
    let h = 0;
    for (const r of rows) {
      if (r.size !== undefined) {
        items.push({ key: r.key, size: r.size, etag: r.etag });
        continue;
      }
      const head = heads[h++];
      if (head === "missing" || head === undefined) counts.vanished++;
      // A HEAD refused for good leaves the key to the copier with size 0, as the list function does.
      else if (head === "refused") items.push({ key: r.key, size: 0 });
      else items.push({ key: r.key, size: head.size, etag: head.etag });
    }
    if (counts.vanished + counts.invalid > settledBefore) counts.settledPages++;
    for (const item of items) tally.add(item.size, item.etag);
    messages = addMessageCounts(messages, pageMessages(job, items, limits));
    options.onObjects?.(items.length);
  };

  await mapLimit(plan.chunks, options.concurrency ?? 8, async (chunk) => {
    const layout = layoutOf(chunk);
    let page: ChunkRecord[] = [];
    let chunkPages = 0;
    for await (const record of chunkRecords(reader, { ...chunk, row: 0, byte: chunk.start })) {
      counts.rows++;
      page.push(record);
      if (page.length >= pageSize) {
        await handlePage(layout, page);
        chunkPages++;
        page = [];
      }
    }
    if (page.length > 0 || chunkPages === 0) await handlePage(layout, page);
  });
  return {
    tally,
    messages,
    source: {
      kind: "manifest",
      chunks: plan.chunks.length,
      rows: counts.rows,
      headedRows: counts.headed,
      inventory: plan.format === "inventory",
      pages: counts.pages,
      settledPages: counts.settledPages,
    },
    skipped: counts.skipped,
    vanished: counts.vanished,
    invalid: counts.invalid,
  };
}
