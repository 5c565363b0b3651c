/**
 * An HTTP proxy in front of the emulator that throttles copies the way S3
 * throttles a prefix: copy requests (PUT with x-amz-copy-source: CopyObject
 * and UploadPartCopy) beyond a rate are answered `503 SlowDown` at once;
 * everything else (listing, SQS) is forwarded untouched.
 *
 * The rate is a token bucket: `copiesPerSecond` tokens a second, at most
 * `burst` saved up; a copy that finds no token is throttled. It counts what
 * it forwarded and throttled, and watches the copies in flight through it,
 * second by second, so a test can see whether the client backed off.
 */
import type http from "node:http";
import { listen, readBody, replyS3Error, replyWith, upstreamTo } from "./forward.ts";

export interface ThrottleProxyOptions {
  readonly target: string;
  /** Copies accepted per second, on average. */
  readonly copiesPerSecond: number;
  /** Copies that may be accepted at once after a quiet spell. @default a tenth of copiesPerSecond */
  readonly burst?: number;
  /** Held before an accepted copy is forwarded: S3 takes tens of ms for one. @default 0 */
  readonly copyLatencyMs?: number;
}

/** One second of the proxy's life, counted from its first copy request. */
export interface ThrottleSecond {
  /** Copies forwarded to the emulator. */
  accepted: number;
  /** Copies answered SlowDown. */
  throttled: number;
  /** Most copy requests in flight through the proxy at once during this second. */
  peakInFlight: number;
}

export interface ThrottleProxy {
  readonly endpoint: string;
  /** Requests of every kind forwarded to the emulator. */
  readonly forwarded: number;
  /** Copy requests forwarded to the emulator. */
  readonly accepted: number;
  /** Copy requests answered SlowDown. */
  readonly throttled: number;
  /** Copy requests being handled now (held, forwarded or being answered). */
  readonly inFlight: number;
  /** Most copy requests in flight at once. */
  readonly peakInFlight: number;
  /** Per second since the first copy request; index 0 is the first second. */
  readonly seconds: readonly ThrottleSecond[];
  close(): Promise<void>;
}

/** CopyObject and UploadPartCopy: the requests that count against a prefix's write rate. */
export function isCopyRequest(req: http.IncomingMessage): boolean {
  return req.method === "PUT" && req.headers["x-amz-copy-source"] !== undefined;
}

/** Tokens refilled continuously at `rate` a second, at most `capacity` kept. */
export class TokenBucket {
  private tokens: number;
  private last: number;

  constructor(
    private readonly rate: number,
    private readonly capacity: number,
    private readonly now: () => number = () => performance.now(),
  ) {
    if (!(rate > 0) || !(capacity >= 1)) throw new RangeError("a token bucket needs a positive rate and a capacity of at least 1");
    this.tokens = capacity;
    this.last = now();
  }

  /** Takes a token if one is there. */
  take(): boolean {
    const t = this.now();
    this.tokens = Math.min(this.capacity, this.tokens + ((t - this.last) * this.rate) / 1000);
    this.last = t;
    if (this.tokens < 1) return false;
    this.tokens -= 1;
    return true;
  }
}

export async function startThrottleProxy(options: ThrottleProxyOptions): Promise<ThrottleProxy> {
  const bucket = new TokenBucket(options.copiesPerSecond, options.burst ?? Math.max(1, options.copiesPerSecond / 10));
  const upstream = upstreamTo(options.target);
  const seconds: ThrottleSecond[] = [];
  let started: number | undefined;
  let forwarded = 0;
  let accepted = 0;
  let throttled = 0;
  let inFlight = 0;
  let peakInFlight = 0;

  const thisSecond = (): ThrottleSecond => {
    const now = performance.now();
    started ??= now;
    const index = Math.floor((now - started) / 1000);
    while (seconds.length <= index) seconds.push({ accepted: 0, throttled: 0, peakInFlight: 0 });
    return seconds[index] ?? { accepted: 0, throttled: 0, peakInFlight: 0 };
  };

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    const copy = isCopyRequest(req);
    if (copy) {
      inFlight++;
      peakInFlight = Math.max(peakInFlight, inFlight);
      const second = thisSecond();
      second.peakInFlight = Math.max(second.peakInFlight, inFlight);
      res.once("close", () => inFlight--);
    }
    const body = await readBody(req);
    if (copy) {
      if (!bucket.take()) {
        throttled++;
        thisSecond().throttled++;
        replyS3Error(res, 503, "SlowDown", "Please reduce your request rate.");
        return;
      }
      accepted++;
      thisSecond().accepted++;
      if (options.copyLatencyMs) await new Promise((resolve) => setTimeout(resolve, options.copyLatencyMs));
    }
    forwarded++;
    replyWith(res, await upstream.send(req, body));
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return {
    endpoint: proxy.endpoint,
    get forwarded() {
      return forwarded;
    },
    get accepted() {
      return accepted;
    },
    get throttled() {
      return throttled;
    },
    get inFlight() {
      return inFlight;
    },
    get peakInFlight() {
      return peakInFlight;
    },
    seconds,
    close: proxy.close,
  };
}
