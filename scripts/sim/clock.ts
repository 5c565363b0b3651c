/**
 * Virtual time. Events wait in a heap by time; the loop takes the next
 * millisecond's events, resolves them, and lets every promise chain they
 * free run to its next wait before time moves on. The handlers run as they
 * are: their sleeps and deadlines read this clock through their seams.
 */
import type { Latency } from "./model.ts";

/** A scheduled event that can be called off; its callback (and all it holds) is let go at once. */
export interface Timer {
  cancel(): void;
}

const NOTHING = () => undefined;

/** The event is its own Timer: no cancel closure per event (millions of them in a long run). */
class TimedEvent implements Timer {
  constructor(
    readonly at: number,
    readonly seq: number,
    public fire: () => void,
  ) {}

  cancel(): void {
    this.fire = NOTHING;
  }
}

const yieldToMicrotasks = () => new Promise<void>((resolve) => setImmediate(resolve));

export class VirtualClock {
  private time = 0;
  private seq = 0;
  private readonly heap: TimedEvent[] = [];

  /** Virtual milliseconds since the simulation started. */
  now(): number {
    return this.time;
  }

  /** Runs `fire` at virtual time `at` (never before now). */
  at(at: number, fire: () => void): Timer {
    const event = new TimedEvent(Math.max(at, this.time), this.seq++, fire);
    const h = this.heap;
    h.push(event);
    let i = h.length - 1;
    while (i > 0) {
      const parent = (i - 1) >> 1;
      if (before(h[parent] as TimedEvent, event)) break;
      h[i] = h[parent] as TimedEvent;
      i = parent;
    }
    h[i] = event;
    return event;
  }

  after(ms: number, fire: () => void): Timer {
    return this.at(this.time + ms, fire);
  }

  readonly sleep = (ms: number): Promise<void> =>
    new Promise<void>((resolve) => {
      this.after(Math.max(0, ms), resolve);
    });

  get pending(): number {
    return this.heap.length;
  }

  /**
   * Runs events until `done()` holds after a step, time passes `maxMs`, or nothing is left to happen.
   * Events within `resolutionMs` of the earliest are fired together, then the promise chains they freed run.
   */
  async run(done: () => boolean, maxMs: number, resolutionMs = 1): Promise<"done" | "timeout" | "idle"> {
    for (;;) {
      await yieldToMicrotasks();
      if (done()) return "done";
      const first = this.heap[0];
      if (first === undefined) return "idle";
      if (first.at > maxMs) return "timeout";
      const until = first.at + resolutionMs;
      for (let next = this.heap[0]; next !== undefined && next.at < until; next = this.heap[0]) {
        this.pop();
        this.time = next.at;
        next.fire();
      }
    }
  }

  private pop(): void {
    const h = this.heap;
    const last = h.pop();
    if (last === undefined || h.length === 0) return;
    let i = 0;
    for (;;) {
      const l = 2 * i + 1;
      if (l >= h.length) break;
      const r = l + 1;
      const child = r < h.length && before(h[r] as TimedEvent, h[l] as TimedEvent) ? r : l;
      if (before(last, h[child] as TimedEvent)) break;
      h[i] = h[child] as TimedEvent;
      i = child;
    }
    h[i] = last;
  }
}

function before(a: TimedEvent, b: TimedEvent): boolean {
  return a.at < b.at || (a.at === b.at && a.seq < b.seq);
}

/** A seeded generator (mulberry32): one seed, one run. */
export class Random {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0 || 0x9e3779b9;
  }

  readonly next = (): number => {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };

  /** A standard normal draw (Box-Muller). */
  normal(): number {
    const u = 1 - this.next();
    const v = this.next();
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
  }

  /** A latency in ms from its distribution. */
  latency(l: Latency): number {
    return Math.max(l.minMs, l.medianMs * Math.exp(l.sigma * this.normal()));
  }

  chance(p: number): boolean {
    return p > 0 && this.next() < p;
  }
}
