/**
 * The forwarding half of the test proxies (fault, throttle): read a request
 * whole, send it on to the emulator, hand back the emulator's whole answer.
 * Each proxy decides what to do around it; none of them changes a byte of
 * what it forwards.
 */
import http from "node:http";
import type { AddressInfo } from "node:net";

/** An S3 error body, as S3 writes one. */
export function s3ErrorXml(code: string, message: string, requestId = "proxy"): string {
  return `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${message}</Message><RequestId>${requestId}</RequestId></Error>`;
}

/** Answers with an S3 error. */
export function replyS3Error(res: http.ServerResponse, status: number, code: string, message: string): void {
  res.writeHead(status, { "content-type": "application/xml" });
  res.end(s3ErrorXml(code, message));
}

export interface UpstreamAnswer {
  readonly status: number;
  readonly headers: http.IncomingHttpHeaders;
  readonly body: Buffer;
}

export interface Upstream {
  /** Sends the request on with the body read from it; rejects when the emulator cannot be reached. */
  send(req: http.IncomingMessage, body: Buffer): Promise<UpstreamAnswer>;
  close(): void;
}

/** Keep-alive connections to the target, enough for every copy a test keeps in flight. */
export function upstreamTo(targetUrl: string): Upstream {
  const target = new URL(targetUrl);
  const agent = new http.Agent({ keepAlive: true, maxSockets: 512 });
  return {
    send: (req, body) =>
      new Promise<UpstreamAnswer>((resolve, reject) => {
        const upstream = http.request(
          { host: target.hostname, port: target.port, method: req.method, path: req.url, headers: req.headers, agent },
          (up) => {
            const chunks: Buffer[] = [];
            up.on("data", (c: Buffer) => chunks.push(c));
            up.on("end", () => resolve({ status: up.statusCode ?? 502, headers: up.headers, body: Buffer.concat(chunks) }));
            up.on("error", reject);
          },
        );
        upstream.on("error", reject);
        upstream.end(body);
      }),
    close: () => agent.destroy(),
  };
}

/** The emulator's answer, passed on unchanged. */
export function replyWith(res: http.ServerResponse, answer: UpstreamAnswer): void {
  res.writeHead(answer.status, answer.headers);
  res.end(answer.body);
}

/** The whole body of a request. */
export function readBody(req: http.IncomingMessage): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => resolve(Buffer.concat(chunks)));
    req.on("error", reject);
  });
}

export interface ListeningProxy {
  readonly endpoint: string;
  close(): Promise<void>;
}

/** Serves `handle` on a free local port; closing drops open connections and the upstream's. */
export async function listen(
  handle: (req: http.IncomingMessage, res: http.ServerResponse) => void,
  upstream: Upstream,
): Promise<ListeningProxy> {
  const server = http.createServer(handle);
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    endpoint: `http://127.0.0.1:${port}`,
    close: async () => {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      upstream.close();
    },
  };
}
