/** Large source objects for tests, seeded as the emulator allows. */
import { CompleteMultipartUploadCommand, CreateMultipartUploadCommand, type S3Client, UploadPartCommand } from "@aws-sdk/client-s3";

export const MiB = 1024 * 1024;

/** Seeds an object by multipart upload (the emulator refuses single PUTs over ~11 MiB). */
export async function putLarge(s3: S3Client, bucket: string, key: string, size: number): Promise<Buffer> {
  const body = Buffer.alloc(size);
  for (let i = 0; i < size; i += 4) body.writeUInt32LE((i * 2654435761) >>> 0, i);
  const { UploadId } = await s3.send(
    new CreateMultipartUploadCommand({
      Bucket: bucket,
      Key: key,
      ContentType: "video/mp4",
      CacheControl: "max-age=600",
      Metadata: { owner: "team-a", "camera-id": "42" },
      Tagging: "project=apollo&tier=gold",
    }),
  );
  const parts = [];
  for (let n = 1, at = 0; at < size; n++, at += 5 * MiB) {
    const out = await s3.send(
      new UploadPartCommand({ Bucket: bucket, Key: key, UploadId, PartNumber: n, Body: body.subarray(at, at + 5 * MiB) }),
    );
    parts.push({ PartNumber: n, ETag: out.ETag });
  }
  await s3.send(new CompleteMultipartUploadCommand({ Bucket: bucket, Key: key, UploadId, MultipartUpload: { Parts: parts } }));
  return body;
}
