/**
 * Capacity and cost planning: from the sizes of a job's objects (and the copy
 * messages its listing would cut), the requests the job makes by operation,
 * what they cost at list prices, the Lambda GB-seconds, and a projected
 * duration set by the slowest of its bottlenecks. AWS-free and pure: the
 * `plan` command feeds it a listing or a manifest, tests and the worked
 * examples of docs/capacity-and-cost.md feed it made-up jobs.
 *
 * Every figure is a projection from list prices and the assumptions in the
 * price table's `model` section, not a measured bill.
 */
import * as v from "valibot";
import { DEFAULT_BATCH_LIMITS, packSendRequests, SEND_BATCH_MAX_BYTES, SEND_BATCH_MAX_ENTRIES } from "./batching.ts";
import { effectivePartSize, MAX_COPY_OBJECT_BYTES, needsMultipart } from "./copyPlan.ts";
import { ConfigError } from "./errors.ts";
import { rampedSeconds, rampedWork } from "./eventSource.ts";
import { grownPartitions, grownSeconds, S3_SCALING } from "./s3Scaling.ts";

// ---------------------------------------------------------------- price table

const Price = v.pipe(v.number(), v.minValue(0));
const Positive = v.pipe(v.number(), v.gtValue(0));
const Count = v.pipe(v.number(), v.integer(), v.minValue(1));
const Note = v.optional(v.string());

export const PriceTableSchema = v.strictObject({
  /** When the prices were taken from the pricing pages. */
  asOf: v.pipe(v.string(), v.minLength(1)),
  /** Where they come from (the pricing pages). */
  source: v.pipe(v.string(), v.minLength(1)),
  region: v.pipe(v.string(), v.minLength(1)),
  currency: v.literal("USD"),
  note: Note,
  s3: v.strictObject({
    note: Note,
    /** PUT, COPY, POST and LIST requests (CopyObject, UploadPartCopy, Create/CompleteMultipartUpload, ListObjectsV2, ledger PUTs). */
    putCopyPostListPer1000: Price,
    /** GET, HEAD and the other requests (HeadObject, GetObjectTagging, manifest GETs). */
    getHeadPer1000: Price,
  }),
  sqs: v.strictObject({
    note: Note,
    /** Standard queues, beyond the free tier. */
    perMillionRequests: Price,
    /** Each chunk of this many payload bytes of a request is billed as one request. */
    billedChunkBytes: Count,
  }),
  lambda: v.strictObject({
    note: Note,
    /** Arm64 duration price. */
    perGbSecond: Price,
    perMillionRequests: Price,
  }),
  batchOperations: v.strictObject({
    note: Note,
    perJob: Price,
    perMillionObjects: Price,
  }),
  s3RequestRates: v.strictObject({
    note: Note,
    /** PUT/COPY/POST/DELETE requests per second per partitioned prefix. */
    writesPerSecondPerPrefix: Positive,
    /** GET/HEAD requests per second per partitioned prefix. */
    readsPerSecondPerPrefix: Positive,
  }),
  model: v.strictObject({
    note: Note,
    /** Memory of the copy and list functions (the stack's default is 1024). */
    copyMemoryMb: Count,
    listMemoryMb: Count,
    /** Time of one CopyObject or UploadPartCopy request, before its bytes. */
    copyRequestSeconds: Positive,
    /** Bytes a server-side copy request moves per second, added to copyRequestSeconds. */
    copyBytesPerSecond: Positive,
    /** Time of one HEAD, GetObjectTagging, Create/CompleteMultipartUpload or ledger PUT. */
    metadataRequestSeconds: Positive,
    /** Time of one listing page of 1,000 keys, cutting and sending its copy messages included. */
    listPageSeconds: Positive,
    /** Fixed time of one invocation: receive, halt check, ledger, return. */
    invocationOverheadSeconds: v.pipe(v.number(), v.minValue(0)),
    /** Listing pages one list invocation handles before it continues or splits. */
    listPagesPerInvocation: Count,
    /** Copy messages per copy invocation (the event source's batch size). */
    messagesPerCopyInvocation: Count,
    /** Ledger objects a copy invocation writes. */
    ledgerPutsPerCopyInvocation: v.pipe(v.number(), v.integer(), v.minValue(0)),
  }),
});

export type PriceTable = v.InferOutput<typeof PriceTableSchema>;

/** Parses and validates a price table; any problem is one ConfigError naming `where` and the field. */
export function parsePriceTable(text: string, where: string): PriceTable {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new ConfigError(`price table ${where} is not JSON: ${err instanceof Error ? err.message : String(err)}`);
  }
  const parsed = v.safeParse(PriceTableSchema, raw);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const field = issue?.path?.map((p) => String(p.key)).join(".") || "(top level)";
    throw new ConfigError(`price table ${where} is invalid at ${field}: ${issue?.message ?? "?"}`);
  }
  return parsed.output;
}

// ---------------------------------------------------------------- objects

/** One bucket of the size histogram: objects of `from` <= size < `below` bytes (powers of two; size 0 alone). */
export interface SizeBucket {
  readonly from: number;
  readonly below: number;
  readonly objects: number;
  readonly bytes: number;
}

export interface MultipartOptions {
  /** Objects above this are copied by parts. */
  readonly threshold: number;
  /** Bytes per part before growing to fit 10,000 parts. */
  readonly partSize: number;
}

/** Index of the log2 bucket of a size: 0 for 0 bytes, k + 1 for 2^k <= size < 2^(k+1). */
function bucketOf(size: number): number {
  if (size <= 0) return 0;
  let k = Math.floor(Math.log2(size));
  while (2 ** k > size) k--;
  while (2 ** (k + 1) <= size) k++;
  return k + 1;
}

/**
 * Objects counted as they stream past, in constant memory: counts, bytes, a
 * log2 histogram, and what the copies by parts need (copyPlan's rules).
 */
export class ObjectTally {
  objects = 0;
  bytes = 0;
  largest = 0;
  multipartObjects = 0;
  multipartBytes = 0;
  parts = 0;
  /** Objects above CopyObject's 5 GiB: only a copy by parts can copy them. */
  over5GiB = 0;
  private readonly counts: number[] = [];
  private readonly sums: number[] = [];

  constructor(readonly multipart: MultipartOptions) {}

  add(size: number, etag?: string): void {
    this.addMany(1, size, etag);
  }

  /** `count` objects of `size` bytes each. */
  addMany(count: number, size: number, etag?: string): void {
    if (count <= 0) return;
    this.objects += count;
    this.bytes += count * size;
    if (size > this.largest) this.largest = size;
    if (size > MAX_COPY_OBJECT_BYTES) this.over5GiB += count;
    if (needsMultipart(size, this.multipart, etag)) {
      this.multipartObjects += count;
      this.multipartBytes += count * size;
      this.parts += count * partsOf(size, this.multipart.partSize);
    }
    const b = bucketOf(size);
    this.counts[b] = (this.counts[b] ?? 0) + count;
    this.sums[b] = (this.sums[b] ?? 0) + count * size;
  }

  /** The non-empty buckets, smallest first. */
  histogram(): SizeBucket[] {
    const out: SizeBucket[] = [];
    this.counts.forEach((objects, b) => {
      if (!objects) return;
      out.push({ from: b === 0 ? 0 : 2 ** (b - 1), below: b === 0 ? 1 : 2 ** b, objects, bytes: this.sums[b] ?? 0 });
    });
    return out;
  }
}

/** Parts of a copy by parts of `size` bytes: planParts' count, without building the list. */
export function partsOf(size: number, partSize: number): number {
  return size <= 0 ? 0 : Math.ceil(size / effectivePartSize(size, partSize));
}

// ---------------------------------------------------------------- copy messages

/** The copy messages of a job and the SendMessageBatch requests that carry them. */
export interface MessageCounts {
  readonly messages: number;
  readonly bodyBytes: number;
  readonly sendRequests: number;
  /** Send requests as SQS bills them: one per started chunk of payload. */
  readonly billedSendRequests: number;
}

export const NO_MESSAGES: MessageCounts = { messages: 0, bodyBytes: 0, sendRequests: 0, billedSendRequests: 0 };

/** SQS's billed chunk of a request payload: 64 KiB. */
export const SQS_CHUNK_BYTES = 64 * 1024;

/** Counts message bodies sent together (one listing page's batches), cut into requests as the sink cuts them. */
export function countMessages(bodies: readonly string[], chunkBytes = SQS_CHUNK_BYTES): MessageCounts {
  const requests = packSendRequests(bodies.map((body) => ({ body })));
  let bodyBytes = 0;
  let billed = 0;
  for (const request of requests) {
    const bytes = request.reduce((n, m) => n + Buffer.byteLength(m.body), 0);
    bodyBytes += bytes;
    billed += Math.max(1, Math.ceil(bytes / chunkBytes));
  }
  return { messages: bodies.length, bodyBytes, sendRequests: requests.length, billedSendRequests: billed };
}

export function addMessageCounts(a: MessageCounts, b: MessageCounts): MessageCounts {
  return {
    messages: a.messages + b.messages,
    bodyBytes: a.bodyBytes + b.bodyBytes,
    sendRequests: a.sendRequests + b.sendRequests,
    billedSendRequests: a.billedSendRequests + b.billedSendRequests,
  };
}

/**
 * Messages for `objects` copy items of `itemBytes` each (their JSON) in
 * messages of `envelopeBytes` plus items, as batching cuts them: for a job
 * that exists only on paper.
 */
export function estimateMessages(
  objects: number,
  itemBytes: number,
  envelopeBytes: number,
  limits = DEFAULT_BATCH_LIMITS,
  chunkBytes = SQS_CHUNK_BYTES,
): MessageCounts {
  if (objects <= 0) return NO_MESSAGES;
  const fit = Math.floor((limits.maxBytes - envelopeBytes + 1) / (itemBytes + 1));
  const perMessage = Math.max(1, Math.min(limits.maxKeys, fit));
  const messages = Math.ceil(objects / perMessage);
  const bodyBytes = messages * envelopeBytes + objects * itemBytes + (objects - messages);
  const messageBytes = bodyBytes / messages;
  const perRequest = Math.max(1, Math.min(SEND_BATCH_MAX_ENTRIES, Math.floor(SEND_BATCH_MAX_BYTES / messageBytes)));
  const full = Math.floor(messages / perRequest);
  const rest = messages % perRequest;
  const billed =
    full * Math.ceil((perRequest * messageBytes) / chunkBytes) + (rest > 0 ? Math.ceil((rest * messageBytes) / chunkBytes) : 0);
  return { messages, bodyBytes, sendRequests: full + (rest > 0 ? 1 : 0), billedSendRequests: billed };
}

// ---------------------------------------------------------------- the plan

/** Where the keys come from. */
export type PlanSource =
  | {
      readonly kind: "listing";
      /** Listing units seeded by the kickoff (key ranges). */
      readonly units: number;
      /** Sync mode: the destination's ranges are listed too (assumed to hold as many keys). */
      readonly sync: boolean;
      /** Listing pages of the seeded units as counted; else one per 1,000 objects, and one per unit at least. */
      readonly pages?: number | undefined;
    }
  | {
      readonly kind: "manifest";
      /** Chunks seeded (one list message each). */
      readonly chunks: number;
      /** Records read from the manifest files (every row, copied or not). */
      readonly rows: number;
      /** Rows without a size, which the list function HEADs. */
      readonly headedRows: number;
      /** An inventory manifest.json (one GET at kickoff) rather than a CSV (one HEAD). */
      readonly inventory: boolean;
      /** Pages of rows as counted; else one per 1,000 rows, and one per chunk at least. */
      readonly pages?: number | undefined;
      /** Pages with rows settled without a copy (no such key, invalid): each records an outcome of its own. */
      readonly settledPages?: number | undefined;
    };

export interface PlanCapacity {
  /** Copy function invocations at once (the event source's maximum concurrency). */
  readonly lambdaConcurrency: number;
  /** Copies in flight per copy invocation. */
  readonly copyConcurrency: number;
  /** List function invocations at once. */
  readonly listConcurrency: number;
  /** Parts in flight per object copied by parts. */
  readonly partConcurrency: number;
  /** HEADs in flight per list invocation, for manifest rows without a size. */
  readonly headConcurrency: number;
  /**
   * Partitioned prefixes the job's keys spread over; 1 is the worst case. Keys are listed in order, so
   * at most `listConcurrency` of them are written at once (see planJob).
   */
  readonly prefixes: number;
}

export interface PlanInput {
  readonly tally: ObjectTally;
  readonly messages: MessageCounts;
  readonly source: PlanSource;
  readonly capacity: PlanCapacity;
  readonly prices: PriceTable;
  /** Keys per listing page. @default 1000 */
  readonly pageKeys?: number;
}

export interface S3Requests {
  /** ListObjectsV2 pages. */
  readonly list: number;
  /** GETs of manifest files. */
  readonly get: number;
  readonly copy: number;
  readonly head: number;
  readonly tagging: number;
  readonly createUpload: number;
  readonly uploadPartCopy: number;
  readonly completeUpload: number;
  readonly ledgerPut: number;
}

export interface SqsRequests {
  readonly send: number;
  readonly receive: number;
  readonly delete: number;
}

export type Bottleneck = "lambda" | "s3-write-rate" | "s3-read-rate" | "listing" | "largest-object";

export interface JobPlan {
  readonly objects: number;
  readonly bytes: number;
  readonly largestObject: number;
  readonly sizeHistogram: readonly SizeBucket[];
  readonly multipartObjects: number;
  readonly parts: number;
  /** Objects above 5 GiB, which S3 Batch Operations' Copy cannot copy. */
  readonly objectsOver5GiB: number;
  readonly copyMessages: number;
  readonly invocations: { readonly list: number; readonly copy: number };
  readonly requests: { readonly s3: S3Requests; readonly sqs: SqsRequests };
  /** SQS requests as billed (64 KiB chunks). */
  readonly sqsBilledRequests: SqsRequests;
  readonly costByOperation: {
    readonly s3: Record<keyof S3Requests, number>;
    readonly sqs: Record<keyof SqsRequests, number>;
    readonly lambda: { readonly duration: number; readonly requests: number };
  };
  readonly cost: {
    readonly s3: number;
    readonly sqs: number;
    readonly lambda: number;
    readonly total: number;
    readonly perMillionObjects: number;
  };
  readonly lambdaGbSeconds: number;
  readonly projectedSeconds: number;
  readonly bottleneck: Bottleneck;
  /** Seconds each stage alone would take; the job takes as long as the slowest. */
  readonly bottlenecks: Readonly<Record<Bottleneck, number>>;
  /** Copy invocations at once beyond which Lambda stops being the bottleneck. */
  readonly usefulConcurrency: number;
  /** Prefixes written at once: the job's prefixes, at most one per list invocation at work. */
  readonly prefixesAtOnce: number;
  /**
   * Partitions each prefix written at once has when the job's writes end, by S3's growth rule
   * (s3Scaling.ts: a prefix asked for 80 % of its rate doubles every 300 s, up to 64), as far as the copy
   * Lambdas' pace asks for it: 1 for writes done within 300 s.
   */
  readonly s3PartitionsAtEnd: number;
  readonly batchOperations: {
    readonly cost: number;
    readonly jobFee: number;
    readonly objectFee: number;
    readonly copyRequests: number;
    /** Objects its Copy operation refuses (above 5 GiB). */
    readonly unsupportedObjects: number;
  };
}

const per1000 = (n: number, price: number) => (n * price) / 1000;
const perMillion = (n: number, price: number) => (n * price) / 1_000_000;
/** Rounds money and seconds for output: floating-point noise is not a figure. */
const round = (x: number, digits = 6) => Math.round(x * 10 ** digits) / 10 ** digits;

export function planJob(input: PlanInput): JobPlan {
  const { tally, messages, source, capacity, prices } = input;
  const model = prices.model;
  const pageKeys = input.pageKeys ?? 1000;
  const n = tally.objects;
  const m = tally.multipartObjects;
  const single = n - m;

  // Listing: every listing unit lists at least one page.
  let listPages = 0;
  let get = 0;
  let kickoffHead = 0;
  let headedRows = 0;
  let settledPages = 0;
  let listParallelism: number;
  let units: number;
  let pages: number;
  if (source.kind === "listing") {
    units = source.units;
    pages = source.pages ?? Math.max(units, Math.ceil(n / pageKeys));
    listPages = pages * (source.sync ? 2 : 1);
    // Ranges split while they are listed, so parallelism grows to the list concurrency (not beyond the pages).
    listParallelism = Math.max(1, Math.min(capacity.listConcurrency, pages));
  } else {
    units = source.chunks;
    pages = source.pages ?? Math.max(units, Math.ceil(source.rows / pageKeys));
    headedRows = source.headedRows;
    settledPages = source.settledPages ?? 0;
    kickoffHead = source.inventory ? 0 : 1;
    // Manifest chunks do not split.
    listParallelism = Math.max(1, Math.min(capacity.listConcurrency, units));
  }
  const listInvocations = Math.max(units, Math.ceil(pages / model.listPagesPerInvocation));
  if (source.kind === "manifest") get = listInvocations + (source.inventory ? 1 : 0);

  const copyInvocations = Math.ceil(messages.messages / model.messagesPerCopyInvocation);
  const s3: S3Requests = {
    // A listed job's kickoff first lists the source's top-level prefixes once (its seed ranges, jobStart.ts).
    list: listPages + (source.kind === "listing" ? 1 : 0),
    get,
    copy: single,
    head: m + headedRows + kickoffHead,
    tagging: m,
    createUpload: m,
    uploadPartCopy: tally.parts,
    completeUpload: m,
    // One per copy invocation, one per listing portion (and per page of manifest rows settled without a copy), the job spec.
    ledgerPut: copyInvocations * model.ledgerPutsPerCopyInvocation + listInvocations + settledPages + 1,
  };

  // SQS: the seeds go out 10 to a request, each continuation on its own; every invocation is one receive and one delete.
  const listSends = Math.ceil(units / SEND_BATCH_MAX_ENTRIES) + (listInvocations - units);
  const sqs: SqsRequests = {
    send: messages.sendRequests + listSends,
    receive: copyInvocations + listInvocations,
    delete: copyInvocations + listInvocations,
  };
  const chunk = prices.sqs.billedChunkBytes;
  const receiveChunks = copyInvocations === 0 ? 0 : copyInvocations * Math.ceil(messages.bodyBytes / copyInvocations / chunk);
  const sqsBilled: SqsRequests = {
    send: messages.billedSendRequests + listSends,
    receive: receiveChunks + listInvocations,
    delete: sqs.delete,
  };

  // Time. Copy work, in request-seconds, shared by the copies in flight of every invocation.
  const copyRequestSeconds =
    (single + tally.parts) * model.copyRequestSeconds +
    tally.bytes / model.copyBytesPerSecond +
    (4 * m + copyInvocations * model.ledgerPutsPerCopyInvocation) * model.metadataRequestSeconds;
  // An invocation cannot have more copies in flight than it has requests to make.
  const inFlight = copyInvocations === 0 ? 1 : Math.max(1, Math.min(capacity.copyConcurrency, (single + tally.parts) / copyInvocations));
  const copyBusySeconds = copyRequestSeconds / inFlight + copyInvocations * model.invocationOverheadSeconds;
  // The event source starts 5 invocations and adds 5 a second while messages wait (eventSource.ts).
  const runningCopies = Math.max(1, Math.min(capacity.lambdaConcurrency, copyInvocations));
  // Pages of keys read by the list function: listing pages, or pages of manifest rows.
  const readPages = source.kind === "listing" ? listPages : pages;
  const listBusySeconds =
    readPages * model.listPageSeconds +
    (headedRows * model.metadataRequestSeconds) / capacity.headConcurrency +
    listInvocations * model.invocationOverheadSeconds;

  const writes = s3.copy + s3.createUpload + s3.uploadPartCopy + s3.completeUpload;
  const reads = s3.list + s3.get + s3.head + s3.tagging;
  const rates = prices.s3RequestRates;
  const { partSize } = tally.multipart;
  const largest = tally.largest;
  // The largest object is one critical path: its parts go at most partConcurrency at a time.
  const largestSeconds =
    n === 0
      ? 0
      : needsMultipart(largest, tally.multipart)
        ? 4 * model.metadataRequestSeconds +
          Math.ceil(partsOf(largest, partSize) / capacity.partConcurrency) *
            (model.copyRequestSeconds + effectivePartSize(largest, partSize) / model.copyBytesPerSecond)
        : model.copyRequestSeconds + largest / model.copyBytesPerSecond;
  // Each list invocation lists a stretch of keys in order, and the copy messages follow that order: the
  // copies reach one prefix per stretch being listed, not every prefix of the job at once (issue 14's
  // simulations: 1M keys over 16 prefixes took 2.3 x an even spread's time).
  const prefixesAtOnce = Math.max(1, Math.min(capacity.prefixes, listParallelism));
  // Copies that wait on a prefix keep it busy, so S3 doubles its partitions as the shared rule says (the
  // simulator's, s3Scaling.ts): a rate-bound job speeds up once it has lasted 300 s. Each prefix holds its
  // share of the requests and is busy only while they are made; prefixes beyond those written at once
  // wait their turn, and grow only in their own busy time.
  const prefixes = Math.max(1, capacity.prefixes);
  const writeBusy = grownSeconds(rates.writesPerSecondPerPrefix, 1, writes / prefixes);
  const readBusy = grownSeconds(rates.readsPerSecondPerPrefix, 1, reads / prefixes);
  const bottlenecks: Record<Bottleneck, number> = {
    lambda: rampedSeconds(runningCopies, copyBusySeconds),
    "s3-write-rate": (writeBusy * prefixes) / prefixesAtOnce,
    "s3-read-rate": (readBusy * prefixes) / prefixesAtOnce,
    listing: rampedSeconds(listParallelism, listBusySeconds),
    "largest-object": largestSeconds,
  };
  let bottleneck: Bottleneck = "lambda";
  for (const [name, seconds] of Object.entries(bottlenecks) as [Bottleneck, number][]) {
    if (seconds > bottlenecks[bottleneck]) bottleneck = name;
  }
  const projectedSeconds = bottlenecks[bottleneck];
  // A prefix grows only while the copies ask it for most of its rate: the copy Lambdas' own pace bounds it.
  const fleetWrites = bottlenecks.lambda > 0 ? writes / bottlenecks.lambda : Number.POSITIVE_INFINITY;
  let demandCap = 1;
  while (
    demandCap < S3_SCALING.maxPartitions &&
    fleetWrites >= S3_SCALING.growDemandFraction * rates.writesPerSecondPerPrefix * prefixesAtOnce * demandCap
  )
    demandCap *= 2;
  const s3PartitionsAtEnd = Math.min(grownPartitions(writeBusy), demandCap);
  // Copy invocations keep pace with S3 only at the rate its prefixes end at: fewer leave a grown prefix
  // below the rule's demand, so it grows no more (at one partition this is the rate stage's seconds).
  const atEndRate = (perPartition: number, busy: number) => perPartition * prefixesAtOnce * grownPartitions(busy);
  const othersSeconds = Math.max(
    writes / atEndRate(rates.writesPerSecondPerPrefix, writeBusy),
    reads / atEndRate(rates.readsPerSecondPerPrefix, readBusy),
    bottlenecks.listing,
    bottlenecks["largest-object"],
  );
  const usefulConcurrency =
    copyInvocations === 0 ? 0 : Math.min(copyInvocations, Math.max(1, Math.ceil(copyBusySeconds / Math.max(othersSeconds, 1e-9))));

  // Held back by S3's request rates, every running copy invocation waits (and is billed) for as long as the
  // job lasts; but only as many run as the event source has ramped up to by then, not all of them from the start.
  const rateBoundSeconds = Math.max(bottlenecks["s3-write-rate"], bottlenecks["s3-read-rate"]);
  const copyBilledSeconds = copyInvocations === 0 ? 0 : Math.max(copyBusySeconds, rampedWork(runningCopies, rateBoundSeconds));
  const lambdaGbSeconds = (copyBilledSeconds * model.copyMemoryMb) / 1024 + (listBusySeconds * model.listMemoryMb) / 1024;

  const put = prices.s3.putCopyPostListPer1000;
  const getPrice = prices.s3.getHeadPer1000;
  const s3Cost: Record<keyof S3Requests, number> = {
    list: per1000(s3.list, put),
    get: per1000(s3.get, getPrice),
    copy: per1000(s3.copy, put),
    head: per1000(s3.head, getPrice),
    tagging: per1000(s3.tagging, getPrice),
    createUpload: per1000(s3.createUpload, put),
    uploadPartCopy: per1000(s3.uploadPartCopy, put),
    completeUpload: per1000(s3.completeUpload, put),
    ledgerPut: per1000(s3.ledgerPut, put),
  };
  const sqsPrice = prices.sqs.perMillionRequests;
  const sqsCost: Record<keyof SqsRequests, number> = {
    send: perMillion(sqsBilled.send, sqsPrice),
    receive: perMillion(sqsBilled.receive, sqsPrice),
    delete: perMillion(sqsBilled.delete, sqsPrice),
  };
  const lambdaCost = {
    duration: lambdaGbSeconds * prices.lambda.perGbSecond,
    requests: perMillion(copyInvocations + listInvocations, prices.lambda.perMillionRequests),
  };
  const sum = (o: Record<string, number>) => Object.values(o).reduce((a, b) => a + b, 0);
  const cost = { s3: sum(s3Cost), sqs: sum(sqsCost), lambda: sum(lambdaCost) };
  const total = cost.s3 + cost.sqs + cost.lambda;

  const jobFee = prices.batchOperations.perJob;
  const objectFee = perMillion(n, prices.batchOperations.perMillionObjects);
  const batchCopy = per1000(n - tally.over5GiB, put);

  const roundAll = <T extends Record<string, number>>(o: T, digits = 6) =>
    Object.fromEntries(Object.entries(o).map(([k, x]) => [k, round(x, digits)])) as T;
  return {
    objects: n,
    bytes: tally.bytes,
    largestObject: largest,
    sizeHistogram: tally.histogram(),
    multipartObjects: m,
    parts: tally.parts,
    objectsOver5GiB: tally.over5GiB,
    copyMessages: messages.messages,
    invocations: { list: listInvocations, copy: copyInvocations },
    requests: { s3, sqs },
    sqsBilledRequests: sqsBilled,
    costByOperation: { s3: roundAll(s3Cost), sqs: roundAll(sqsCost), lambda: roundAll(lambdaCost) },
    cost: {
      s3: round(cost.s3),
      sqs: round(cost.sqs),
      lambda: round(cost.lambda),
      total: round(total),
      perMillionObjects: n === 0 ? 0 : round((total / n) * 1_000_000),
    },
    lambdaGbSeconds: round(lambdaGbSeconds, 3),
    projectedSeconds: round(projectedSeconds, 3),
    bottleneck,
    bottlenecks: roundAll(bottlenecks, 3),
    usefulConcurrency,
    prefixesAtOnce,
    s3PartitionsAtEnd,
    batchOperations: {
      cost: round(jobFee + objectFee + batchCopy),
      jobFee: round(jobFee),
      objectFee: round(objectFee),
      copyRequests: round(batchCopy),
      unsupportedObjects: tally.over5GiB,
    },
  };
}

// ---------------------------------------------------------------- deletions

/**
 * DeleteObject costs nothing: the S3 pricing page bills no DELETE (or CANCEL) request, and the
 * S3 FAQ says S3 "doesn't charge you for removing objects" (https://aws.amazon.com/s3/faqs/, its
 * S3 Express One Zone example bills "DELETE requests ... $0.00 (no charge)"). Minimum storage
 * durations of the infrequent-access and archive classes are storage charges, not modelled here.
 */
export const DELETE_REQUEST_PRICE_PER_1000 = 0;

/** What merge-joining the source and destination selections found on the destination's side. */
export interface DeletionCount {
  /** Destination keys in the selection the source lacks: what the job deletes. */
  readonly keys: number;
  /** Ledger records among them, which a sync never deletes. */
  readonly protected: number;
}

export interface DeletionPlanEstimate {
  readonly keys: number;
  readonly protected: number;
  readonly maxDelete: number | null;
  /** More keys than --max-delete: the job deletes none (and sends no request for them). */
  readonly refused: boolean;
  /** Before each deletion the copier HEADs the source (a key that came back is not deleted), then deletes. */
  readonly requests: { readonly head: number; readonly delete: number };
  readonly cost: number;
}

export function planDeletions(count: DeletionCount, maxDelete: number | undefined, prices: PriceTable): DeletionPlanEstimate {
  const refused = maxDelete !== undefined && count.keys > maxDelete;
  const n = refused ? 0 : count.keys;
  return {
    keys: count.keys,
    protected: count.protected,
    maxDelete: maxDelete ?? null,
    refused,
    requests: { head: n, delete: n },
    cost: round(per1000(n, prices.s3.getHeadPer1000) + per1000(n, DELETE_REQUEST_PRICE_PER_1000)),
  };
}
