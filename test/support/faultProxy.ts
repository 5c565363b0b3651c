/**
 * An HTTP proxy in front of the emulator that injects faults into a share of
 * requests: S3 SlowDown (503), InternalError (500), connections reset before
 * the request reaches the server, and resets after the server acted (so the
 * client retries something that already happened). Seeded, so runs repeat.
 */
import type http from "node:http";
import { listen, readBody, replyS3Error, replyWith, upstreamTo } from "./forward.ts";

export type Fault = "slowdown" | "internal" | "reset-before" | "reset-after" | "slow";

export interface FaultProxyOptions {
  readonly target: string;
  /** Share of requests that get a fault, 0-1. */
  readonly rate: number;
  readonly faults?: readonly Fault[];
  readonly seed?: number;
  /** Only requests for which this returns true may get a fault. */
  readonly eligible?: (req: http.IncomingMessage) => boolean;
}

export interface FaultProxy {
  readonly endpoint: string;
  readonly injected: Record<Fault, number>;
  readonly requests: number;
  close(): Promise<void>;
}

/** mulberry32: a small seeded PRNG. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const random = seededRandom(options.seed ?? 42);
  const faults = options.faults ?? ["slowdown", "internal", "reset-before", "reset-after"];
  const injected: Record<Fault, number> = { slowdown: 0, internal: 0, "reset-before": 0, "reset-after": 0, slow: 0 };
  let requests = 0;
  const upstream = upstreamTo(options.target);

  const handle = async (req: http.IncomingMessage, res: http.ServerResponse) => {
    requests++;
    const fault = (options.eligible?.(req) ?? true) && random() < options.rate ? faults[Math.floor(random() * faults.length)] : undefined;
    const body = await readBody(req);
    if (fault === "slowdown" || fault === "internal") {
      injected[fault]++;
      if (fault === "slowdown") replyS3Error(res, 503, "SlowDown", "injected by the fault proxy");
      else replyS3Error(res, 500, "InternalError", "injected by the fault proxy");
      return;
    }
    if (fault === "reset-before") {
      injected[fault]++;
      req.socket.destroy();
      return;
    }
    if (fault === "slow") {
      // A slow answer: held back 100-600 ms, then delivered intact.
      injected.slow++;
      await new Promise((resolve) => setTimeout(resolve, 100 + Math.floor(random() * 500)));
    }
    const answer = await upstream.send(req, body);
    if (fault === "reset-after") {
      injected[fault]++;
      req.socket.destroy();
      return;
    }
    replyWith(res, answer);
  };
  const proxy = await listen((req, res) => void handle(req, res).catch(() => req.socket.destroy()), upstream);
  return {
    endpoint: proxy.endpoint,
    injected,
    get requests() {
      return requests;
    },
    close: proxy.close,
  };
}
