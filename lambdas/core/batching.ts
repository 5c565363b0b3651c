/**
 * Cuts listed keys into copy messages (at most maxKeys keys and maxBytes
 * bytes each) and messages into SendMessageBatch requests (at most 10
 * entries and maxRequestBytes). Cuts depend only on the keys, so relisting
 * the same page yields the same batches with the same ids.
 */
import { BATCH_ID_LENGTH, batchIdOf } from "./ids.ts";
import { asciiJson, type CopyItem, type CopyOp, copyBodyFromWire, copyItemWire, type JobRef } from "./messages.ts";

export interface BatchLimits {
  /** Keys per copy message. @default 100 */
  readonly maxKeys: number;
  /** Bytes per copy message body, well inside the SQS limit. @default 64 KiB */
  readonly maxBytes: number;
}

export const DEFAULT_BATCH_LIMITS: BatchLimits = { maxKeys: 100, maxBytes: 64 * 1024 };

/** SQS limits a SendMessageBatch to 10 entries and 256 KiB in total. */
export const SEND_BATCH_MAX_ENTRIES = 10;
export const SEND_BATCH_MAX_BYTES = 256 * 1024 - 4 * 1024;

export interface CopyBatch {
  readonly batchId: string;
  readonly keys: number;
  readonly bytes: number;
  readonly body: string;
}

export { batchIdOf };

export function packCopyBatches(
  job: JobRef,
  items: readonly CopyItem[],
  limits: BatchLimits = DEFAULT_BATCH_LIMITS,
  attempt = 0,
  parent = "",
  op?: CopyOp,
): CopyBatch[] {
  const envelope = copyBodyFromWire(job, "x".repeat(BATCH_ID_LENGTH), attempt, [], undefined, op).length;
  const batches: CopyBatch[] = [];
  let current: CopyItem[] = [];
  let wires: string[] = [];
  let size = envelope;
  const flush = () => {
    if (current.length === 0) return;
    // A deletion batch's id differs from a copy batch's of the same keys.
    const batchId = batchIdOf(job.id, current, attempt, op === undefined ? parent : `${op}:${parent}`);
    const body = copyBodyFromWire(job, batchId, attempt, wires, undefined, op);
    batches.push({ batchId, keys: current.length, bytes: current.reduce((n, i) => n + i.size, 0), body });
    current = [];
    wires = [];
    size = envelope;
  };
  for (const item of items) {
    const wire = asciiJson(copyItemWire(item));
    if (envelope + wire.length > limits.maxBytes) {
      throw new RangeError(`one key alone exceeds the copy message cap of ${limits.maxBytes} bytes`);
    }
    if (current.length > 0 && (current.length >= limits.maxKeys || size + 1 + wire.length > limits.maxBytes)) flush();
    size += (current.length > 0 ? 1 : 0) + wire.length;
    current.push(item);
    wires.push(wire);
  }
  flush();
  return batches;
}

/** Groups message bodies into SendMessageBatch-sized requests, in order. */
export function packSendRequests<T extends { readonly body: string }>(
  messages: readonly T[],
  maxEntries = SEND_BATCH_MAX_ENTRIES,
  maxBytes = SEND_BATCH_MAX_BYTES,
): T[][] {
  const requests: T[][] = [];
  let current: T[] = [];
  let size = 0;
  for (const m of messages) {
    const bytes = Buffer.byteLength(m.body);
    if (current.length > 0 && (current.length >= maxEntries || size + bytes > maxBytes)) {
      requests.push(current);
      current = [];
      size = 0;
    }
    current.push(m);
    size += bytes;
  }
  if (current.length > 0) requests.push(current);
  return requests;
}
