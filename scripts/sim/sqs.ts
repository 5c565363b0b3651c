/**
 * A model of an SQS standard queue: delay, visibility timeout, receive
 * counts and redrive to a DLQ, long polling, ChangeMessageVisibility, and
 * at-least-once delivery (now and then a twin of a received message is
 * delivered too). Request latencies and counts are the callers' (the event
 * source and the sink), who make the requests.
 */
import { deflateRawSync, inflateRawSync, constants as zlib } from "node:zlib";
import type { Random, Timer, VirtualClock } from "./clock.ts";
import { SQS_MODEL } from "./model.ts";

/**
 * Bodies longer than this wait in the queue deflated. A copy message is ~8 KB of near-sequential keys and
 * ETags that deflate ~10 x; a 10M-object job at one prefix has most of its copy work queued at once, so
 * plain strings would hold the whole job in memory. The body a receiver gets is the same string.
 */
const DEFLATE_ABOVE = 1024;

/** A body as the queue keeps it. */
type StoredBody = string | Uint8Array;

// Copied to a Uint8Array of its own size: zlib's output Buffer, or a Buffer.from copy of it, kept ~32 KB each.
const store = (body: string): StoredBody =>
  body.length > DEFLATE_ABOVE ? new Uint8Array(deflateRawSync(body, { level: zlib.Z_BEST_SPEED })) : body;
const restore = (body: StoredBody): string => (typeof body === "string" ? body : inflateRawSync(body).toString());

interface SimMessage {
  readonly id: string;
  readonly body: StoredBody;
  readonly sentAt: number;
  receiveCount: number;
  firstReceiveAt?: number;
}

export interface Received {
  readonly messageId: string;
  readonly receiptHandle: string;
  readonly body: string;
  readonly receiveCount: number;
  readonly sentAt: number;
  readonly firstReceiveAt: number;
}

/** A received message, until it is deleted or its visibility ends. */
interface Held {
  readonly msg: SimMessage;
  timer: Timer;
}

interface Waiter {
  readonly max: number;
  readonly resolve: (messages: Received[]) => void;
  done: boolean;
}

export interface SqsCounts {
  send: number;
  sendBilled: number;
  receive: number;
  receiveBilled: number;
  emptyReceive: number;
  delete: number;
  changeVisibility: number;
}

export const newSqsCounts = (): SqsCounts => ({
  send: 0,
  sendBilled: 0,
  receive: 0,
  receiveBilled: 0,
  emptyReceive: 0,
  delete: 0,
  changeVisibility: 0,
});

export class SimQueue {
  private visible: SimMessage[] = [];
  private head = 0;
  private readonly inflight = new Map<string, Held>();
  private delayed = 0;
  private readonly waiters: Waiter[] = [];
  private seq = 0;
  sent = 0;
  duplicates = 0;
  deadLettered = 0;
  expired = 0;

  constructor(
    private readonly clock: VirtualClock,
    private readonly random: Random,
    readonly name: string,
    private readonly visibilityMs: number,
    private readonly dlq?: SimQueue,
  ) {}

  /** Messages receivable now. */
  get depth(): number {
    return this.visible.length - this.head;
  }

  get inFlight(): number {
    return this.inflight.size;
  }

  /** Every message the queue holds: visible, received and not deleted, or delayed. */
  get total(): number {
    return this.depth + this.inflight.size + this.delayed;
  }

  send(body: string, delaySeconds = 0): void {
    this.sent++;
    const msg: SimMessage = { id: `${this.name}-${++this.seq}`, body: store(body), sentAt: this.clock.now(), receiveCount: 0 };
    if (delaySeconds > 0) {
      this.delayed++;
      this.clock.after(delaySeconds * 1000, () => {
        this.delayed--;
        this.makeVisible(msg);
      });
    } else this.makeVisible(msg);
  }

  /** Up to `max` messages; with none visible, waits up to `waitMs` for some (long polling). */
  receive(max: number, waitMs: number): Promise<Received[]> {
    if (this.depth > 0) return Promise.resolve(this.take(max));
    return new Promise((resolve) => {
      const waiter: Waiter = { max, resolve, done: false };
      this.waiters.push(waiter);
      this.clock.after(waitMs, () => {
        if (waiter.done) return;
        waiter.done = true;
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        resolve([]);
      });
    });
  }

  delete(receiptHandle: string): void {
    this.inflight.get(receiptHandle)?.timer.cancel();
    this.inflight.delete(receiptHandle);
  }

  /** ChangeMessageVisibility: the message comes back `seconds` from now instead. */
  changeVisibility(receiptHandle: string, seconds: number): void {
    const held = this.inflight.get(receiptHandle);
    if (held === undefined) return;
    held.timer.cancel();
    held.timer = this.hide(receiptHandle, seconds * 1000);
  }

  /** The message behind `receiptHandle` becomes visible again in `ms` unless deleted first. */
  private hide(receiptHandle: string, ms: number): Timer {
    return this.clock.after(ms, () => this.expire(receiptHandle));
  }

  private makeVisible(msg: SimMessage): void {
    if (this.dlq !== undefined && msg.receiveCount >= SQS_MODEL.maxReceiveCount) {
      this.deadLettered++;
      this.dlq.send(restore(msg.body));
      return;
    }
    this.visible.push(msg);
    while (this.waiters.length > 0 && this.depth > 0) {
      const waiter = this.waiters.shift() as Waiter;
      waiter.done = true;
      waiter.resolve(this.take(waiter.max));
    }
  }

  private take(max: number): Received[] {
    const out: Received[] = [];
    const now = this.clock.now();
    while (out.length < max && this.depth > 0) {
      const msg = this.visible[this.head++] as SimMessage;
      msg.receiveCount++;
      msg.firstReceiveAt ??= now;
      const receiptHandle = `${msg.id}#${msg.receiveCount}#${++this.seq}`;
      this.inflight.set(receiptHandle, { msg, timer: this.hide(receiptHandle, this.visibilityMs) });
      out.push({
        messageId: msg.id,
        receiptHandle,
        body: restore(msg.body),
        receiveCount: msg.receiveCount,
        sentAt: msg.sentAt,
        firstReceiveAt: msg.firstReceiveAt,
      });
      if (this.random.chance(SQS_MODEL.duplicateRate)) {
        // Another server's copy of the message: the same id and body, delivered again.
        this.duplicates++;
        this.visible.push({ id: msg.id, body: msg.body, sentAt: msg.sentAt, receiveCount: 0 });
      }
    }
    if (this.head > 1024 && this.head * 2 > this.visible.length) {
      this.visible = this.visible.slice(this.head);
      this.head = 0;
    }
    return out;
  }

  private expire(receiptHandle: string): void {
    const held = this.inflight.get(receiptHandle);
    if (held === undefined) return;
    this.inflight.delete(receiptHandle);
    this.expired++;
    this.makeVisible(held.msg);
  }
}
