/** MessageSink over SQS SendMessageBatch, retrying entries SQS did not take. */
import { ChangeMessageVisibilityBatchCommand, SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { packSendRequests } from "../core/batching.ts";
import { S3FanoutError } from "../core/errors.ts";
import type { MessageSink, OutgoingMessage, QueueName, Redelivery, RetryAfter } from "../core/ports.ts";
import { backoffDelay } from "../core/retry.ts";

export type QueueUrls = Readonly<Record<QueueName, string>>;

export class SendFailedError extends S3FanoutError {}

const SEND_TRIES = 5;

export class SqsMessageSink implements MessageSink, Redelivery {
  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: QueueUrls,
  ) {}

  async send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void> {
    const url = this.urls[queue];
    await Promise.all(packSendRequests(messages).map((request) => this.sendRequest(url, request)));
  }

  /** One ChangeMessageVisibilityBatch per 10 messages; throws when SQS refuses any entry. */
  async retryAfter(queue: QueueName, messages: readonly RetryAfter[]): Promise<void> {
    const url = this.urls[queue];
    for (let i = 0; i < messages.length; i += 10) {
      const entries = messages
        .slice(i, i + 10)
        .map((m, j) => ({ Id: String(j), ReceiptHandle: m.receiptHandle, VisibilityTimeout: m.seconds }));
      const out = await this.sqs.send(new ChangeMessageVisibilityBatchCommand({ QueueUrl: url, Entries: entries }));
      const failed = out.Failed ?? [];
      if (failed.length > 0) throw new SendFailedError(`SQS refused ${failed.length} visibility change(s): ${failed[0]?.Code ?? "?"}`);
    }
  }

  private async sendRequest(url: string, messages: readonly OutgoingMessage[]): Promise<void> {
    let pending = messages.map((m, i) => ({ Id: String(i), MessageBody: m.body, DelaySeconds: m.delaySeconds || undefined }));
    for (let tryNo = 0; ; tryNo++) {
      const out = await this.sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: pending }));
      const failed = out.Failed ?? [];
      if (failed.length === 0) return;
      const fatal = failed.find((f) => f.SenderFault);
      if (fatal || tryNo + 1 >= SEND_TRIES) {
        const f = fatal ?? failed[0];
        throw new SendFailedError(`SQS refused ${failed.length} message(s): ${f?.Code ?? "?"} ${f?.Message ?? ""}`.trim());
      }
      const again = new Set(failed.map((f) => f.Id));
      pending = pending.filter((e) => again.has(e.Id));
      await new Promise((resolve) => setTimeout(resolve, backoffDelay(tryNo)));
    }
  }
}
