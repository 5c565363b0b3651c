/**
 * Bounded, adaptive concurrency (AIMD): the limit halves when S3 says slow
 * down and grows by one after a window of successes, between min and max.
 */
export interface LimiterOptions {
  /** Starting and upper limit of copies in flight. */
  readonly max: number;
  /** Lowest the limit may fall to. @default 1 */
  readonly min?: number;
  /** Successes needed to raise the limit by one. @default the current limit */
  readonly growEvery?: number;
}

export class AdaptiveLimiter {
  private inFlight = 0;
  private successes = 0;
  private readonly waiters: (() => void)[] = [];
  private current: number;
  private readonly max: number;
  private readonly min: number;
  private readonly growEvery: number | undefined;

  constructor(options: LimiterOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) throw new RangeError("limiter max must be a positive integer");
    this.max = options.max;
    this.min = Math.max(1, Math.min(options.min ?? 1, options.max));
    this.current = options.max;
    this.growEvery = options.growEvery;
  }

  get limit(): number {
    return this.current;
  }

  get active(): number {
    return this.inFlight;
  }

  /** Runs `fn` once a slot is free. */
  async run<T>(fn: () => Promise<T>): Promise<T> {
    if (this.inFlight < this.current) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over counted
    try {
      return await fn();
    } finally {
      this.release();
    }
  }

  onSuccess(): void {
    this.successes++;
    if (this.current < this.max && this.successes >= (this.growEvery ?? this.current)) {
      this.current++;
      this.successes = 0;
      const next = this.inFlight < this.current ? this.waiters.shift() : undefined;
      if (next) {
        this.inFlight++;
        next();
      }
    }
  }

  onThrottle(): void {
    this.current = Math.max(this.min, Math.floor(this.current / 2));
    this.successes = 0;
  }

  private release(): void {
    const next = this.inFlight <= this.current ? this.waiters.shift() : undefined;
    if (next) next();
    else this.inFlight--;
  }
}
