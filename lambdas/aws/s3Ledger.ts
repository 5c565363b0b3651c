/**
 * Ledger kept as small JSON objects in S3, one per finished portion and one
 * per batch outcome, under `<prefix>jobs/<jobId>/`. Writes are idempotent:
 * the object name is derived from the record's identity.
 */

import { createHash } from "node:crypto";
import { PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { asciiJson } from "../core/messages.ts";
import type { BatchOutcome, Ledger, PortionRecord } from "../core/ports.ts";

export class S3Ledger implements Ledger {
  constructor(
    private readonly s3: S3Client,
    private readonly bucket: string,
    private readonly prefix = "",
  ) {}

  async recordPortion(record: PortionRecord): Promise<void> {
    const id = createHash("sha256")
      .update(JSON.stringify([record.range.startAfter ?? null, record.range.endAt ?? null]))
      .digest("base64url")
      .slice(0, 22);
    await this.put(`${this.prefix}jobs/${record.jobId}/portions/${id}.json`, record);
  }

  async recordBatch(outcome: BatchOutcome): Promise<void> {
    await this.put(`${this.prefix}jobs/${outcome.jobId}/batches/${outcome.batchId}.json`, outcome);
  }

  private async put(key: string, value: unknown): Promise<void> {
    await this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: asciiJson(value), ContentType: "application/json" }));
  }
}
