/** Creates and removes a job's four queues for the local runtime. */
import { CreateQueueCommand, DeleteQueueCommand, GetQueueAttributesCommand, type SQSClient } from "@aws-sdk/client-sqs";
import type { QueueName } from "../../lambdas/core/ports.ts";
import { errorInfo, retrying } from "../../lambdas/core/retry.ts";

export interface JobQueue {
  readonly url: string;
  readonly arn: string;
}

export type JobQueues = Readonly<Record<QueueName, JobQueue>>;

export interface QueueSettings {
  readonly visibilityTimeoutSeconds: number;
  /** Receives before SQS moves a message to its DLQ. */
  readonly maxReceiveCount: number;
}

/** Creates (or finds) a queue with these attributes: its URL and ARN. */
export async function createQueue(sqs: SQSClient, name: string, attributes: Record<string, string>): Promise<JobQueue> {
  const created = await retrying(() => sqs.send(new CreateQueueCommand({ QueueName: name, Attributes: attributes })));
  const url = created.QueueUrl;
  if (!url) throw new Error(`CreateQueue returned no URL for ${name}`);
  const attrs = await retrying(() => sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: ["QueueArn"] })));
  const arn = attrs.Attributes?.QueueArn;
  if (!arn) throw new Error(`queue ${name} has no ARN`);
  return { url, arn };
}

/** The pipeline's four queues, named `<namePrefix>-list`, `-list-dlq`, `-copy`, `-copy-dlq`. */
export async function createPipelineQueues(sqs: SQSClient, namePrefix: string, settings: QueueSettings): Promise<JobQueues> {
  const retention = String(14 * 24 * 3600);
  // Each work queue needs its DLQ's ARN; the two pairs are made side by side.
  const [listDlq, copyDlq] = await Promise.all([
    createQueue(sqs, `${namePrefix}-list-dlq`, { MessageRetentionPeriod: retention }),
    createQueue(sqs, `${namePrefix}-copy-dlq`, { MessageRetentionPeriod: retention }),
  ]);
  const work = (dlq: JobQueue) => ({
    VisibilityTimeout: String(settings.visibilityTimeoutSeconds),
    MessageRetentionPeriod: retention,
    RedrivePolicy: JSON.stringify({ deadLetterTargetArn: dlq.arn, maxReceiveCount: settings.maxReceiveCount }),
  });
  const [list, copy] = await Promise.all([
    createQueue(sqs, `${namePrefix}-list`, work(listDlq)),
    createQueue(sqs, `${namePrefix}-copy`, work(copyDlq)),
  ]);
  return { list, copy, listDlq, copyDlq };
}

/** Visible, in-flight and delayed messages of a queue. */
export async function queueDepth(sqs: SQSClient, url: string): Promise<number> {
  const out = await retrying(() =>
    sqs.send(
      new GetQueueAttributesCommand({
        QueueUrl: url,
        AttributeNames: ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed"],
      }),
    ),
  );
  const a = out.Attributes ?? {};
  return (
    Number(a.ApproximateNumberOfMessages ?? 0) +
    Number(a.ApproximateNumberOfMessagesNotVisible ?? 0) +
    Number(a.ApproximateNumberOfMessagesDelayed ?? 0)
  );
}

/** Deletes queues; one already gone (a retried delete whose first answer was lost) is deleted. */
export async function deleteQueues(sqs: SQSClient, queues: readonly JobQueue[]): Promise<void> {
  await Promise.all(
    queues.map(async (q) => {
      try {
        await retrying(() => sqs.send(new DeleteQueueCommand({ QueueUrl: q.url })));
      } catch (err) {
        const code = errorInfo(err).code;
        if (code !== "QueueDoesNotExist" && code !== "AWS.SimpleQueueService.NonExistentQueue") throw err;
      }
    }),
  );
}
