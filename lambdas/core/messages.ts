/**
 * Queue message contracts, versioned and validated at the edge. Keys and
 * prefixes travel transport-encoded (ASCII) and are decoded on parse, so the
 * rest of the code only sees real keys.
 */
import * as v from "valibot";
import { InvalidKeyError, MalformedMessageError } from "./errors.ts";
import { decodeKey, encodeKey } from "./keyCodec.ts";
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
});

const ListMessageSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("list"),
  job: JobRefSchema,
  range: v.object({ startAfter: v.optional(EncodedKey), endAt: v.optional(EncodedKey) }),
  token: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(4096))),
  hop: v.pipe(v.number(), v.integer(), v.minValue(0)),
});

const CopyItemSchema = v.object({
  k: EncodedKey,
  s: v.pipe(v.number(), v.integer(), v.minValue(0)),
  e: v.optional(v.pipe(v.string(), v.maxLength(256))),
});

const CopyMessageSchema = v.object({
  v: v.literal(MESSAGE_VERSION),
  type: v.literal("copy"),
  job: JobRefSchema,
  batch: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,128}$/)),
  attempt: v.pipe(v.number(), v.integer(), v.minValue(0)),
  items: v.pipe(v.array(CopyItemSchema), v.minLength(1), v.maxLength(1000)),
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
}

export interface ListTask {
  readonly job: JobRef;
  readonly range: KeyRange;
  /** S3 ContinuationToken to resume from; range.startAfter is the last key seen. */
  readonly token?: string | undefined;
  /** How many times this range has continued itself. */
  readonly hop: number;
}

export interface CopyItem {
  readonly key: string;
  readonly size: number;
  readonly etag?: string | undefined;
}

export interface CopyTask {
  readonly job: JobRef;
  readonly batchId: string;
  /** Deliveries this batch's keys have already failed. */
  readonly attempt: number;
  readonly items: readonly CopyItem[];
}

/** JSON with every non-ASCII character escaped: always valid in SQS. */
export function asciiJson(value: unknown): string {
  return JSON.stringify(value).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, "0")}`);
}

function jobToWire(job: JobRef) {
  return {
    id: job.id,
    source: { bucket: job.source.bucket, prefix: encodeKey(job.source.prefix) },
    destination: { bucket: job.destination.bucket, prefix: encodeKey(job.destination.prefix) },
  };
}

function jobFromWire(job: v.InferOutput<typeof JobRefSchema>): JobRef {
  return {
    id: job.id,
    source: { bucket: job.source.bucket, prefix: decodeKey(job.source.prefix) },
    destination: { bucket: job.destination.bucket, prefix: decodeKey(job.destination.prefix) },
  };
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
  });
}

/** The wire form of one copy item; exported so batching can measure it. */
export function copyItemWire(item: CopyItem): { k: string; s: number; e?: string } {
  return item.etag === undefined ? { k: encodeKey(item.key), s: item.size } : { k: encodeKey(item.key), s: item.size, e: item.etag };
}

/** Body of a copy message from items already serialized with copyItemWire. */
export function copyBodyFromWire(job: JobRef, batchId: string, attempt: number, itemsJson: readonly string[]): string {
  // `items` is the last field, so the envelope's closing `[]}` takes the items.
  const envelope = asciiJson({ v: MESSAGE_VERSION, type: "copy", job: jobToWire(job), batch: batchId, attempt, items: [] });
  return `${envelope.slice(0, -3)}[${itemsJson.join(",")}]}`;
}

export function copyBody(task: CopyTask): string {
  return copyBodyFromWire(
    task.job,
    task.batchId,
    task.attempt,
    task.items.map((i) => asciiJson(copyItemWire(i))),
  );
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

/** Rejects a message of another version or kind before its schema is tried. */
function checkEnvelope(value: unknown, type: string): void {
  if (typeof value !== "object" || value === null) throw new MalformedMessageError("body is not a JSON object");
  const { v: version, type: kind } = value as { v?: unknown; type?: unknown };
  if (version !== MESSAGE_VERSION) throw new MalformedMessageError(`unsupported message version ${String(version)}`);
  if (kind !== type) throw new MalformedMessageError(`expected a ${type} message, got ${String(kind)}`);
}

export function parseListBody(body: string): ListTask {
  return asMalformed(() => parseListMessage(body));
}

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

function parseListMessage(body: string): ListTask {
  const raw = parseJson(body);
  checkEnvelope(raw, "list");
  const msg = check(ListMessageSchema, raw, "list");
  return {
    job: jobFromWire(msg.job),
    range: {
      startAfter: msg.range.startAfter === undefined ? undefined : decodeKey(msg.range.startAfter),
      endAt: msg.range.endAt === undefined ? undefined : decodeKey(msg.range.endAt),
    },
    token: msg.token,
    hop: msg.hop,
  };
}

function parseCopyMessage(body: string): CopyTask {
  const raw = parseJson(body);
  checkEnvelope(raw, "copy");
  const msg = check(CopyMessageSchema, raw, "copy");
  return {
    job: jobFromWire(msg.job),
    batchId: msg.batch,
    attempt: msg.attempt,
    items: msg.items.map((i) => ({ key: decodeKey(i.k), size: i.s, etag: i.e })),
  };
}

/** A copy DLQ record: one key that could not be copied, with its error. */
export function failureBody(job: JobRef, batchId: string, item: CopyItem, attempts: number, error: ErrorInfo): string {
  return asciiJson({
    v: MESSAGE_VERSION,
    type: "copy-failure",
    job: jobToWire(job),
    batch: batchId,
    key: encodeKey(item.key),
    size: item.size,
    etag: item.etag,
    attempts,
    error,
  });
}

/** A message we could not parse, parked in a DLQ with the reason. */
export function poisonBody(reason: string, originalBody: string): string {
  return asciiJson({ v: MESSAGE_VERSION, type: "poison", reason, body: originalBody });
}
