/**
 * A lean CopyObject: the S3 client's own endpoint rules, credential chain and
 * SigV4 signer, without its per-request middleware stack and schema serde,
 * sent over undici's connection pool rather than node:http (half the CPU a
 * request on this machine: README, Hot path). It is used only for what it
 * covers (see `leanCovers`); everything else, and any client whose send or
 * middleware someone changed, keeps the SDK path.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { Dispatcher, Pool } from "undici";

/**
 * undici's Pool and its request API alone, loaded at the first copy: the
 * whole package adds ~100 ms to every function's cold start (fetch,
 * WebSocket, caches), these two ~40 ms, and only the copy function copies.
 */
interface Http {
  readonly Pool: typeof Pool;
  readonly request: (this: Pool, options: Dispatcher.RequestOptions) => Promise<Dispatcher.ResponseData>;
}
let http: Promise<Http> | undefined;
function loadHttp(): Promise<Http> {
  http ??= Promise.all([import("undici/lib/dispatcher/pool.js"), import("undici/lib/api/api-request.js")]).then(([p, r]) => ({
    Pool: p.default,
    request: r.default,
  }));
  return http;
}

import type { JobOptions } from "../core/jobOptions.ts";

export interface LeanCopyRequest {
  readonly bucket: string;
  readonly key: string;
  /** The x-amz-copy-source value, exactly as the SDK path sends it (keyCodec.copySource). */
  readonly copySource: string;
  readonly options?: JobOptions | undefined;
}

/** Whether the lean path sends exactly what the SDK path would for these options; else the SDK path is taken. */
export function leanCovers(o: JobOptions | undefined): boolean {
  if (o === undefined) return true;
  return (
    (o.metadataDirective ?? "COPY") === "COPY" &&
    o.taggingDirective !== "REPLACE" &&
    o.checksumAlgorithm === undefined &&
    (o.sse !== "aws:kms" || o.sseKmsKeyId === undefined || /^[\x21-\x7e]+$/.test(o.sseKmsKeyId))
  );
}

/** An error shaped as the SDK's: what errorInfo/classifyError read (Code, name, $metadata.httpStatusCode). */
export class LeanS3Error extends Error {
  readonly Code: string;
  readonly $metadata: { readonly httpStatusCode?: number | undefined; readonly requestId?: string | undefined };
  readonly $fault: "client" | "server";
  constructor(code: string, message: string, status: number | undefined, requestId?: string) {
    super(message || code);
    this.name = code;
    this.Code = code;
    this.$metadata = { httpStatusCode: status, requestId };
    this.$fault = status !== undefined && status >= 500 ? "server" : "client";
  }
}

/** The parts of a resolved S3 client config the lean path uses (all the SDK's own). */
interface ClientParts {
  region: () => Promise<string>;
  endpoint?: () => Promise<{ protocol: string; hostname: string; port?: number; path: string }>;
  isCustomEndpoint?: boolean;
  forcePathStyle?: boolean;
  useFipsEndpoint: () => Promise<boolean>;
  useDualstackEndpoint: () => Promise<boolean>;
  useAccelerateEndpoint?: boolean | (() => Promise<boolean>);
  endpointProvider: (params: Record<string, unknown>) => {
    url: URL | string;
    properties?: { authSchemes?: { name: string; signingName?: string; signingRegion?: string }[] };
    headers?: Record<string, string[]>;
  };
  signer: (authScheme?: unknown) => Promise<{
    sign(request: unknown, options: { signingDate?: Date; signingRegion?: string; signingService?: string }): Promise<unknown>;
  }>;
  systemClockOffset?: number;
}

/** The HTTP side of the lean path: as the clients' handler is set (clients.ts), with every deadline enforced. */
export interface LeanHttpOptions {
  /** Connections per endpoint: the copies in flight and more. */
  readonly connections: number;
  readonly connectTimeoutMs: number;
  /** Time to the response's headers, and between its body's chunks (S3 trickles whitespace while a copy runs). */
  readonly responseTimeoutMs: number;
}

interface Target {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  /** The URL path up to the key: `/` (virtual-hosted) or `/bucket/` (path style), plus any endpoint path. */
  readonly base: string;
  readonly hostHeader: string;
  readonly pool: Pool;
  readonly request: Http["request"];
  readonly signer: Awaited<ReturnType<ClientParts["signer"]>>;
  readonly signingRegion: string;
  readonly signingService: string;
}

/** The SDK's encoding of a greedy path label: each segment RFC 3986-encoded, `/` kept. */
function encodeKeyPath(key: string): string {
  return key
    .split("/")
    .map((s) => encodeURIComponent(s).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`))
    .join("/");
}

const xmlText = (xml: string, tag: string): string | undefined => {
  const m = new RegExp(`<${tag}>([\\s\\S]*?)</${tag}>`).exec(xml);
  return m?.[1] === undefined ? undefined : unescapeXml(m[1]);
};

function unescapeXml(s: string): string {
  return s.replace(/&(lt|gt|amp|quot|apos|#x?[0-9a-fA-F]+);/g, (all, e: string) => {
    if (e === "lt") return "<";
    if (e === "gt") return ">";
    if (e === "amp") return "&";
    if (e === "quot") return '"';
    if (e === "apos") return "'";
    const n = e.startsWith("#x") ? Number.parseInt(e.slice(2), 16) : Number.parseInt(e.slice(1), 10);
    return Number.isFinite(n) ? String.fromCodePoint(n) : all;
  });
}

/** The code the SDK names a bodyless error by (HEAD-like answers, proxies). */
function codeForStatus(status: number): string {
  if (status === 404) return "NotFound";
  if (status === 403) return "Forbidden";
  if (status === 400) return "BadRequest";
  if (status === 301) return "PermanentRedirect";
  return `HTTP${status}`;
}

export class LeanCopier {
  private readonly targets = new Map<string, Promise<Target | undefined>>();
  private readonly pools = new Map<string, Pool>();
  private readonly parts: ClientParts;

  constructor(
    client: S3Client,
    private readonly http: LeanHttpOptions,
  ) {
    this.parts = client.config as unknown as ClientParts;
  }

  /** Sends the copy; false (nothing sent) when the SDK's rules give this bucket an endpoint the lean path does not cover. */
  async copy(r: LeanCopyRequest): Promise<boolean> {
    const t = await this.target(r.bucket);
    if (t === undefined) return false;
    const headers: Record<string, string> = {
      host: t.hostHeader,
      "content-length": "0",
      "x-amz-copy-source": r.copySource,
      "x-amz-metadata-directive": "COPY",
    };
    const o = r.options;
    if (o?.taggingDirective) headers["x-amz-tagging-directive"] = o.taggingDirective;
    if (o?.storageClass) headers["x-amz-storage-class"] = o.storageClass;
    if (o?.acl) headers["x-amz-acl"] = o.acl;
    if (o?.sse) headers["x-amz-server-side-encryption"] = o.sse;
    if (o?.sse === "aws:kms" && o.sseKmsKeyId) headers["x-amz-server-side-encryption-aws-kms-key-id"] = o.sseKmsKeyId;
    if (o?.requesterPays) headers["x-amz-request-payer"] = "requester";
    const request = {
      method: "PUT",
      protocol: t.protocol,
      hostname: t.hostname,
      port: t.port,
      path: `${t.base}${encodeKeyPath(r.key)}`,
      query: { "x-id": "CopyObject" },
      headers,
      body: undefined,
    };
    const signed = await t.signer.sign(request, {
      signingDate: new Date(Date.now() + (this.parts.systemClockOffset ?? 0)),
      signingRegion: t.signingRegion,
      signingService: t.signingService,
    });
    const s = signed as { path: string; headers: Record<string, string> };
    const response = await t.request.call(t.pool, { method: "PUT", path: `${s.path}?x-id=CopyObject`, headers: s.headers });
    const body = await response.body.text();
    const id = response.headers["x-amz-request-id"];
    const requestId = Array.isArray(id) ? id[0] : id;
    if (response.statusCode >= 300) {
      const code = xmlText(body, "Code") ?? codeForStatus(response.statusCode);
      throw new LeanS3Error(code, xmlText(body, "Message") ?? "", response.statusCode, requestId);
    }
    // S3 may answer a copy 200 and fail it in the body, or cut the body short: as the SDK's throw200Exceptions, a 503.
    if (body.length === 0) throw new LeanS3Error("InternalError", "S3 aborted request", 503, requestId);
    if (body.trimEnd().endsWith("</Error>")) {
      throw new LeanS3Error(xmlText(body, "Code") ?? "InternalError", xmlText(body, "Message") ?? "", 503, requestId);
    }
    return true;
  }

  /** Endpoint and signer of a bucket, resolved once by the SDK's own rules (virtual-hosted or path style, FIPS, dual-stack). */
  private target(bucket: string): Promise<Target | undefined> {
    let t = this.targets.get(bucket);
    if (t === undefined) {
      t = this.resolve(bucket);
      t.catch(() => this.targets.delete(bucket));
      this.targets.set(bucket, t);
    }
    return t;
  }

  private async resolve(bucket: string): Promise<Target | undefined> {
    const p = this.parts;
    const region = await p.region();
    const custom = p.isCustomEndpoint && p.endpoint ? await p.endpoint() : undefined;
    const accelerate = typeof p.useAccelerateEndpoint === "function" ? await p.useAccelerateEndpoint() : (p.useAccelerateEndpoint ?? false);
    const resolved = p.endpointProvider({
      Bucket: bucket,
      Region: region,
      UseFIPS: await p.useFipsEndpoint(),
      UseDualStack: await p.useDualstackEndpoint(),
      Accelerate: accelerate,
      ForcePathStyle: p.forcePathStyle ?? false,
      ...(custom ? { Endpoint: `${custom.protocol}//${custom.hostname}${custom.port ? `:${custom.port}` : ""}${custom.path}` } : {}),
    });
    const scheme = resolved.properties?.authSchemes?.[0];
    // Access points, S3 Express, multi-region (sigv4a) and endpoint headers: the SDK path's.
    if (scheme && scheme.name !== "sigv4") return undefined;
    if (resolved.headers && Object.keys(resolved.headers).length > 0) return undefined;
    const url = new URL(String(resolved.url));
    const signingRegion = scheme?.signingRegion ?? region;
    const signingService = scheme?.signingName ?? "s3";
    const signer = await p.signer({ name: "sigv4", signingName: signingService, signingRegion, properties: {} });
    const port = url.port === "" ? undefined : Number(url.port);
    const base = url.pathname.endsWith("/") ? url.pathname : `${url.pathname}/`;
    const { Pool: PoolClass, request } = await loadHttp();
    let pool = this.pools.get(url.origin);
    if (pool === undefined) {
      pool = new PoolClass(url.origin, {
        connections: this.http.connections,
        connectTimeout: this.http.connectTimeoutMs,
        headersTimeout: this.http.responseTimeoutMs,
        bodyTimeout: this.http.responseTimeoutMs,
      });
      this.pools.set(url.origin, pool);
    }
    return {
      pool,
      request,
      protocol: url.protocol,
      hostname: url.hostname,
      port,
      base,
      hostHeader: url.host,
      signer,
      signingRegion,
      signingService,
    };
  }
}
