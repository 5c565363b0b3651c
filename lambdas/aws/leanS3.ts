/**
 * Lean CopyObject and ListObjectsV2: the S3 client's own endpoint rules,
 * credential chain and SigV4 signer, without its per-request middleware
 * stack and schema serde, sent over undici connections rather than
 * node:http (half the CPU a request on this machine: README, Hot path).
 * Copies take it only for what it covers (see `leanCovers`); a listing
 * takes it only while the answer is what it knows, and goes the SDK's way
 * (with the SDK's retries) for anything else. Any client whose send or
 * middleware someone changed keeps the SDK path.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import type { JobOptions } from "../core/jobOptions.ts";
import type { ListedObject, ListPage, ListPageRequest } from "../core/ports.ts";
import { Connections, type LeanHttpOptions, type LeanRequest } from "./leanHttp.ts";

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

export type { LeanHttpOptions } from "./leanHttp.ts";

interface Target {
  readonly protocol: string;
  readonly hostname: string;
  readonly port: number | undefined;
  /** The URL path up to the key: `/` (virtual-hosted) or `/bucket/` (path style), plus any endpoint path. */
  readonly base: string;
  readonly hostHeader: string;
  readonly connections: Connections;
  readonly signer: Awaited<ReturnType<ClientParts["signer"]>>;
  readonly signingRegion: string;
  readonly signingService: string;
}

/** Characters that RFC 3986 encoding leaves as they are, and `/`. */
const UNRESERVED_PATH = /^[A-Za-z0-9\-._~/]*$/;

/** The SDK's encoding of a greedy path label: each segment RFC 3986-encoded, `/` kept. */
function encodeKeyPath(key: string): string {
  // Most keys need no escaping at all: one test instead of a split, a map and an encode per segment.
  if (UNRESERVED_PATH.test(key)) return key;
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
    // Past U+10FFFF is no character: left as written, as a bad entity is.
    return Number.isFinite(n) && n <= 0x10ffff ? String.fromCodePoint(n) : all;
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

/** The SDK's query encoding (RFC 3986: encodeURIComponent, and `!'()*` too), which the signer canonicalizes alike. */
function encodeQueryValue(v: string): string {
  return encodeURIComponent(v).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** SHA-256 of an empty payload: what the SDK sends as x-amz-content-sha256 for a bodyless request (the signer then hashes nothing). */
const EMPTY_PAYLOAD_SHA256 = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/** The text of the first `<tag>…</tag>` in xml[from, to), XML-unescaped; undefined when absent. */
function textOf(xml: string, tag: string, from: number, to: number): string | undefined {
  const open = xml.indexOf(`<${tag}>`, from);
  if (open < 0 || open >= to) return undefined;
  const start = open + tag.length + 2;
  const end = xml.indexOf(`</${tag}>`, start);
  if (end < 0 || end > to) return undefined;
  const text = xml.slice(start, end);
  return text.includes("&") ? unescapeXml(text) : text;
}

/**
 * The fields of a ListObjectsV2 result with EncodingType=url that listing reads: each Contents' Key
 * (URL-decoded by `decode`), Size and ETag; IsTruncated and NextContinuationToken. Undefined for
 * anything else (no ListBucketResult, keys not URL-encoded, a size that is not a number), which then
 * goes the SDK's way; a key `decode` rejects throws its error (the caller lists that page the SDK's way too).
 * With EncodingType=url no key text holds `<`, so a tag search cannot land inside one.
 */
export function parseListPage(xml: string, decode: (encoded: string) => string): ListPage | undefined {
  const root = xml.indexOf("<ListBucketResult");
  if (root < 0) return undefined;
  const objects: ListedObject[] = [];
  let firstContents = -1;
  let pos = root;
  for (;;) {
    const open = xml.indexOf("<Contents>", pos);
    if (open < 0) break;
    const close = xml.indexOf("</Contents>", open);
    if (close < 0) return undefined;
    if (firstContents < 0) firstContents = open;
    const key = textOf(xml, "Key", open, close);
    const size = Number(textOf(xml, "Size", open, close) ?? "0");
    if (key === undefined || !Number.isSafeInteger(size)) return undefined;
    objects.push({ key: decode(key), size, etag: textOf(xml, "ETag", open, close) });
    pos = close + 11;
  }
  // The result's own fields, outside every Contents (S3 puts them first; others after).
  const head = firstContents < 0 ? xml.length : firstContents;
  const field = (tag: string) => textOf(xml, tag, root, head) ?? textOf(xml, tag, pos, xml.length);
  if (field("EncodingType") !== "url") return undefined;
  const truncated = field("IsTruncated");
  if (truncated !== "true" && truncated !== "false") return undefined;
  const nextToken = truncated === "true" ? field("NextContinuationToken") : undefined;
  if (truncated === "true" && nextToken === undefined) return undefined;
  return { objects, nextToken };
}

export class LeanS3 {
  private readonly targets = new Map<string, Promise<Target | undefined>>();
  private readonly connections = new Map<string, Promise<Connections>>();
  private readonly parts: ClientParts;

  constructor(
    client: S3Client,
    private readonly http: LeanHttpOptions,
  ) {
    this.parts = client.config as unknown as ClientParts;
  }

  /** Signs a bodyless request with the SDK's signer and sends it on the target's connections. */
  private async send(
    t: Target,
    method: LeanRequest["method"],
    path: string,
    query: Record<string, string>,
    headers: Record<string, string>,
  ) {
    headers["x-amz-content-sha256"] = EMPTY_PAYLOAD_SHA256;
    const signed = (await t.signer.sign(
      { method, protocol: t.protocol, hostname: t.hostname, port: t.port, path, query, headers, body: undefined },
      {
        signingDate: new Date(Date.now() + (this.parts.systemClockOffset ?? 0)),
        signingRegion: t.signingRegion,
        signingService: t.signingService,
      },
    )) as { path: string; headers: Record<string, string> };
    let search = "";
    for (const k in query) search += `${search === "" ? "?" : "&"}${k}=${encodeQueryValue(query[k] as string)}`;
    return t.connections.request({ method, path: `${signed.path}${search}`, headers: signed.headers });
  }

  /**
   * One ListObjectsV2 page with EncodingType=url, or undefined when this path cannot tell what the SDK's
   * would: an endpoint it does not cover, an error of any kind, an answer it does not parse. The
   * caller then lists that page the SDK's way, retries and error mapping included.
   */
  async listPage(r: ListPageRequest, decode: (encoded: string) => string): Promise<ListPage | undefined> {
    try {
      const t = await this.target(r.bucket);
      if (t === undefined) return undefined;
      const query: Record<string, string> = { "list-type": "2" };
      if (r.token !== undefined) query["continuation-token"] = r.token;
      query["encoding-type"] = "url";
      query["max-keys"] = String(r.maxKeys);
      if (r.prefix) query.prefix = r.prefix;
      if (r.token === undefined && r.startAfter !== undefined) query["start-after"] = r.startAfter;
      // The bucket's own path: `/bucket/` path style, `/` virtual-hosted.
      const response = await this.send(t, "GET", t.base, query, { host: t.hostHeader });
      if (response.status !== 200) return undefined;
      return parseListPage(response.body, decode);
    } catch {
      return undefined;
    }
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
    const response = await this.send(t, "PUT", `${t.base}${encodeKeyPath(r.key)}`, { "x-id": "CopyObject" }, headers);
    const { body, requestId } = response;
    if (response.status >= 300) {
      const code = xmlText(body, "Code") ?? codeForStatus(response.status);
      throw new LeanS3Error(code, xmlText(body, "Message") ?? "", response.status, requestId);
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
    let connections = this.connections.get(url.origin);
    if (connections === undefined) {
      connections = Connections.open(url.origin, this.http);
      this.connections.set(url.origin, connections);
    }
    return {
      connections: await connections,
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
