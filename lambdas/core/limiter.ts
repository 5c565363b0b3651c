/**
 * Bounded, adaptive concurrency (AIMD), one window per partition: a
 * partition's window halves when S3 says slow down to one of its tasks and
 * grows by one after a window of its successes, between min and max. All
 * partitions together never run more than max tasks at once (the cap).
 *
 * S3 limits requests per key prefix, so a SlowDown from one hot prefix says
 * nothing about another: with one window for every key, one hot prefix
 * would halve the copies in flight to the cool ones too. Tasks run without
 * a partition share one (the unnamed one), which is the plain AIMD limiter.
 *
 * One decrease per window, as TCP does: requests already in flight when the
 * window fell were sent at the old rate, so their SlowDowns are the same news
 * and do not halve it again (nor do their successes count towards growth).
 * A task names its slot (the ticket `run` hands it) when it reports, so the
 * limiter can tell old news from new; without a slot, every report counts
 * (against the unnamed partition).
 *
 * Queued tasks wait per partition, in order; when the cap frees a slot,
 * partitions with room take turns (round robin), so a busy partition does
 * not starve the others and a partition whose window is full does not hold
 * up those behind it.
 */
export interface LimiterOptions {
  /** Starting and upper window of each partition, and the cap on tasks in flight across all of them. */
  readonly max: number;
  /** Lowest a window may fall to. @default 1 */
  readonly min?: number;
  /** Successes needed to grow a window by one. @default the window */
  readonly growEvery?: number;
  /**
   * Partitions remembered while idle (a window below max is worth keeping until it grows back). Past this,
   * the oldest idle ones are forgotten and start again at max. @default 4096
   */
  readonly maxIdlePartitions?: number;
}

/** The ticket of one task run by the limiter: its partition and which window it was started in. */
export interface LimiterSlot {
  /** Order in which the task got its slot, within its partition. */
  readonly seq: number;
  /** @internal the partition's state; absent in slots made by hand (the unnamed partition). */
  readonly partition?: unknown;
}

/** One partition's AIMD state and queue. */
class Partition {
  inFlight = 0;
  /** Slots handed out so far: the next slot's seq. */
  started = 0;
  /** Slots from this seq on were started after the last decrease. */
  windowStart = 0;
  successes = 0;
  /** In the limiter's round of partitions waiting for a slot under the cap. */
  ready = false;
  readonly waiters: (() => void)[] = [];

  constructor(
    readonly name: string | undefined,
    public window: number,
  ) {}
}

export class AdaptiveLimiter {
  /** Tasks in flight across every partition. */
  private inFlight = 0;
  private readonly unnamed: Partition;
  private readonly partitions = new Map<string, Partition>();
  /** Partitions with waiters and room in their window, held back by the cap: served in turn. */
  private readonly round: Partition[] = [];
  private readonly max: number;
  private readonly min: number;
  private readonly growEvery: number | undefined;
  private readonly maxIdle: number;

  constructor(options: LimiterOptions) {
    if (!Number.isInteger(options.max) || options.max < 1) throw new RangeError("limiter max must be a positive integer");
    this.max = options.max;
    this.min = Math.max(1, Math.min(options.min ?? 1, options.max));
    this.growEvery = options.growEvery;
    this.maxIdle = Math.max(0, options.maxIdlePartitions ?? 4096);
    this.unnamed = new Partition(undefined, options.max);
  }

  /** The tightest window: the unnamed partition's, or lower if a named one has fallen below it. */
  get limit(): number {
    let lowest = this.unnamed.window;
    for (const p of this.partitions.values()) if (p.window < lowest) lowest = p.window;
    return lowest;
  }

  /** The window of one partition (max for one the limiter does not hold). */
  limitOf(partition?: string): number {
    return (partition === undefined ? this.unnamed : this.partitions.get(partition))?.window ?? this.max;
  }

  /** Tasks in flight across every partition. */
  get active(): number {
    return this.inFlight;
  }

  /** Partitions held: those busy, and idle ones whose window is below max. */
  get partitionCount(): number {
    return this.partitions.size;
  }

  /**
   * Runs `fn` once its partition's window and the cap both have room; `fn` gets its slot, to name in
   * onSuccess and onThrottle.
   */
  async run<T>(fn: (slot: LimiterSlot) => Promise<T>, partition?: string): Promise<T> {
    const p = partition === undefined ? this.unnamed : this.partitionFor(partition);
    // While the cap has room no partition is in the round, so a task that finds room goes first fairly.
    if (this.inFlight < this.max && p.inFlight < p.window) {
      this.inFlight++;
      p.inFlight++;
    } else {
      const waiting = new Promise<void>((resolve) => p.waiters.push(resolve)); // the slot is handed over counted
      this.enterRound(p);
      await waiting;
    }
    try {
      return await fn({ seq: p.started++, partition: p });
    } finally {
      this.release(p);
    }
  }

  /**
   * The task in `slot` succeeded: count it towards its partition's growth, unless it started before
   * that partition's last decrease (it tells nothing about the new window).
   */
  onSuccess(slot?: LimiterSlot): void {
    const p = this.partitionOf(slot);
    if (slot !== undefined && slot.seq < p.windowStart) return;
    p.successes++;
    if (p.window < this.max && p.successes >= (this.growEvery ?? p.window)) {
      p.window++;
      p.successes = 0;
      this.enterRound(p);
      this.dispatch();
    }
  }

  /**
   * S3 said slow down to the task in `slot`: halve its partition's window, unless that task started
   * before the partition's last decrease (the window already fell for it).
   */
  onThrottle(slot?: LimiterSlot): void {
    const p = this.partitionOf(slot);
    if (slot !== undefined && slot.seq < p.windowStart) return;
    p.window = Math.max(this.min, Math.floor(p.window / 2));
    p.successes = 0;
    p.windowStart = p.started;
  }

  private partitionOf(slot: LimiterSlot | undefined): Partition {
    return slot?.partition instanceof Partition ? slot.partition : this.unnamed;
  }

  private partitionFor(name: string): Partition {
    let p = this.partitions.get(name);
    if (p === undefined) {
      if (this.partitions.size >= this.maxIdle) this.forgetIdle();
      p = new Partition(name, this.max);
      this.partitions.set(name, p);
    }
    return p;
  }

  /** Forgets the oldest idle partitions, down to half the bound: memory stays bounded on a long-lived instance. */
  private forgetIdle(): void {
    const keep = Math.floor(this.maxIdle / 2);
    for (const [name, p] of this.partitions) {
      if (this.partitions.size <= keep) return;
      if (p.inFlight === 0 && p.waiters.length === 0) this.partitions.delete(name);
    }
  }

  /** Puts `p` in the round if it has waiters and room in its window. */
  private enterRound(p: Partition): void {
    if (!p.ready && p.waiters.length > 0 && p.inFlight < p.window) {
      p.ready = true;
      this.round.push(p);
    }
  }

  /** Hands free slots under the cap to the partitions in the round, one waiter each in turn. */
  private dispatch(): void {
    while (this.inFlight < this.max && this.round.length > 0) {
      const p = this.round.shift() as Partition;
      p.ready = false;
      if (p.inFlight >= p.window) continue; // its window fell since it joined: it rejoins when a task of its own ends
      const next = p.waiters.shift();
      if (next === undefined) continue;
      this.inFlight++;
      p.inFlight++;
      this.enterRound(p);
      next();
    }
  }

  private release(p: Partition): void {
    this.inFlight--;
    p.inFlight--;
    this.enterRound(p);
    this.dispatch();
    // A partition at full window with nothing to do knows nothing a fresh one would not.
    if (p !== this.unnamed && p.inFlight === 0 && p.waiters.length === 0 && p.window === this.max && p.name !== undefined) {
      this.partitions.delete(p.name);
    }
  }
}
