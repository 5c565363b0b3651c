/**
 * Manifests in S3: reading a manifest file from a byte offset (a Range GET
 * pinned to the ETag the kickoff saw), and planning a job's chunks from a
 * manifest URL (HEAD of a CSV manifest, or GET of an inventory manifest.json).
 */
import { GetObjectCommand, HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import {
  type ManifestChunk,
  ManifestError,
  type ManifestFile,
  type ManifestFormat,
  manifestFormatOf,
  parseInventoryManifest,
  planChunks,
} from "../core/manifest.ts";
import type { ManifestReadRequest, ManifestSource } from "../core/ports.ts";
import { errorInfo, retrying } from "../core/retry.ts";

export class S3ManifestSource implements ManifestSource {
  constructor(private readonly s3: S3Client) {}

  async *read(request: ManifestReadRequest): AsyncGenerator<Uint8Array> {
    let body: AsyncIterable<Uint8Array>;
    try {
      const out = await this.s3.send(
        new GetObjectCommand({
          Bucket: request.bucket,
          Key: request.key,
          Range: request.start > 0 ? `bytes=${request.start}-` : undefined,
          IfMatch: request.etag,
        }),
      );
      if (out.Body === undefined) return;
      body = out.Body as AsyncIterable<Uint8Array>;
    } catch (err) {
      const info = errorInfo(err);
      // A start at or past the end of the file: nothing left to read.
      if (info.status === 416 || info.code === "InvalidRange") return;
      throw manifestReadError(err, request);
    }
    yield* body;
  }
}

/**
 * Errors certain to recur become ManifestError (parked with the reason);
 * others are left to retry. Access denied is final only at kickoff: in a
 * running job it may be fixed, and the message redriven.
 */
function manifestReadError(
  err: unknown,
  where: { bucket: string; key: string; etag?: string | undefined },
  accessIsFinal = false,
): unknown {
  const info = errorInfo(err);
  const url = `s3://${where.bucket}/${where.key}`;
  if (info.status === 412 || info.code === "PreconditionFailed")
    return new ManifestError(`manifest file ${url} changed since the job began (it no longer has ETag ${where.etag ?? "?"})`);
  if (info.status === 404 || info.code === "NoSuchKey" || info.code === "NotFound")
    return new ManifestError(`manifest file ${url} does not exist`);
  if (info.code === "NoSuchBucket") return new ManifestError(`the bucket of manifest file ${url} does not exist`);
  if (accessIsFinal && (info.status === 403 || info.code === "AccessDenied" || info.code === "Forbidden"))
    return new ManifestError(`no access to manifest file ${url}`);
  return err;
}

export interface ManifestPlan {
  readonly format: ManifestFormat;
  /** The files to read: the CSV manifest itself, or the inventory's data files. */
  readonly files: readonly ManifestFile[];
  readonly chunks: readonly ManifestChunk[];
}

/**
 * What the kickoff seeds for a manifest: `key` ending in .json is an S3
 * Inventory manifest, anything else an S3 Batch Operations CSV (.gz: gzip).
 */
export async function planManifest(s3: S3Client, location: { bucket: string; key: string }, chunkBytes?: number): Promise<ManifestPlan> {
  const format = manifestFormatOf(location.key);
  let files: ManifestFile[];
  if (format === "csv") {
    const head = await retrying(() => s3.send(new HeadObjectCommand({ Bucket: location.bucket, Key: location.key }))).catch(
      (err: unknown) => {
        throw manifestReadError(err, location, true);
      },
    );
    files = [{ bucket: location.bucket, key: location.key, size: head.ContentLength ?? 0, etag: head.ETag, format }];
  } else {
    const text = await retrying(async () => {
      const out = await s3.send(new GetObjectCommand({ Bucket: location.bucket, Key: location.key }));
      return (await out.Body?.transformToString("utf-8")) ?? "";
    }).catch((err: unknown) => {
      throw manifestReadError(err, location, true);
    });
    files = parseInventoryManifest(text, location.bucket);
  }
  if (files.length === 0) throw new ManifestError(`manifest s3://${location.bucket}/${location.key} names no data files`);
  return { format, files, chunks: planChunks(files, chunkBytes) };
}
