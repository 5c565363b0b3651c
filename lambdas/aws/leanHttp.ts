/**
 * The lean path's HTTP: undici connections (one `Client` each, one request
 * at a time) handed out from a free list, and a bare dispatch handler that
 * collects the body. undici's Pool finds a free connection by scanning all of
 * them on every request, and its request API wraps each response in a
 * Readable stream and an AsyncResource; at a few hundred copies in flight
 * those cost more than the request itself (README, Hot path).
 */
import type { Client, Dispatcher } from "undici";

/**
 * undici's Client alone, loaded at the first lean request: the whole package adds ~100 ms to every
 * function's cold start (fetch, WebSocket, caches), and only the copy and list paths use it.
 */
let clientClass: Promise<typeof Client> | undefined;
function loadClient(): Promise<typeof Client> {
  clientClass ??= import("undici/lib/dispatcher/client.js").then((m) => m.default);
  return clientClass;
}

/** The deadlines and size of a connection set: as the clients' handler is set (clients.ts). */
export interface LeanHttpOptions {
  /** Connections per endpoint: the copies in flight and more. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** Time to the response's headers, and between its body's chunks (S3 trickles whitespace while a copy runs). */
  readonly responseTimeoutMs: number;
}

export interface LeanResponse {
  readonly status: number;
  readonly requestId: string | undefined;
  readonly body: string;
}

/** A request on an origin's connections: its path (with its query) and headers, already signed. */
export interface LeanRequest {
  readonly method: "GET" | "PUT";
  readonly path: string;
  readonly headers: Record<string, string>;
}

/** One body-collecting request: settles once, on its end or its error (a deadline, a reset). */
class Exchange implements Dispatcher.DispatchHandler {
  private status = 0;
  private requestId: string | undefined;
  private readonly chunks: Buffer[] = [];

  constructor(private readonly done: (error: Error | undefined, response: LeanResponse | undefined) => void) {}

  onRequestStart(): void {}

  onResponseStart(
    _controller: Dispatcher.DispatchController,
    statusCode: number,
    headers: Record<string, string | string[] | undefined>,
  ): void {
    this.status = statusCode;
    const id = headers["x-amz-request-id"];
    this.requestId = Array.isArray(id) ? id[0] : id;
  }

  onResponseData(_controller: Dispatcher.DispatchController, chunk: Buffer): void {
    this.chunks.push(chunk);
  }

  onResponseEnd(): void {
    const body = this.chunks.length === 1 ? (this.chunks[0] as Buffer).toString() : Buffer.concat(this.chunks).toString();
    this.done(undefined, { status: this.status, requestId: this.requestId, body });
  }

  onResponseError(_controller: Dispatcher.DispatchController | null, error: Error): void {
    this.done(error, undefined);
  }
}

/** An origin's connections: at most `connections`, each given one request at a time, the rest queued in order. */
export class Connections {
  private readonly idle: Client[] = [];
  private readonly all: Client[] = [];
  private readonly waiting: ((client: Client) => void)[] = [];
  private waitingHead = 0;

  private constructor(
    private readonly ClientClass: typeof Client,
    private readonly origin: string,
    private readonly options: LeanHttpOptions,
  ) {}

  static async open(origin: string, options: LeanHttpOptions): Promise<Connections> {
    return new Connections(await loadClient(), origin, options);
  }

  request(r: LeanRequest): Promise<LeanResponse> {
    const client = this.idle.pop() ?? this.create();
    if (client !== undefined) return this.send(client, r);
    return new Promise<Client>((resolve) => this.waiting.push(resolve)).then((c) => this.send(c, r));
  }

  private create(): Client | undefined {
    if (this.all.length >= this.options.connections) return undefined;
    const client = new this.ClientClass(this.origin, {
      connectTimeout: this.options.connectTimeoutMs,
      headersTimeout: this.options.responseTimeoutMs,
      bodyTimeout: this.options.responseTimeoutMs,
    });
    this.all.push(client);
    return client;
  }

  private send(client: Client, r: LeanRequest): Promise<LeanResponse> {
    return new Promise((resolve, reject) => {
      let settled = false;
      const exchange = new Exchange((error, response) => {
        // Once: a connection goes back to the free list once per request, whatever undici reports after.
        if (settled) return;
        settled = true;
        this.release(client);
        if (error) reject(error);
        else resolve(response as LeanResponse);
      });
      client.dispatch({ method: r.method, path: r.path, headers: r.headers }, exchange);
    });
  }

  private release(client: Client): void {
    if (this.waitingHead < this.waiting.length) {
      const next = this.waiting[this.waitingHead] as (client: Client) => void;
      this.waiting[this.waitingHead++] = undefined as never;
      if (this.waitingHead === this.waiting.length) {
        this.waiting.length = 0;
        this.waitingHead = 0;
      }
      next(client);
    } else this.idle.push(client);
  }
}
