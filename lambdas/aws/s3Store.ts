/** The S3 ports: listing with EncodingType=url, server-side CopyObject, and the steps of UploadPartCopy. */
import {
  AbortMultipartUploadCommand,
  CompleteMultipartUploadCommand,
  CopyObjectCommand,
  CreateMultipartUploadCommand,
  DeleteObjectCommand,
  GetObjectTaggingCommand,
  HeadObjectCommand,
  ListObjectsV2Command,
  ListPartsCommand,
  type S3Client,
  UploadPartCopyCommand,
} from "@aws-sdk/client-s3";
import type { JobOptions } from "../core/jobOptions.ts";
import { copySource, decodeS3ListKey } from "../core/keyCodec.ts";
import type {
  CopyRequest,
  ListPage,
  ListPageRequest,
  MultipartStore,
  ObjectDeleter,
  ObjectHead,
  ObjectStore,
  UploadedPart,
} from "../core/ports.ts";
import { leanCopierOf, leanListerOf } from "./clients.ts";
import { leanCovers } from "./leanS3.ts";

/** The object without its undefined fields: requests carry only what was set. */
function defined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}

/** The request fields every write to the destination takes from the job's options. */
function writeOptions(o: JobOptions | undefined) {
  return defined({
    StorageClass: o?.storageClass,
    ACL: o?.acl,
    ServerSideEncryption: o?.sse,
    SSEKMSKeyId: o?.sse === "aws:kms" ? o.sseKmsKeyId : undefined,
    ChecksumAlgorithm: o?.checksumAlgorithm,
    RequestPayer: o?.requesterPays ? ("requester" as const) : undefined,
  });
}

const payer = (o: JobOptions | undefined) => (o?.requesterPays ? ("requester" as const) : undefined);

export class S3ObjectStore implements ObjectStore, MultipartStore, ObjectDeleter {
  /**
   * @param s3 the client for listing and reading the source
   * @param clientFor a client for a destination in another region (options.destinationRegion)
   * @param copierFor the client for CopyObject and UploadPartCopy (by destination region, undefined for
   *   the pipeline's own). Give it one SDK attempt: the copier retries on its own, and a SlowDown the
   *   SDK retried away never reaches the adaptive limiter. @default the writer
   */
  constructor(
    private readonly s3: S3Client,
    private readonly clientFor: (region: string) => S3Client = () => s3,
    private readonly copierFor?: (region: string | undefined) => S3Client,
  ) {}

  /** The client that writes to the destination. */
  private writer(o: JobOptions | undefined): S3Client {
    return o?.destinationRegion ? this.clientFor(o.destinationRegion) : this.s3;
  }

  /** The client that sends the copies themselves. */
  private copier(o: JobOptions | undefined): S3Client {
    return this.copierFor ? this.copierFor(o?.destinationRegion) : this.writer(o);
  }

  async listPage(request: ListPageRequest): Promise<ListPage> {
    const lean = await leanListerOf(this.s3)?.listPage(request, decodeS3ListKey);
    if (lean !== undefined) return lean;
    const out = await this.s3.send(
      new ListObjectsV2Command({
        Bucket: request.bucket,
        Prefix: request.prefix || undefined,
        StartAfter: request.token === undefined ? request.startAfter : undefined,
        ContinuationToken: request.token,
        MaxKeys: request.maxKeys,
        // XML 1.0 cannot carry every legal key (control characters); S3 then form-encodes.
        EncodingType: "url",
      }),
    );
    const decode = out.EncodingType === "url" ? decodeS3ListKey : (k: string) => k;
    return {
      objects: (out.Contents ?? []).flatMap((c) => (c.Key === undefined ? [] : [{ key: decode(c.Key), size: c.Size ?? 0, etag: c.ETag }])),
      nextToken: out.IsTruncated ? out.NextContinuationToken : undefined,
    };
  }

  async copy(request: CopyRequest): Promise<void> {
    const o = request.options;
    const replaceTags = o?.taggingDirective === "REPLACE";
    const client = this.copier(o);
    const source = copySource(request.sourceBucket, request.sourceKey, request.sourceVersionId);
    // The lean path for what it covers; the SDK's for the rest (and for clients handed in, mocks, counters).
    const lean = leanCovers(o) ? leanCopierOf(client) : undefined;
    if (lean && (await lean.copy({ bucket: request.destinationBucket, key: request.destinationKey, copySource: source, options: o })))
      return;
    await client.send(
      new CopyObjectCommand({
        Bucket: request.destinationBucket,
        Key: request.destinationKey,
        CopySource: source,
        MetadataDirective: o?.metadataDirective ?? "COPY",
        ...defined({
          Metadata: o?.metadataDirective === "REPLACE" ? { ...o.metadata } : undefined,
          TaggingDirective: o?.taggingDirective,
          Tagging: replaceTags ? o?.tagging : undefined,
        }),
        ...writeOptions(o),
      }),
    );
  }

  async deleteObject(bucket: string, key: string, options?: JobOptions): Promise<void> {
    await this.copier(options).send(new DeleteObjectCommand({ Bucket: bucket, Key: key, RequestPayer: payer(options) }));
  }

  async head(bucket: string, key: string, options?: JobOptions, versionId?: string): Promise<ObjectHead> {
    const h = await this.s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key, VersionId: versionId, RequestPayer: payer(options) }));
    return {
      size: h.ContentLength ?? 0,
      etag: h.ETag,
      contentType: h.ContentType,
      contentEncoding: h.ContentEncoding,
      contentDisposition: h.ContentDisposition,
      contentLanguage: h.ContentLanguage,
      cacheControl: h.CacheControl,
      expires: h.Expires,
      metadata: h.Metadata ?? {},
    };
  }

  async tagging(bucket: string, key: string, options?: JobOptions, versionId?: string): Promise<string> {
    const out = await this.s3.send(
      new GetObjectTaggingCommand({ Bucket: bucket, Key: key, VersionId: versionId, RequestPayer: payer(options) }),
    );
    return (out.TagSet ?? []).map((t) => `${encodeURIComponent(t.Key ?? "")}=${encodeURIComponent(t.Value ?? "")}`).join("&");
  }

  async createUpload(bucket: string, key: string, head: ObjectHead, tagging: string, options?: JobOptions): Promise<string> {
    const out = await this.writer(options).send(
      new CreateMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        ContentType: head.contentType,
        ContentEncoding: head.contentEncoding,
        ContentDisposition: head.contentDisposition,
        ContentLanguage: head.contentLanguage,
        CacheControl: head.cacheControl,
        Expires: head.expires,
        Metadata: { ...head.metadata },
        Tagging: tagging || undefined,
        ...writeOptions(options),
      }),
    );
    if (!out.UploadId) throw new Error("CreateMultipartUpload returned no UploadId");
    return out.UploadId;
  }

  async copyPart(r: Parameters<MultipartStore["copyPart"]>[0]): Promise<string> {
    const out = await this.copier(r.options).send(
      new UploadPartCopyCommand({
        Bucket: r.bucket,
        Key: r.key,
        UploadId: r.uploadId,
        PartNumber: r.partNumber,
        CopySource: copySource(r.sourceBucket, r.sourceKey, r.sourceVersionId),
        CopySourceRange: `bytes=${r.first}-${r.last}`,
        CopySourceIfMatch: r.ifMatch,
        RequestPayer: payer(r.options),
      }),
    );
    const etag = out.CopyPartResult?.ETag;
    if (!etag) throw new Error(`UploadPartCopy of part ${r.partNumber} returned no ETag`);
    return etag;
  }

  async listParts(bucket: string, key: string, uploadId: string, options?: JobOptions): Promise<UploadedPart[]> {
    const parts: UploadedPart[] = [];
    let marker: string | undefined;
    for (;;) {
      const out = await this.writer(options).send(
        new ListPartsCommand({ Bucket: bucket, Key: key, UploadId: uploadId, PartNumberMarker: marker, RequestPayer: payer(options) }),
      );
      for (const p of out.Parts ?? []) if (p.PartNumber !== undefined && p.ETag) parts.push({ partNumber: p.PartNumber, etag: p.ETag });
      if (!out.IsTruncated || out.NextPartNumberMarker === undefined) return parts;
      marker = out.NextPartNumberMarker;
    }
  }

  async complete(bucket: string, key: string, uploadId: string, parts: readonly UploadedPart[], options?: JobOptions): Promise<void> {
    await this.writer(options).send(
      new CompleteMultipartUploadCommand({
        Bucket: bucket,
        Key: key,
        UploadId: uploadId,
        MultipartUpload: { Parts: parts.map((p) => ({ PartNumber: p.partNumber, ETag: p.etag })) },
        RequestPayer: payer(options),
      }),
    );
  }

  async abort(bucket: string, key: string, uploadId: string, options?: JobOptions): Promise<void> {
    await this.writer(options).send(
      new AbortMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId: uploadId, RequestPayer: payer(options) }),
    );
  }
}
