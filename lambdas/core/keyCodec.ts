/**
 * Key encodings. Two different ones, on purpose:
 * - transport: how a key travels inside our SQS messages. ASCII only, so it
 *   survives SQS's character rules (and the emulator's stricter ones).
 * - S3 listing: with EncodingType=url S3 form-encodes keys (space as `+`).
 */
import { InvalidKeyError } from "./errors.ts";

/** Percent-encodes a key's UTF-8 bytes; the result is printable ASCII. */
export function encodeKey(key: string): string {
  try {
    return encodeURIComponent(key);
  } catch {
    throw new InvalidKeyError("key is not valid Unicode (lone surrogate)");
  }
}

export function decodeKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded);
  } catch {
    throw new InvalidKeyError(`transport-encoded key is malformed: ${encoded.slice(0, 80)}`);
  }
}

/** Decodes a key from a ListObjectsV2 response made with EncodingType=url. */
export function decodeS3ListKey(encoded: string): string {
  try {
    return decodeURIComponent(encoded.replace(/\+/g, " "));
  } catch {
    throw new InvalidKeyError(`listed key is not valid URL encoding: ${encoded.slice(0, 80)}`);
  }
}

/** Encodes a key as S3 does for EncodingType=url (the inverse of decodeS3ListKey). */
export function encodeS3ListKey(key: string): string {
  return encodeURIComponent(key).replace(/%20/g, "+").replace(/%2F/g, "/");
}

/** The x-amz-copy-source value: bucket and URL-encoded key. */
export function copySource(bucket: string, key: string, versionId?: string): string {
  const path = `${bucket}/${encodeURIComponent(key).replace(/%2F/g, "/")}`;
  return versionId ? `${path}?versionId=${encodeURIComponent(versionId)}` : path;
}
