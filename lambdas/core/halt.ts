/**
 * The halt marker, as handlers see it. Checked before every copy and every
 * enqueue; cached for `ttlMs` so it costs one request per instance per TTL.
 * `halt` waits longer than the TTL before it returns, so once it has
 * returned every check anywhere sees the marker: no copy starts and no
 * listing re-enqueues itself.
 */
export interface HaltSignal {
  isHalted(jobId: string): Promise<boolean>;
}

/** How long a "not halted" answer may be reused. Halt waits this long plus a margin. */
export const HALT_CHECK_TTL_MS = 5_000;

export class CachedHaltSignal implements HaltSignal {
  private readonly cache = new Map<string, { halted: boolean; at: number; pending?: Promise<boolean> }>();

  constructor(
    private readonly fetch: (jobId: string) => Promise<boolean>,
    private readonly ttlMs: number = HALT_CHECK_TTL_MS,
    private readonly now: () => number = Date.now,
  ) {}

  async isHalted(jobId: string): Promise<boolean> {
    const entry = this.cache.get(jobId);
    if (entry?.halted) return true;
    if (entry && this.now() - entry.at < this.ttlMs) return false;
    if (entry?.pending) return entry.pending;
    const started = this.now();
    const pending = this.fetch(jobId).then(
      (halted) => {
        this.cache.set(jobId, { halted, at: started });
        return halted;
      },
      (err: unknown) => {
        this.cache.delete(jobId);
        throw err;
      },
    );
    this.cache.set(jobId, { halted: false, at: Number.NEGATIVE_INFINITY, pending });
    return pending;
  }
}

/** A halt flag held in this process (local runtime, tests). */
export class LocalHaltSignal implements HaltSignal {
  private readonly halted = new Set<string>();

  halt(jobId: string): void {
    this.halted.add(jobId);
  }

  async isHalted(jobId: string): Promise<boolean> {
    return this.halted.has(jobId);
  }
}
