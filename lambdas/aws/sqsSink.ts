/** MessageSink over SQS SendMessageBatch, retrying entries SQS did not take. */
import { SendMessageBatchCommand, type SQSClient } from "@aws-sdk/client-sqs";
import { packSendRequests } from "../core/batching.ts";
import { S3FanoutError } from "../core/errors.ts";
import type { MessageSink, OutgoingMessage, QueueName } from "../core/ports.ts";
import { backoffDelay } from "../core/retry.ts";

export type QueueUrls = Readonly<Record<QueueName, string>>;

export class SendFailedError extends S3FanoutError {}

const SEND_TRIES = 5;

export class SqsMessageSink implements MessageSink {
  constructor(
    private readonly sqs: SQSClient,
    private readonly urls: QueueUrls,
  ) {}

  async send(queue: QueueName, messages: readonly OutgoingMessage[]): Promise<void> {
    const url = this.urls[queue];
    await Promise.all(packSendRequests(messages).map((request) => this.sendRequest(url, request)));
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
