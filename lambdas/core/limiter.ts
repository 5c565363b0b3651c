/**
 * Bounded, adaptive concurrency (AIMD): the limit halves when S3 says slow
 * down and grows by one after a window of successes, between min and max.
 *
 * One decrease per window, as TCP does: requests already in flight when the
 * limit fell were sent at the old rate, so their SlowDowns are the same news
 * and do not halve it again (nor do their successes count towards growth).
 * A task names its slot (the ticket `run` hands it) when it reports, so the
 * limiter can tell old news from new; without a slot, every report counts.
 */
export interface LimiterOptions {
  /** Starting and upper limit of copies in flight. */
  readonly max: number;
  /** Lowest the limit may fall to. @default 1 */
  readonly min?: number;
  /** Successes needed to raise the limit by one. @default the current limit */
  readonly growEvery?: number;
}

/** The ticket of one task run by the limiter: which window it was started in. */
export interface LimiterSlot {
  /** Order in which the task got its slot. */
  readonly seq: number;
}

export class AdaptiveLimiter {
  private inFlight = 0;
  /** Slots handed out so far: the next slot's seq. */
  private started = 0;
  /** Slots from this seq on were started after the last decrease. */
  private windowStart = 0;
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

  /** Runs `fn` once a slot is free; `fn` gets its slot, to name in onSuccess and onThrottle. */
  async run<T>(fn: (slot: LimiterSlot) => Promise<T>): Promise<T> {
    if (this.inFlight < this.current) this.inFlight++;
    else await new Promise<void>((resolve) => this.waiters.push(resolve)); // the slot is handed over counted
    try {
      return await fn({ seq: this.started++ });
    } finally {
      this.release();
    }
  }

  /**
   * The task in `slot` succeeded: count it towards growth, unless it started
   * before the last decrease (it tells nothing about the new limit).
   */
  onSuccess(slot?: LimiterSlot): void {
    if (slot !== undefined && slot.seq < this.windowStart) return;
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

  /**
   * S3 said slow down to the task in `slot`: halve the limit, unless that
   * task started before the last decrease (the limit already fell for it).
   */
  onThrottle(slot?: LimiterSlot): void {
    if (slot !== undefined && slot.seq < this.windowStart) return;
    this.current = Math.max(this.min, Math.floor(this.current / 2));
    this.successes = 0;
    this.windowStart = this.started;
  }

  private release(): void {
    const next = this.inFlight <= this.current ? this.waiters.shift() : undefined;
    if (next) next();
    else this.inFlight--;
  }
}
