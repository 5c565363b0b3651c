/** ObjectStore over the S3 API: listing with EncodingType=url, server-side copy. */
import { CopyObjectCommand, ListObjectsV2Command, type S3Client } from "@aws-sdk/client-s3";
import { copySource, decodeS3ListKey } from "../core/keyCodec.ts";
import type { CopyRequest, ListPage, ListPageRequest, ObjectStore } from "../core/ports.ts";

export class S3ObjectStore implements ObjectStore {
  constructor(private readonly s3: S3Client) {}

  async listPage(request: ListPageRequest): Promise<ListPage> {
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
    await this.s3.send(
      new CopyObjectCommand({
        Bucket: request.destinationBucket,
        Key: request.destinationKey,
        CopySource: copySource(request.sourceBucket, request.sourceKey),
        MetadataDirective: "COPY",
      }),
    );
  }
}
