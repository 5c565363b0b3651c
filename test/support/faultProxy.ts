/**
 * An HTTP proxy in front of the emulator that injects faults into a share of
 * requests: S3 SlowDown (503), InternalError (500), connections reset before
 * the request reaches the server, and resets after the server acted (so the
 * client retries something that already happened). Seeded, so runs repeat.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

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

const S3_ERROR = (code: string, message: string) =>
  `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>fault</RequestId></Error>`;

export async function startFaultProxy(options: FaultProxyOptions): Promise<FaultProxy> {
  const target = new URL(options.target);
  const random = seededRandom(options.seed ?? 42);
  const faults = options.faults ?? ["slowdown", "internal", "reset-before", "reset-after"];
  const injected: Record<Fault, number> = { slowdown: 0, internal: 0, "reset-before": 0, "reset-after": 0, slow: 0 };
  let requests = 0;
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });

  const server = http.createServer((req, res) => {
    requests++;
    const fault = (options.eligible?.(req) ?? true) && random() < options.rate ? faults[Math.floor(random() * faults.length)] : undefined;
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (fault === "slowdown" || fault === "internal") {
        injected[fault]++;
        const [status, code] = fault === "slowdown" ? [503, "SlowDown"] : [500, "InternalError"];
        res.writeHead(status, { "content-type": "application/xml" });
        res.end(S3_ERROR(code, "injected by the fault proxy"));
        return;
      }
      if (fault === "reset-before") {
        injected[fault]++;
        req.socket.destroy();
        return;
      }
      const forward = () => {
        const upstream = http.request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
          (up) => {
            const body: Buffer[] = [];
            up.on("data", (c: Buffer) => body.push(c));
            up.on("end", () => {
              if (fault === "reset-after") {
                injected[fault]++;
                req.socket.destroy();
                return;
              }
              res.writeHead(up.statusCode ?? 502, up.headers);
              res.end(Buffer.concat(body));
            });
          },
        );
        upstream.on("error", () => req.socket.destroy());
        upstream.end(Buffer.concat(chunks));
      };
      if (fault === "slow") {
        // A slow answer: held back 100-600 ms, then delivered intact.
        injected.slow++;
        setTimeout(forward, 100 + Math.floor(random() * 500));
      } else forward();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    injected,
    get requests() {
      return requests;
    },
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      agent.destroy();
    },
  };
}
