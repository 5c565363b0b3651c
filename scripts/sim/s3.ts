/**
 * A model of S3 for the simulator: a source bucket whose keys are generated
 * from their index (never all held at once), listed in UTF-8 byte order;
 * per-prefix partitions with S3's published request rates, 503 SlowDown above
 * them and a documented rule for gaining partitions; a latency per operation.
 * The destination keeps only how many times each object was copied.
 */
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import type {
  CopyRequest,
  ListPage,
  ListPageRequest,
  MultipartStore,
  ObjectHead,
  ObjectStore,
  UploadedPart,
} from "../../lambdas/core/ports.ts";
import type { Random, VirtualClock } from "./clock.ts";
import { S3_MODEL } from "./model.ts";

const DIGITS = 10;

/**
 * The source's keys: `prefixes` top-level prefixes (4 hex digits spread over 0000-ffff, as hashed prefixes are,
 * or `data` alone), each holding its share of the objects as `PREFIX/0000000042.dat`. Byte order is index order.
 */
export class SourceKeys {
  readonly names: readonly string[];
  private readonly starts: readonly number[];
  private readonly byName: ReadonlyMap<string, number>;

  constructor(
    readonly objects: number,
    prefixes: number,
  ) {
    if (!Number.isInteger(prefixes) || prefixes < 1 || prefixes > 65536) throw new RangeError("prefixes must be 1 to 65536");
    const names =
      prefixes === 1
        ? ["data"]
        : Array.from({ length: prefixes }, (_, i) =>
            Math.floor((i * 65536) / prefixes)
              .toString(16)
              .padStart(4, "0"),
          );
    names.sort(compareKeys);
    this.names = names;
    const starts: number[] = [];
    let at = 0;
    for (let i = 0; i < prefixes; i++) {
      starts.push(at);
      at += Math.floor(objects / prefixes) + (i < objects % prefixes ? 1 : 0);
    }
    starts.push(at);
    this.starts = starts;
    this.byName = new Map(names.map((n, i) => [n, i]));
  }

  /** The prefix (partition) index of object `g`. */
  prefixOf(g: number): number {
    let lo = 0;
    let hi = this.names.length - 1;
    while (lo < hi) {
      const mid = (lo + hi + 1) >> 1;
      if ((this.starts[mid] ?? 0) <= g) lo = mid;
      else hi = mid - 1;
    }
    return lo;
  }

  keyAt(g: number): string {
    const p = this.prefixOf(g);
    return `${this.names[p]}/${String(g - (this.starts[p] ?? 0)).padStart(DIGITS, "0")}.dat`;
  }

  /** The object's index, or -1 when no such key exists. */
  indexOf(key: string): number {
    const slash = key.indexOf("/");
    const p = this.byName.get(key.slice(0, slash));
    if (p === undefined || key.length !== slash + 1 + DIGITS + 4 || !key.endsWith(".dat")) return -1;
    // Parsed by hand: this runs for every copy and every ledger record, and a RegExp and a slice each time cost.
    let j = 0;
    for (let i = slash + 1; i <= slash + DIGITS; i++) {
      const d = key.charCodeAt(i) - 48;
      if (d < 0 || d > 9) return -1;
      j = j * 10 + d;
    }
    const start = this.starts[p] ?? 0;
    return j < (this.starts[p + 1] ?? 0) - start ? start + j : -1;
  }

  /** The index of the first key after `startAfter` in byte order (all of them when undefined). */
  firstAfter(startAfter: string | undefined): number {
    if (startAfter === undefined) return 0;
    return this.search((g) => compareKeys(this.keyAt(g), startAfter) > 0);
  }

  /** [lo, hi): the indexes of keys beginning with `prefix`. */
  prefixRange(prefix: string): [number, number] {
    if (prefix === "") return [0, this.objects];
    const lo = this.search((g) => compareKeys(this.keyAt(g), prefix) >= 0);
    const hi = this.search((g) => {
      const k = this.keyAt(g);
      return compareKeys(k, prefix) > 0 && !k.startsWith(prefix);
    });
    return [lo, hi];
  }

  /** The least index where the monotone `holds` becomes true (objects when never). */
  private search(holds: (g: number) => boolean): number {
    let lo = 0;
    let hi = this.objects;
    while (lo < hi) {
      const mid = Math.floor((lo + hi) / 2);
      if (holds(mid)) hi = mid;
      else lo = mid + 1;
    }
    return lo;
  }
}

/** The request rate of one class on one prefix: a token bucket, empty at the start, and the rule for growing. */
export class RateBucket {
  private tokens = 0;
  private at = 0;
  partitions = 1;
  private second = -1;
  private demand = 0;
  private streak = 0;
  /** Requests accepted in each whole second, and the partitions then: the law the tests check. */
  readonly accepted: number[] = [];
  readonly partitionsAt: number[] = [];
  throttled = 0;

  constructor(private readonly basePerSecond: number) {}

  get perSecond(): number {
    return this.basePerSecond * this.partitions;
  }

  /** Refills to `now` and counts the attempt towards the growth rule; true when a token is there. */
  refill(now: number): boolean {
    const s = Math.floor(now / 1000);
    if (s !== this.second) {
      if (this.second >= 0) {
        const busy = this.demand >= S3_MODEL.growDemandFraction * this.perSecond;
        // Idle seconds in between break the streak.
        this.streak = busy && s === this.second + 1 ? this.streak + 1 : 0;
        if (this.streak >= S3_MODEL.growAfterSeconds) {
          this.partitions = Math.min(S3_MODEL.maxPartitions, this.partitions * 2);
          this.streak = 0;
        }
      }
      this.second = s;
      this.demand = 0;
    }
    this.demand++;
    const rate = this.perSecond;
    this.tokens = Math.min(rate * S3_MODEL.burstSeconds, this.tokens + ((now - this.at) * rate) / 1000);
    this.at = now;
    return this.tokens >= 1;
  }

  take(now: number): void {
    this.tokens -= 1;
    const s = Math.floor(now / 1000);
    this.accepted[s] = (this.accepted[s] ?? 0) + 1;
    this.partitionsAt[s] = Math.max(this.partitionsAt[s] ?? 0, this.partitions);
  }
}

/** One prefix of one bucket: its read and write rates. */
export class PrefixLoad {
  readonly read = new RateBucket(S3_MODEL.readsPerSecond);
  readonly write = new RateBucket(S3_MODEL.writesPerSecond);
  constructor(
    readonly bucket: string,
    readonly prefix: string,
  ) {}
}

/** The operations a prefix admits; each counted once accepted (a SlowDown answer is counted apart). */
export type S3Operation =
  | "list"
  | "copy"
  | "head"
  | "tagging"
  | "createUpload"
  | "uploadPartCopy"
  | "completeUpload"
  | "abortUpload"
  | "listParts";

export interface S3Counts {
  list: number;
  copy: number;
  head: number;
  tagging: number;
  createUpload: number;
  uploadPartCopy: number;
  completeUpload: number;
  abortUpload: number;
  listParts: number;
  ledgerPut: number;
  haltGet: number;
  slowDown: number;
  internalError: number;
}

/** S3's error as the SDK shapes it. Without a stack: nothing reads it, and capturing one per SlowDown is most of the cost of a throttled request. */
function s3Error(name: string, status: number, message: string): Error {
  const limit = Error.stackTraceLimit;
  Error.stackTraceLimit = 0;
  const error = new Error(message);
  Error.stackTraceLimit = limit;
  return Object.assign(error, { name, $metadata: { httpStatusCode: status } });
}

export class SimS3 implements ObjectStore, MultipartStore {
  readonly counts: S3Counts = {
    list: 0,
    copy: 0,
    head: 0,
    tagging: 0,
    createUpload: 0,
    uploadPartCopy: 0,
    completeUpload: 0,
    abortUpload: 0,
    listParts: 0,
    ledgerPut: 0,
    haltGet: 0,
    slowDown: 0,
    internalError: 0,
  };
  /** Copies of each source object the destination received (CopyObject or a completed upload). */
  readonly copies: Uint16Array;
  /** Every prefix that took a request, in the order it first did. */
  readonly loads: PrefixLoad[] = [];
  /** The same, by bucket and prefix: no key string is built per request to find one. */
  private readonly loadsOf = new Map<string, Map<string, PrefixLoad>>();
  private readonly uploads = new Map<string, { parts: UploadedPart[] }>();
  private uploadSeq = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Random,
    readonly keys: SourceKeys,
    readonly sourceBucket: string,
    readonly sizeBytes: number,
  ) {
    this.copies = new Uint16Array(keys.objects);
  }

  private load(bucket: string, key: string): PrefixLoad {
    const slash = key.indexOf("/");
    const prefix = slash < 0 ? key : key.slice(0, slash);
    let ofBucket = this.loadsOf.get(bucket);
    if (ofBucket === undefined) {
      ofBucket = new Map();
      this.loadsOf.set(bucket, ofBucket);
    }
    let load = ofBucket.get(prefix);
    if (load === undefined) {
      load = new PrefixLoad(bucket, prefix);
      ofBucket.set(prefix, load);
      this.loads.push(load);
    }
    return load;
  }

  /**
   * Admits a request on the prefix it touches, and on a second one (a copy's source) when given, or answers
   * SlowDown (after its latency). Two fixed arguments rather than a list: no array per request.
   */
  private async admit(op: S3Operation, a: RateBucket, b?: RateBucket): Promise<void> {
    const now = this.clock.now();
    // Both refilled (each counts the attempt towards its growth rule), whatever the first answers.
    const okA = a.refill(now);
    const okB = b === undefined || b.refill(now);
    if (!okA || !okB) {
      this.counts.slowDown++;
      a.throttled++;
      if (b !== undefined) b.throttled++;
      await this.clock.sleep(this.random.latency(S3_MODEL.slowDown));
      throw s3Error("SlowDown", 503, "Please reduce your request rate.");
    }
    a.take(now);
    b?.take(now);
    if (this.random.chance(S3_MODEL.internalErrorRate)) {
      this.counts.internalError++;
      await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
      throw s3Error("InternalError", 500, "We encountered an internal error. Please try again.");
    }
    this.counts[op]++;
  }

  private etagOf(g: number): string {
    return `"${g.toString(16).padStart(32, "0")}"`;
  }

  async listPage(request: ListPageRequest): Promise<ListPage> {
    const [lo, hi] = this.keys.prefixRange(request.prefix);
    const from = Math.max(lo, request.token !== undefined ? Number(request.token.slice(1)) : this.keys.firstAfter(request.startAfter));
    const to = Math.min(hi, from + request.maxKeys);
    // A listing page is a read on the prefix its first key is in.
    const first =
      from < this.keys.objects ? this.keys.keyAt(Math.min(from, this.keys.objects - 1)) : (request.startAfter ?? request.prefix);
    await this.admit("list", this.load(request.bucket, first).read);
    await this.clock.sleep(this.random.latency(S3_MODEL.list));
    const objects = [];
    for (let g = from; g < to; g++) objects.push({ key: this.keys.keyAt(g), size: this.sizeBytes, etag: this.etagOf(g) });
    return to < hi ? { objects, nextToken: `t${to}` } : { objects };
  }

  async copy(request: CopyRequest): Promise<void> {
    await this.admit(
      "copy",
      this.load(request.destinationBucket, request.destinationKey).write,
      this.load(request.sourceBucket, request.sourceKey).read,
    );
    await this.clock.sleep(this.random.latency(S3_MODEL.copy) + (1000 * request.size) / S3_MODEL.copyBytesPerSecond);
    this.applyCopy(request.sourceKey);
  }

  private applyCopy(sourceKey: string): void {
    const g = this.keys.indexOf(sourceKey);
    if (g < 0) throw s3Error("NoSuchKey", 404, "The specified key does not exist.");
    this.copies[g] = Math.min(65535, (this.copies[g] ?? 0) + 1);
  }

  async head(bucket: string, key: string): Promise<ObjectHead> {
    await this.admit("head", this.load(bucket, key).read);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    const g = this.keys.indexOf(key);
    if (g < 0) throw s3Error("NotFound", 404, "Not Found");
    return { size: this.sizeBytes, etag: this.etagOf(g), metadata: {} };
  }

  async tagging(bucket: string, key: string): Promise<string> {
    await this.admit("tagging", this.load(bucket, key).read);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    return "";
  }

  async createUpload(bucket: string, key: string): Promise<string> {
    await this.admit("createUpload", this.load(bucket, key).write);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    const id = `upload-${++this.uploadSeq}`;
    this.uploads.set(id, { parts: [] });
    return id;
  }

  async copyPart(request: Parameters<MultipartStore["copyPart"]>[0]): Promise<string> {
    await this.admit(
      "uploadPartCopy",
      this.load(request.bucket, request.key).write,
      this.load(request.sourceBucket, request.sourceKey).read,
    );
    const bytes = request.last - request.first + 1;
    await this.clock.sleep(this.random.latency(S3_MODEL.uploadPartCopy) + (1000 * bytes) / S3_MODEL.copyBytesPerSecond);
    const upload = this.uploads.get(request.uploadId);
    if (upload === undefined) throw s3Error("NoSuchUpload", 404, "The specified upload does not exist.");
    const etag = `"part-${request.partNumber}"`;
    upload.parts = [...upload.parts.filter((p) => p.partNumber !== request.partNumber), { partNumber: request.partNumber, etag }];
    return etag;
  }

  async listParts(bucket: string, key: string, uploadId: string): Promise<UploadedPart[]> {
    await this.admit("listParts", this.load(bucket, key).read);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    return [...(this.uploads.get(uploadId)?.parts ?? [])].sort((a, b) => a.partNumber - b.partNumber);
  }

  async complete(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.admit("completeUpload", this.load(bucket, key).write);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    if (!this.uploads.delete(uploadId)) throw s3Error("NoSuchUpload", 404, "The specified upload does not exist.");
    this.applyCopy(key);
  }

  async abort(bucket: string, key: string, uploadId: string): Promise<void> {
    await this.admit("abortUpload", this.load(bucket, key).write);
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    this.uploads.delete(uploadId);
  }

  /** A ledger record written (a PUT to the ledger bucket, outside the job's prefixes). */
  async ledgerPut(): Promise<void> {
    this.counts.ledgerPut++;
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
  }

  /** The halt marker's GET (CachedHaltSignal reads it once per TTL per instance). */
  async haltGet(): Promise<boolean> {
    this.counts.haltGet++;
    await this.clock.sleep(this.random.latency(S3_MODEL.metadata));
    return false;
  }
}
