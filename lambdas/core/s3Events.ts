/**
 * S3 events as EventBridge delivers them to an SQS target: the whole event is
 * the message body. Only the bucket and key matter here: the live handler
 * reads the current state of both buckets, never the event's size, ETag or
 * type (events arrive duplicated and out of order).
 *
 * `detail.object.key` is URL-encoded as in S3's other event notifications
 * (form encoding: a space is `+`, a `+` is `%2B`); Powertools for AWS Lambda
 * (Python) decodes it with `unquote_plus` in S3EventBridgeNotificationObject.
 * The documented shape: https://docs.aws.amazon.com/AmazonS3/latest/userguide/ev-events.html
 */
import * as v from "valibot";
import { InvalidKeyError, MalformedMessageError } from "./errors.ts";
import { decodeS3ListKey, encodeS3ListKey } from "./keyCodec.ts";

/** The detail types the live rule forwards. */
export const LIVE_DETAIL_TYPES = ["Object Created", "Object Deleted"] as const;

export type LiveDetailType = (typeof LIVE_DETAIL_TYPES)[number];

const S3EventSchema = v.object({
  source: v.literal("aws.s3"),
  "detail-type": v.picklist(LIVE_DETAIL_TYPES),
  detail: v.object({
    bucket: v.object({ name: v.pipe(v.string(), v.minLength(1), v.maxLength(255)) }),
    object: v.object({ key: v.pipe(v.string(), v.minLength(1), v.maxLength(4096 * 3)) }),
  }),
});

/** What an event names: which key of which bucket may have changed. */
export interface S3ChangeHint {
  readonly bucket: string;
  /** Decoded: the object's real key. */
  readonly key: string;
  readonly detailType: LiveDetailType;
}

/** Parses an SQS body holding an EventBridge S3 event; anything else is poison (MalformedMessageError). */
export function parseS3Event(body: string): S3ChangeHint {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch {
    throw new MalformedMessageError("live event is not JSON");
  }
  const result = v.safeParse(S3EventSchema, raw);
  if (!result.success) {
    const issue = result.issues[0];
    const where = issue?.path?.map((p) => String(p.key)).join(".");
    throw new MalformedMessageError(`not an S3 Object Created/Deleted event: ${where ? `${where}: ` : ""}${issue?.message ?? "invalid"}`);
  }
  const { detail } = result.output;
  let key: string;
  try {
    key = decodeS3ListKey(detail.object.key);
  } catch (err) {
    throw new MalformedMessageError(err instanceof InvalidKeyError ? err.message : "event key is not URL-encoded");
  }
  return { bucket: detail.bucket.name, key, detailType: result.output["detail-type"] };
}

/**
 * An EventBridge S3 event for a key, as S3 would send it (the key URL-encoded): for tests and
 * for feeding the live queue by hand.
 */
export function s3EventBody(bucket: string, key: string, detailType: LiveDetailType, extra: { readonly id?: string } = {}): string {
  return JSON.stringify({
    version: "0",
    id: extra.id ?? "00000000-0000-0000-0000-000000000000",
    "detail-type": detailType,
    source: "aws.s3",
    account: "111122223333",
    time: "2025-01-01T00:00:00Z",
    region: "us-east-1",
    resources: [`arn:aws:s3:::${bucket}`],
    detail: {
      version: "0",
      bucket: { name: bucket },
      object: { key: encodeS3ListKey(key), sequencer: "0" },
      "request-id": "0",
      requester: "111122223333",
      reason: detailType === "Object Created" ? "PutObject" : "DeleteObject",
    },
  });
}
