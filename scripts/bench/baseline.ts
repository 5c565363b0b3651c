/**
 * The baseline: a miniature of the original design this project replaced,
 * on real queues of the same endpoint.
 *
 * - The kickoff sends one list message per printable-ASCII first character
 *   (U+0020-U+007E, 95 prefixes); keys starting with anything else are never
 *   listed (the bench seeds ASCII keys only, so that nothing is skipped).
 * - A list worker takes one message, lists that prefix to its end in one go
 *   (ListObjectsV2, 1,000 keys a page: no ranges, no splitting, no
 *   continuation) and sends the keys as 100-key messages, ten to a
 *   SendMessageBatch, then deletes its message.
 * - Copy workers (as many as the pipeline's copy invocations) each receive up
 *   to 10 messages and handle them as a plain Lambda loop would: message
 *   after message, and within a message key after key, one CopyObject in
 *   flight at a time; then delete the batch.
 * No ledger: it ends when it has copied as many objects as it was told exist.
 */
import type { S3Client } from "@aws-sdk/client-s3";
import {
  CreateQueueCommand,
  DeleteMessageBatchCommand,
  DeleteQueueCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
} from "@aws-sdk/client-sqs";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";

export interface BaselineSettings {
  readonly source: string;
  readonly destination: string;
  /** Objects the source holds: the run ends once this many are copied. */
  readonly objects: number;
  readonly listWorkers: number;
  readonly copyWorkers: number;
  /** Gives up after this long without a copy (a hang guard). @default 30000 */
  readonly stallMs?: number;
}

export interface BaselineRun {
  readonly copied: number;
  readonly failed: number;
  readonly listMessages: number;
  readonly copyMessages: number;
  readonly seconds: number;
}

/** The 95 printable-ASCII first characters, U+0020 to U+007E. */
export const ASCII_PREFIXES: readonly string[] = Array.from({ length: 0x7e - 0x20 + 1 }, (_, i) => String.fromCharCode(0x20 + i));

const KEYS_PER_MESSAGE = 100;

export async function runBaseline(s3: S3Client, sqs: SQSClient, settings: BaselineSettings): Promise<BaselineRun> {
  const started = performance.now();
  const name = `s3-fanout-baseline-${process.pid}-${Date.now()}`;
  const listUrl = await createQueue(sqs, `${name}-list`);
  const copyUrl = await createQueue(sqs, `${name}-copy`);
  const store = new S3ObjectStore(s3);
  let copied = 0;
  let failed = 0;
  let copyMessages = 0;
  let lastProgress = Date.now();
  const done = () => copied + failed >= settings.objects || Date.now() - lastProgress > (settings.stallMs ?? 30_000);

  await sendAll(
    sqs,
    listUrl,
    ASCII_PREFIXES.map((prefix) => JSON.stringify({ prefix })),
  );

  const listWorker = async () => {
    while (!done()) {
      for (const m of await receive(sqs, listUrl, 1)) {
        const { prefix } = JSON.parse(m.Body ?? "{}") as { prefix: string };
        let token: string | undefined;
        do {
          const page = await store.listPage({ bucket: settings.source, prefix, token, maxKeys: 1000 });
          const bodies: string[] = [];
          for (let i = 0; i < page.objects.length; i += KEYS_PER_MESSAGE)
            bodies.push(JSON.stringify({ keys: page.objects.slice(i, i + KEYS_PER_MESSAGE).map((o) => o.key) }));
          copyMessages += bodies.length;
          await sendAll(sqs, copyUrl, bodies);
          token = page.nextToken;
        } while (token !== undefined);
        await deleteAll(sqs, listUrl, [m]);
      }
    }
  };

  const copyWorker = async () => {
    while (!done()) {
      const messages = await receive(sqs, copyUrl, 10);
      for (const m of messages) {
        const { keys } = JSON.parse(m.Body ?? "{}") as { keys: string[] };
        for (const key of keys) {
          try {
            await store.copy({
              sourceBucket: settings.source,
              sourceKey: key,
              destinationBucket: settings.destination,
              destinationKey: key,
              size: 0,
            });
            copied++;
          } catch {
            failed++;
          }
          lastProgress = Date.now();
        }
      }
      if (messages.length > 0) await deleteAll(sqs, copyUrl, messages);
    }
  };

  await Promise.all([
    ...Array.from({ length: settings.listWorkers }, listWorker),
    ...Array.from({ length: settings.copyWorkers }, copyWorker),
  ]);
  await Promise.all([listUrl, copyUrl].map((url) => sqs.send(new DeleteQueueCommand({ QueueUrl: url }))));
  // Queue set-up and removal count, as they do in the pipeline's time.
  const seconds = (performance.now() - started) / 1000;
  return { copied, failed, listMessages: ASCII_PREFIXES.length, copyMessages, seconds };
}

async function createQueue(sqs: SQSClient, name: string): Promise<string> {
  const out = await sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: { VisibilityTimeout: "300" } }));
  if (!out.QueueUrl) throw new Error(`CreateQueue returned no URL for ${name}`);
  return out.QueueUrl;
}

async function sendAll(sqs: SQSClient, url: string, bodies: readonly string[]): Promise<void> {
  for (let i = 0; i < bodies.length; i += 10) {
    const entries = bodies.slice(i, i + 10).map((body, j) => ({ Id: String(j), MessageBody: body }));
    const out = await sqs.send(new SendMessageBatchCommand({ QueueUrl: url, Entries: entries }));
    if ((out.Failed ?? []).length > 0) throw new Error(`SQS refused ${out.Failed?.length} message(s)`);
  }
}

async function receive(sqs: SQSClient, url: string, max: number): Promise<Message[]> {
  const out = await sqs.send(new ReceiveMessageCommand({ QueueUrl: url, MaxNumberOfMessages: max, WaitTimeSeconds: 1 }));
  return out.Messages ?? [];
}

async function deleteAll(sqs: SQSClient, url: string, messages: readonly Message[]): Promise<void> {
  await sqs.send(
    new DeleteMessageBatchCommand({
      QueueUrl: url,
      Entries: messages.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle ?? "" })),
    }),
  );
}
