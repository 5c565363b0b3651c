/**
 * The narrow ports domain code talks through. Adapters over the AWS SDK live
 * in lambdas/aws; tests hand in fakes.
 */

import type { JobOptions } from "./jobOptions.ts";
import type { KeyRange } from "./ranges.ts";
import type { ErrorInfo } from "./retry.ts";

export interface ListedObject {
  readonly key: string;
  readonly size: number;
  readonly etag?: string | undefined;
}

export interface ListPageRequest {
  readonly bucket: string;
  readonly prefix: string;
  readonly startAfter?: string | undefined;
  readonly token?: string | undefined;
  readonly maxKeys: number;
}

export interface ListPage {
  /** Keys in S3 (UTF-8 byte) order, already decoded. */
  readonly objects: readonly ListedObject[];
  readonly nextToken?: string | undefined;
}

export interface CopyRequest {
  readonly sourceBucket: string;
  readonly sourceKey: string;
  /** The source version to copy (manifest rows that name one); the current version when undefined. */
  readonly sourceVersionId?: string | undefined;
  readonly destinationBucket: string;
  readonly destinationKey: string;
  readonly size: number;
  readonly etag?: string | undefined;
  /** The job's copy options (storage class, directives, ACL, encryption, ...). */
  readonly options?: JobOptions | undefined;
}

export interface ObjectStore {
  listPage(request: ListPageRequest): Promise<ListPage>;
  copy(request: CopyRequest): Promise<void>;
}

/** Deletes one object (its current version: on a versioned bucket, S3 adds a delete marker). A key already gone succeeds. */
export interface ObjectDeleter {
  deleteObject(bucket: string, key: string, options?: JobOptions): Promise<void>;
}

/** What a copy by parts carries over from its source: content headers, user metadata, tags. */
export interface ObjectHead {
  readonly size: number;
  readonly etag?: string | undefined;
  readonly contentType?: string | undefined;
  readonly contentEncoding?: string | undefined;
  readonly contentDisposition?: string | undefined;
  readonly contentLanguage?: string | undefined;
  readonly cacheControl?: string | undefined;
  readonly expires?: Date | undefined;
  readonly metadata: Readonly<Record<string, string>>;
}

export interface UploadedPart {
  readonly partNumber: number;
  readonly etag: string;
}

/** The S3 operations of a multipart copy (UploadPartCopy). */
export interface MultipartStore {
  /** `versionId` reads that version of the source instead of the current one. */
  head(bucket: string, key: string, options?: JobOptions, versionId?: string): Promise<ObjectHead>;
  /** Tags as an x-amz-tagging string (k=v&k2=v2), "" when none. */
  tagging(bucket: string, key: string, options?: JobOptions, versionId?: string): Promise<string>;
  /** Starts the upload with the head's headers and metadata (or the options' replacements). */
  createUpload(bucket: string, key: string, head: ObjectHead, tagging: string, options?: JobOptions): Promise<string>;
  copyPart(request: {
    readonly sourceBucket: string;
    readonly sourceKey: string;
    readonly sourceVersionId?: string | undefined;
    readonly bucket: string;
    readonly key: string;
    readonly uploadId: string;
    readonly partNumber: number;
    readonly first: number;
    readonly last: number;
    /** Fails the part (412) if the source changed since the copy began. */
    readonly ifMatch?: string | undefined;
    readonly options?: JobOptions | undefined;
  }): Promise<string>;
  listParts(bucket: string, key: string, uploadId: string, options?: JobOptions): Promise<UploadedPart[]>;
  complete(bucket: string, key: string, uploadId: string, parts: readonly UploadedPart[], options?: JobOptions): Promise<void>;
  abort(bucket: string, key: string, uploadId: string, options?: JobOptions): Promise<void>;
}

/** Reads a manifest file: its bytes from `start` to its end. */
export interface ManifestReadRequest {
  readonly bucket: string;
  readonly key: string;
  readonly start: number;
  /** Fails (ManifestError) when the file no longer has this ETag. */
  readonly etag?: string | undefined;
}

/** Where manifests come from; a reader that stops early leaves the loop and the read is abandoned. */
export interface ManifestSource {
  read(request: ManifestReadRequest): AsyncIterable<Uint8Array>;
}

/** A HEAD of one source object: what a manifest row without a size needs (MultipartStore has it). */
export type ObjectHeads = Pick<MultipartStore, "head">;

export type QueueName = "list" | "copy" | "listDlq" | "copyDlq";

export interface OutgoingMessage {
  readonly body: string;
  readonly delaySeconds?: number | undefined;
}

/** A received message to hide for a while before its next receive. */
export interface RetryAfter {
  readonly receiptHandle: string;
  readonly seconds: number;
}

/** Sets when failed records come back (ChangeMessageVisibility), instead of at the end of the visibility timeout. */
export interface Redelivery {
  retryAfter(queue: QueueName, messages: readonly RetryAfter[]): Promise<void>;
}

/** Sends messages; resolves only when every one is accepted, else throws. */
export interface MessageSink {
  send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void>;
}

export interface BatchRef {
  readonly batchId: string;
  readonly keys: number;
  readonly bytes: number;
}

/** A stretch of a range that a list invocation finished, with what it emitted. */
export interface PortionRecord {
  readonly jobId: string;
  readonly range: KeyRange;
  readonly listed: number;
  readonly batches: readonly BatchRef[];
  /** True when the rest of the range was re-enqueued as a continuation. */
  readonly continued: boolean;
  /**
   * Set for a stretch of a manifest chunk, whose rows [from, to) it handled.
   * Such a portion covers no key range: its `range` is empty (startAfter =
   * endAt = a label naming the chunk and `from`), so ledgers that key
   * portions by range keep one record per stretch.
   */
  readonly chunk?: ChunkSpan | undefined;
  /**
   * Keys not copied on purpose: left out by the job's patterns, identical in
   * the destination (sync), or (manifests) rows of another bucket, outside the
   * source prefix, delete markers, older versions.
   */
  readonly skipped?: number | undefined;
  /** The keys a sync found identical in the destination (counted in `skipped`), each named. */
  readonly identical?: readonly string[] | undefined;
}

/** Which rows of which seeded manifest chunk a portion handled. */
export interface ChunkSpan {
  /** The chunk's index, from 0. */
  readonly id: number;
  /** How many chunks the job seeded. */
  readonly of: number;
  /** Rows of the chunk handled before this portion. */
  readonly from: number;
  /** Rows of the chunk handled by its end. */
  readonly to: number;
}

export interface KeyFailure {
  readonly key: string;
  /** The source version the copy was of, when the job named one (manifests). */
  readonly versionId?: string | undefined;
  readonly size: number;
  readonly etag?: string | undefined;
  readonly error: ErrorInfo;
  readonly attempts: number;
}

/** What became of one copy batch; retried keys live on in `children`. */
export interface BatchOutcome {
  readonly jobId: string;
  readonly batchId: string;
  readonly copied: number;
  readonly copiedBytes: number;
  readonly vanished: readonly string[];
  readonly failed: readonly KeyFailure[];
  /** Keys not copied because the job was halted. @default 0 */
  readonly halted?: number;
  readonly children: readonly BatchRef[];
  /**
   * The batch whose failed key an operator redrove from the copy DLQ; set on
   * the redriven batch and inherited by its retry children. Such batches are
   * not reachable from any listing portion. @default undefined
   */
  readonly redriveOf?: string | undefined;
  /**
   * The keys copied: the per-key record of what succeeded (report --all), and
   * how a redriven batch's copies are matched to the earlier failures.
   * Absent in records written before it was kept. @default undefined
   */
  readonly copiedKeys?: readonly string[] | undefined;
  /** Keys deleted from the destination (a sync's deletions, live changes), in the source's key space. @default none */
  readonly deletedKeys?: readonly string[] | undefined;
  /** Keys found already as they should be (live changes: nothing to do). @default 0 */
  readonly unchanged?: number | undefined;
}

/** What one finished stretch of a sync --delete listing found only in the destination. */
export interface ExtrasRecord {
  readonly jobId: string;
  /** The stretch, as its portion record names it. */
  readonly range: KeyRange;
  /** Destination keys the source lacks, in the source's key space and byte order, that the job may delete. */
  readonly keys: readonly string[];
  /** Such keys that are a ledger's own records: never deleted. */
  readonly protected: number;
}

/** What a sync --delete job decided to delete, once its whole listing was done. Written once. */
export interface DeletionPlan {
  readonly jobId: string;
  /** Which finish check decided: of two racing checks, the one whose plan stands sends. */
  readonly decidedBy: string;
  readonly decidedAt: string;
  /** Keys only the destination has. */
  readonly count: number;
  readonly maxDelete?: number | undefined;
  /** True when count exceeds maxDelete: nothing is deleted. */
  readonly refused: boolean;
  /** The deletion batches sent to the copy queue (none when refused). */
  readonly batches: readonly BatchRef[];
  /** Ledger records found only in the destination, left alone. */
  readonly protected: number;
  /** When every batch was sent: a later check sends nothing. Unset while (or if never) sent. */
  readonly sentAt?: string | undefined;
}

/** The job's accounting. Records are idempotent: a repeat overwrites. */
export interface Ledger {
  recordPortion(record: PortionRecord): Promise<void>;
  recordBatch(outcome: BatchOutcome): Promise<void>;
  /** Several outcomes in as few writes as the ledger can: a copy invocation records its batches at once. */
  recordBatches(outcomes: readonly BatchOutcome[]): Promise<void>;
  /** Jobs with deletions: written before the portion record of the same stretch. */
  recordExtras?(record: ExtrasRecord): Promise<void>;
  readExtras?(jobId: string): Promise<ExtrasRecord[]>;
  /** Records the plan unless the job has one already; resolves with the plan that stands. */
  recordDeletionPlan?(plan: DeletionPlan): Promise<DeletionPlan>;
  readDeletionPlan?(jobId: string): Promise<DeletionPlan | undefined>;
  /** Marks the standing plan's batches all sent. */
  recordDeletionsSent?(plan: DeletionPlan): Promise<void>;
}
