/**
 * Queue message contracts, versioned and validated at the edge. Keys and
 * prefixes travel transport-encoded (ASCII) and are decoded on parse, so the
 * rest of the code only sees real keys.
 */
import * as v from "valibot";
import { InvalidKeyError, MalformedMessageError } from "./errors.ts";
import { batchIdOf } from "./ids.ts";
import { type JobOptions, JobOptionsSchema } from "./jobOptions.ts";
import { decodeKey, encodeKey } from "./keyCodec.ts";
import type { ManifestTask } from "./manifest.ts";
import type { KeyRange } from "./ranges.ts";
import type { ErrorInfo } from "./retry.ts";

export const MESSAGE_VERSION = 1;

const BucketName = v.pipe(v.string(), v.minLength(1), v.maxLength(255));
const EncodedKey = v.pipe(v.string(), v.maxLength(4096));
const Location = v.object({ bucket: BucketName, prefix: EncodedKey });

const JobRefSchema = v.object({
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)),
  source: Location,
  destination: Location,
  options: v.optional(JobOptionsSchema),
});

const Offset = v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(Number.MAX_SAFE_INTEGER));

/** A manifest chunk to read instead of a key range, with how far it has been read. */
const ManifestChunkSchema = v.pipe(
  v.object({
    bucket: BucketName,
    key: v.pipe(EncodedKey, v.minLength(1)),
    etag: v.optional(v.pipe(v.string(), v.maxLength(256))),
    format: v.picklist(["csv", "inventory"]),
    gzip: v.boolean(),
    schema: v.optional(v.pipe(v.string(), v.maxLength(4096))),
    chunk: Offset,
    of: v.pipe(Offset, v.minValue(1)),
    start: Offset,
    end: Offset,
    row: Offset,
    byte: Offset,
  }),
  v.check((m) => m.chunk < m.of && m.start <= m.end, "chunk must be below of, and start at most end"),
  v.check((m) => m.format !== "inventory" || m.schema !== undefined, "an inventory chunk needs its schema"),
);

const ListMessageSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("list"),
  job: JobRefSchema,
  range: v.object({ startAfter: v.optional(EncodedKey), endAt: v.optional(EncodedKey) }),
  token: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(4096))),
  hop: v.pipe(v.number(), v.integer(), v.minValue(0)),
  manifest: v.optional(ManifestChunkSchema),
});

const VersionId = v.pipe(v.string(), v.minLength(1), v.maxLength(1024), v.regex(/^[\x21-\x7e]+$/));

const CopyItemSchema = v.object({
  k: EncodedKey,
  s: v.pipe(v.number(), v.integer(), v.minValue(0)),
  e: v.optional(v.pipe(v.string(), v.maxLength(256))),
  /** A multipart copy in progress, resumed from its uploaded parts. */
  u: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(1024))),
  /** The source version to copy (a manifest row named it). */
  vid: v.optional(VersionId),
});

const BatchId = v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,128}$/));

/** What a copy-queue batch does to its keys: copy them (the default), or delete them from the destination. */
const OpSchema = v.optional(v.picklist(["delete"]));

const CopyMessageSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("copy"),
  job: JobRefSchema,
  batch: BatchId,
  attempt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  redriveOf: v.optional(BatchId),
  op: OpSchema,
  items: v.pipe(v.array(CopyItemSchema), v.minLength(1), v.maxLength(1000)),
});

/** A copy DLQ record (failureBody); its error and attempts are for people, not needed to retry. */
const CopyFailureSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("copy-failure"),
  job: JobRefSchema,
  batch: BatchId,
  key: EncodedKey,
  size: v.pipe(v.number(), v.integer(), v.minValue(0)),
  etag: v.optional(v.pipe(v.string(), v.maxLength(256))),
  versionId: v.optional(VersionId),
  op: OpSchema,
});

/**
 * Sent by a listing of a job with deletions when it finishes its range: the
 * receiver checks whether the whole listing is done and, if so, plans the deletions.
 */
const FinishMessageSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("finish"),
  job: JobRefSchema,
});

export interface S3Location {
  readonly bucket: string;
  readonly prefix: string;
}

/** What every message says about its job: enough to act without a lookup. */
export interface JobRef {
  readonly id: string;
  readonly source: S3Location;
  readonly destination: S3Location;
  readonly options?: JobOptions | undefined;
}

export interface ListTask {
  readonly job: JobRef;
  readonly range: KeyRange;
  /** S3 ContinuationToken to resume from; range.startAfter is the last key seen. */
  readonly token?: string | undefined;
  /** How many times this range has continued itself. */
  readonly hop: number;
  /** Set when the task reads a chunk of a manifest instead of listing `range` (then empty). */
  readonly manifest?: ManifestTask | undefined;
}

export interface CopyItem {
  readonly key: string;
  readonly size: number;
  readonly etag?: string | undefined;
  /** The multipart upload of this key in progress, when a copy by parts resumes. */
  readonly uploadId?: string | undefined;
  /** The source version to copy; the current version when undefined. */
  readonly versionId?: string | undefined;
}

export interface CopyTask {
  readonly job: JobRef;
  readonly batchId: string;
  /** Deliveries this batch's keys have already failed. */
  readonly attempt: number;
  readonly items: readonly CopyItem[];
  /**
   * Set when an operator redrove a DLQ failure record: the batch in which the
   * key failed. Retry children of the batch carry it on. Absent otherwise.
   */
  readonly redriveOf?: string | undefined;
  /** "delete": delete each key's destination object if the source lacks it. @default copy */
  readonly op?: CopyOp | undefined;
}

export type CopyOp = "delete";

/** The list queue carries key ranges (or manifest chunks) to list, and "finish" checks of jobs with deletions. */
export type ListQueueTask = { readonly kind: "list"; readonly task: ListTask } | { readonly kind: "finish"; readonly job: JobRef };

/** JSON with every non-ASCII character escaped: always valid in SQS. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function jobToWire(job: JobRef) {
  return {
    id: job.id,
    source: { bucket: job.source.bucket, prefix: encodeKey(job.source.prefix) },
    destination: { bucket: job.destination.bucket, prefix: encodeKey(job.destination.prefix) },
    options: job.options,
  };
}

function jobFromWire(job: v.InferOutput<typeof JobRefSchema>): JobRef {
  const ref: JobRef = {
    id: job.id,
    source: { bucket: job.source.bucket, prefix: decodeKey(job.source.prefix) },
    destination: { bucket: job.destination.bucket, prefix: decodeKey(job.destination.prefix) },
  };
  return job.options === undefined ? ref : { ...ref, options: job.options };
}

export function listBody(task: ListTask): string {
  return asciiJson({
    v: MESSAGE_VERSION,
    type: "list",
    job: jobToWire(task.job),
    range: {
      startAfter: task.range.startAfter === undefined ? undefined : encodeKey(task.range.startAfter),
      endAt: task.range.endAt === undefined ? undefined : encodeKey(task.range.endAt),
    },
    token: task.token,
    hop: task.hop,
    manifest: task.manifest === undefined ? undefined : { ...task.manifest, key: encodeKey(task.manifest.key) },
  });
}

/** The wire form of one copy item; exported so batching can measure it. */
export function copyItemWire(item: CopyItem): { k: string; s: number; e?: string; u?: string; vid?: string } {
  const wire: { k: string; s: number; e?: string; u?: string; vid?: string } = { k: encodeKey(item.key), s: item.size };
  if (item.etag !== undefined) wire.e = item.etag;
  if (item.uploadId !== undefined) wire.u = item.uploadId;
  if (item.versionId !== undefined) wire.vid = item.versionId;
  return wire;
}

/** Body of a copy message from items already serialized with copyItemWire. */
export function copyBodyFromWire(
  job: JobRef,
  batchId: string,
  attempt: number,
  itemsJson: readonly string[],
  redriveOf?: string | undefined,
  op?: CopyOp | undefined,
): string {
  // `items` is the last field, so the envelope's closing `[]}` takes the items.
  // An undefined redriveOf or op is left out by JSON.stringify.
  const envelope = asciiJson({ v: MESSAGE_VERSION, type: "copy", job: jobToWire(job), batch: batchId, attempt, redriveOf, op, items: [] });
  return `${envelope.slice(0, -3)}[${itemsJson.join(",")}]}`;
}

export function copyBody(task: CopyTask): string {
  return copyBodyFromWire(
    task.job,
    task.batchId,
    task.attempt,
    task.items.map((i) => asciiJson(copyItemWire(i))),
    task.redriveOf,
    task.op,
  );
}

export function finishBody(job: JobRef): string {
  return asciiJson({ v: MESSAGE_VERSION, type: "finish", job: jobToWire(job) });
}

/** Bytes a `redriveOf` field adds to a copy message body. */
export function redriveOfBytes(redriveOf: string | undefined): number {
  return redriveOf === undefined ? 0 : asciiJson({ redriveOf }).length - 1;
}

function parseJson(body: string): unknown {
  try {
    return JSON.parse(body);
  } catch {
    throw new MalformedMessageError("body is not JSON");
  }
}

function check<S extends v.GenericSchema>(schema: S, value: unknown, what: string): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (!result.success) {
    const issue = result.issues[0];
    const path = issue?.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new MalformedMessageError(`invalid ${what} message${path ? ` at ${path}` : ""}: ${issue?.message ?? "unknown"}`);
  }
  return result.output;
}

/** Rejects a message of another version or kind before its schema is tried; returns its kind. */
function checkEnvelope(value: unknown, type: string, alsoAccepted: readonly string[] = []): string {
  if (typeof value !== "object" || value === null) throw new MalformedMessageError("body is not a JSON object");
  const { v: version, type: kind } = value as { v?: unknown; type?: unknown };
  if (version !== MESSAGE_VERSION) throw new MalformedMessageError(`unsupported message version ${String(version)}`);
  if (kind !== type && !alsoAccepted.includes(String(kind)))
    throw new MalformedMessageError(`expected a ${type} message, got ${String(kind)}`);
  return String(kind);
}

export function parseListBody(body: string): ListTask {
  return asMalformed(() => parseListMessage(body));
}

/** Parses list-queue work: a listing (parseListBody), or a finish check. */
export function parseListQueueBody(body: string): ListQueueTask {
  return asMalformed(() => {
    const raw = parseJson(body);
    if (checkEnvelope(raw, "list", ["list-failure", "finish"]) === "finish")
      return { kind: "finish", job: jobFromWire(check(FinishMessageSchema, raw, "finish").job) };
    return { kind: "list", task: parseListMessage(body) };
  });
}

/**
 * Parses copy work: a copy message, or a copy DLQ failure record that an
 * operator moved back to the copy queue (redrive moves bodies unchanged).
 */
export function parseCopyBody(body: string): CopyTask {
  return asMalformed(() => parseCopyMessage(body));
}

/** A key that does not decode makes the whole message poison, not a retry. */
function asMalformed<T>(parse: () => T): T {
  try {
    return parse();
  } catch (err) {
    if (err instanceof InvalidKeyError) throw new MalformedMessageError(err.message, { cause: err });
    throw err;
  }
}

/** A listing parked in the list DLQ (listFailureBody); redriven, it is listed again as it was. */
const ListFailureSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("list-failure"),
  body: v.pipe(v.string(), v.maxLength(256 * 1024)),
});

function parseListMessage(body: string): ListTask {
  const raw = parseJson(body);
  if (checkEnvelope(raw, "list", ["list-failure"]) === "list-failure") {
    const inner = parseJson(check(ListFailureSchema, raw, "list-failure").body);
    // One level only: the parked body is the list message itself.
    checkEnvelope(inner, "list");
    return listTaskOf(inner);
  }
  return listTaskOf(raw);
}

function listTaskOf(raw: unknown): ListTask {
  const msg = check(ListMessageSchema, raw, "list");
  return {
    job: jobFromWire(msg.job),
    range: {
      startAfter: msg.range.startAfter === undefined ? undefined : decodeKey(msg.range.startAfter),
      endAt: msg.range.endAt === undefined ? undefined : decodeKey(msg.range.endAt),
    },
    token: msg.token,
    hop: msg.hop,
    ...(msg.manifest === undefined ? {} : { manifest: { ...msg.manifest, key: decodeKey(msg.manifest.key) } }),
  };
}

function parseCopyMessage(body: string): CopyTask {
  const raw = parseJson(body);
  if (checkEnvelope(raw, "copy", ["copy-failure"]) === "copy-failure") return parseFailureRecord(raw);
  const msg = check(CopyMessageSchema, raw, "copy");
  const task: CopyTask = {
    job: jobFromWire(msg.job),
    batchId: msg.batch,
    attempt: msg.attempt,
    ...(msg.op === undefined ? {} : { op: msg.op }),
    items: msg.items.map((i) => ({
      key: decodeKey(i.k),
      size: i.s,
      etag: i.e,
      ...(i.u === undefined ? {} : { uploadId: i.u }),
      ...(i.vid === undefined ? {} : { versionId: i.vid }),
    })),
  };
  return msg.redriveOf === undefined ? task : { ...task, redriveOf: msg.redriveOf };
}

/**
 * A redriven failure record is a fresh batch of its one key: attempt 0, an
 * id derived from the batch it failed in (so a duplicate delivery of the
 * record gets the same id), and `redriveOf` naming that batch.
 */
function parseFailureRecord(raw: unknown): CopyTask {
  const msg = check(CopyFailureSchema, raw, "copy-failure");
  const job = jobFromWire(msg.job);
  const base: CopyItem = { key: decodeKey(msg.key), size: msg.size, etag: msg.etag };
  const item: CopyItem = msg.versionId === undefined ? base : { ...base, versionId: msg.versionId };
  const task: CopyTask = {
    job,
    batchId: batchIdOf(job.id, [item], 0, `redrive:${msg.batch}`),
    attempt: 0,
    items: [item],
    redriveOf: msg.batch,
  };
  // A redriven deletion stays a deletion: it must never come back as a copy.
  return msg.op === undefined ? task : { ...task, op: msg.op };
}

/** A copy DLQ record: one key that could not be copied, with its error. */
export function failureBody(
  job: JobRef,
  batchId: string,
  item: CopyItem,
  attempts: number,
  error: ErrorInfo,
  op?: CopyOp | undefined,
): string {
  return asciiJson({
    v: MESSAGE_VERSION,
    type: "copy-failure",
    op,
    job: jobToWire(job),
    batch: batchId,
    key: encodeKey(item.key),
    size: item.size,
    etag: item.etag,
    versionId: item.versionId,
    attempts,
    error,
  });
}

/**
 * A listing that failed for a reason retrying cannot fix (AccessDenied, NoSuchBucket, an unreadable
 * manifest), parked in the list DLQ with its error; once the cause is fixed, redrive lists it again.
 */
export function listFailureBody(originalBody: string, error: ErrorInfo): string {
  return asciiJson({
    v: MESSAGE_VERSION,
    type: "list-failure",
    reason: `${error.code}: ${error.message}`,
    error,
    body: innermostListBody(originalBody),
  });
}

/** A redriven list-failure that fails again is parked as the listing it holds, never wrapped twice. */
function innermostListBody(body: string): string {
  try {
    const raw: unknown = JSON.parse(body);
    const parsed = v.safeParse(ListFailureSchema, raw);
    return parsed.success ? parsed.output.body : body;
  } catch {
    return body;
  }
}

/** A message we could not parse, parked in a DLQ with the reason. */
export function poisonBody(reason: string, originalBody: string): string {
  return asciiJson({ v: MESSAGE_VERSION, type: "poison", reason, body: originalBody });
}
