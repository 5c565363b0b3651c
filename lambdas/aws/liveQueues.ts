/**
 * The live queue and its DLQ as a MessageSink: the live handler parks poison and redelivers failed
 * records through the shared batch plumbing, which names queues "copy" and "copyDlq"; here those
 * names mean the live pair (the pipeline's own sink keeps the real copy queues for the copier).
 */
import type { SQSClient } from "@aws-sdk/client-sqs";
import { SqsMessageSink } from "./sqsSink.ts";

export function liveQueueSink(sqs: SQSClient, queueUrl: string, dlqUrl: string): SqsMessageSink {
  return new SqsMessageSink(sqs, { list: queueUrl, copy: queueUrl, listDlq: dlqUrl, copyDlq: dlqUrl });
}
