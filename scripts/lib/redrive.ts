/**
 * Redrive: DLQ messages back to their work queue for another try.
 *
 * On AWS, SQS does it (StartMessageMoveTask). Where the endpoint lacks that
 * action or fails it (the embedded emulator, moto: see moveTaskUnavailable),
 * or with --manual / --max, messages are moved by hand: receive from the DLQ, send to the work queue, and delete
 * from the DLQ only what the work queue accepted.
 *
 * What each DLQ holds and what becomes of it:
 * - copy DLQ: raw copy messages SQS moved there after maxReceiveCount (go
 *   back as they are), copy-failure records the copier wrote (the copy
 *   handler takes one as a batch of its one key), and poison records.
 * - list DLQ: raw list messages, list-failure records (a listing parked on a
 *   failure retrying could not fix, such as AccessDenied: listed again as it
 *   was once redriven, so fix the cause first), and poison records.
 * Poison cannot be retried. The manual path leaves it in the DLQ (visible
 * again when it ends) and counts it as skipped; a move task moves every
 * message, and poison comes straight back to the DLQ as poison (wrapped once
 * more) on its first receive.
 */
import {
  ChangeMessageVisibilityBatchCommand,
  DeleteMessageBatchCommand,
  GetQueueAttributesCommand,
  ListMessageMoveTasksCommand,
  type Message,
  type QueueAttributeName,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
  type SQSClient,
  StartMessageMoveTaskCommand,
} from "@aws-sdk/client-sqs";
import { packSendRequests } from "../../lambdas/core/batching.ts";
import { S3FanoutError } from "../../lambdas/core/errors.ts";
import { parseCopyBody, parseListBody } from "../../lambdas/core/messages.ts";
import { errorInfo } from "../../lambdas/core/retry.ts";
import type { Deployment } from "./deployment.ts";

export type WorkQueue = "copy" | "list";

export const WORK_QUEUES: readonly WorkQueue[] = ["copy", "list"];

export class RedriveError extends S3FanoutError {}

export interface RedriveOptions {
  /** Move by hand even where SQS could move the messages itself. */
  readonly manual: boolean;
  /** Move at most this many messages per queue (implies the manual path: a move task cannot stop at a count). */
  readonly max?: number | undefined;
  /** How long a received message stays hidden while this runs. @default 600 */
  readonly visibilityTimeoutSeconds?: number;
  /** Long-poll wait of each receive, in seconds; an empty receive ends the run. @default 1 */
  readonly waitSeconds?: number;
  readonly onProgress?: (progress: ManualProgress) => void;
}

export interface ManualProgress {
  readonly queue: WorkQueue;
  readonly moved: number;
  readonly skipped: number;
}

export interface QueueRedrive {
  readonly queue: WorkQueue;
  readonly mode: "move-task" | "manual";
  /** Messages the DLQ held when the redrive started (approximate, as SQS counts). */
  readonly before: number;
  /** Messages moved back to the work queue (manual path). */
  readonly moved: number;
  /** Poison and unrecognised messages left in the DLQ (manual path). */
  readonly skipped: number;
  /** Messages that arrived in the DLQ while this ran, left for the next redrive (manual path). */
  readonly arrived: number;
  /** Messages the work queue refused; they stay in the DLQ (manual path). */
  readonly sendFailed: number;
  /** Moved messages that could not be deleted from the DLQ: they will be moved again (harmless, copies are idempotent). */
  readonly deleteFailed: number;
  /** The move task's handle (move-task path). */
  readonly taskHandle?: string | undefined;
  /** Why the manual path ran although not asked for. */
  readonly fallback?: string | undefined;
}

interface QueuePair {
  readonly work: string;
  readonly dlq: string;
  readonly accepts: (body: string) => boolean;
}

const parses = (parse: (body: string) => unknown) => (body: string) => {
  try {
    parse(body);
    return true;
  } catch {
    return false;
  }
};

function pairOf(deployment: Deployment, queue: WorkQueue): QueuePair {
  return queue === "copy"
    ? { work: deployment.copyQueueUrl, dlq: deployment.copyDlqUrl, accepts: parses(parseCopyBody) }
    : { work: deployment.listQueueUrl, dlq: deployment.listDlqUrl, accepts: parses(parseListBody) };
}

/** Error codes of an endpoint that does not know StartMessageMoveTask at all (fauxqs answers 400 InvalidAction). */
const UNKNOWN_ACTION_CODES = new Set(["InvalidAction", "UnknownOperation", "UnknownOperationException", "NotImplemented"]);

export function isUnknownAction(err: unknown): boolean {
  const info = errorInfo(err);
  return UNKNOWN_ACTION_CODES.has(info.code) || info.status === 501 || /unknown (action|operation)|not implemented/i.test(info.message);
}

/**
 * Why StartMessageMoveTask is unavailable at this endpoint, so that moving by hand should take over; undefined
 * when SQS answered as SQS and refused (AccessDenied, a task already running), which moving by hand would not
 * mend. Unavailable: an unknown action (fauxqs: 400 InvalidAction), 501, any 5xx after the SDK's retries, or an
 * answer that is no AWS error at all, such as a proxy's or moto's HTML page, which the SDK fails to parse
 * (SyntaxError "Unexpected token '<'", with the HTTP status in $metadata).
 */
export function moveTaskUnavailable(err: unknown): string | undefined {
  const info = errorInfo(err);
  const status = info.status === undefined ? "" : `HTTP ${info.status}, `;
  if (isUnknownAction(err)) return `the endpoint has no StartMessageMoveTask (${info.code})`;
  if (info.code === "SyntaxError" || /deserialization error/i.test(info.message)) {
    return `the endpoint's answer to StartMessageMoveTask is not SQS's (${status}a body the SDK could not parse)`;
  }
  if (info.status !== undefined && info.status >= 500) return `StartMessageMoveTask failed there (${status}${info.code})`;
  return undefined;
}

/** A server error that SQS itself answered (an AWS error body), as opposed to an endpoint that has no such action. */
function answeredBySqs(err: unknown): boolean {
  const info = errorInfo(err);
  return (
    info.status !== undefined &&
    info.status >= 500 &&
    !isUnknownAction(err) &&
    info.code !== "SyntaxError" &&
    !/deserialization error/i.test(info.message)
  );
}

/** Whether a move task is running from this DLQ; false when the endpoint cannot say (it then has none to race). */
async function moveTaskRunning(sqs: SQSClient, sourceArn: string): Promise<boolean> {
  try {
    const out = await sqs.send(new ListMessageMoveTasksCommand({ SourceArn: sourceArn, MaxResults: 1 }));
    return (out.Results ?? []).some((t) => t.Status === "RUNNING");
  } catch {
    return false;
  }
}

async function attributes(sqs: SQSClient, url: string, names: QueueAttributeName[]): Promise<Record<string, string>> {
  const out = await sqs.send(new GetQueueAttributesCommand({ QueueUrl: url, AttributeNames: names }));
  return out.Attributes ?? {};
}

async function arnOf(sqs: SQSClient, url: string): Promise<string> {
  const arn = (await attributes(sqs, url, ["QueueArn"])).QueueArn;
  if (!arn) throw new RedriveError(`queue ${url} has no ARN`);
  return arn;
}

async function visibleDepth(sqs: SQSClient, url: string): Promise<number> {
  return Number((await attributes(sqs, url, ["ApproximateNumberOfMessages"])).ApproximateNumberOfMessages ?? 0);
}

/** Redrives each queue's DLQ in turn. */
export async function redrive(
  sqs: SQSClient,
  deployment: Deployment,
  queues: readonly WorkQueue[],
  options: RedriveOptions,
): Promise<QueueRedrive[]> {
  const results: QueueRedrive[] = [];
  for (const queue of queues) results.push(await redriveQueue(sqs, queue, pairOf(deployment, queue), options));
  return results;
}

async function redriveQueue(sqs: SQSClient, queue: WorkQueue, pair: QueuePair, options: RedriveOptions): Promise<QueueRedrive> {
  const before = await visibleDepth(sqs, pair.dlq);
  if (options.manual || options.max !== undefined) return manualRedrive(sqs, queue, pair, before, options);
  const [sourceArn, destinationArn] = await Promise.all([arnOf(sqs, pair.dlq), arnOf(sqs, pair.work)]);
  try {
    // DestinationArn is the work queue, named rather than left out: "back to the source queue" only knows
    // the source of messages SQS itself moved, and the copier sends its failure records straight to the DLQ.
    const out = await sqs.send(new StartMessageMoveTaskCommand({ SourceArn: sourceArn, DestinationArn: destinationArn }));
    return {
      queue,
      mode: "move-task",
      before,
      moved: 0,
      skipped: 0,
      arrived: 0,
      sendFailed: 0,
      deleteFailed: 0,
      taskHandle: out.TaskHandle,
    };
  } catch (err) {
    const unavailable = moveTaskUnavailable(err);
    if (unavailable !== undefined) {
      // An SQS 5xx is ambiguous (the task may have started): moving by hand beside a running task would race it.
      if (answeredBySqs(err) && (await moveTaskRunning(sqs, sourceArn))) {
        throw new RedriveError(
          `StartMessageMoveTask failed with ${errorInfo(err).code}, but a move task is running for the ${queue} DLQ; wait for it (aws sqs list-message-move-tasks --source-arn ${sourceArn})`,
        );
      }
      return manualRedrive(sqs, queue, pair, before, options, unavailable);
    }
    const info = errorInfo(err);
    if (info.code === "UnsupportedOperation" || info.code === "AWS.SimpleQueueService.UnsupportedOperation") {
      throw new RedriveError(
        `SQS refused a move task for the ${queue} DLQ (${info.message}); one may already be running (aws sqs list-message-move-tasks --source-arn ${sourceArn}), or use --manual`,
      );
    }
    // SQS answered and refused (say, AccessDenied): what to run instead, in one line.
    if (info.status !== undefined) {
      throw new RedriveError(
        `SQS refused a move task for the ${queue} DLQ (${info.code}: ${info.message}); move the messages by hand instead: npm run redrive -- --queue ${queue} --manual`,
      );
    }
    throw err;
  }
}

async function manualRedrive(
  sqs: SQSClient,
  queue: WorkQueue,
  pair: QueuePair,
  before: number,
  options: RedriveOptions,
  fallback?: string,
): Promise<QueueRedrive> {
  const max = options.max ?? Number.POSITIVE_INFINITY;
  const visibility = options.visibilityTimeoutSeconds ?? 600;
  // Messages sent to the DLQ after this (say, the failure records of keys this very redrive retried and
  // that failed again) are left for the next redrive: without this bound, a key that keeps failing
  // would go round for ever. SQS keeps a message's SentTimestamp when it moves it to a DLQ.
  const startedAt = Date.now();
  let moved = 0;
  let sendFailed = 0;
  let deleteFailed = 0;
  /** Received and left in the DLQ, by message id: made visible again at the end. */
  const skipped = new Map<string, string>();
  const arrived = new Map<string, string>();
  const refused: string[] = [];
  try {
    while (moved < max) {
      const out = await sqs.send(
        new ReceiveMessageCommand({
          QueueUrl: pair.dlq,
          MaxNumberOfMessages: Math.min(10, max - moved),
          WaitTimeSeconds: options.waitSeconds ?? 1,
          VisibilityTimeout: visibility,
          MessageSystemAttributeNames: ["SentTimestamp"],
          MessageAttributeNames: ["All"],
        }),
      );
      const received = out.Messages ?? [];
      if (received.length === 0) break;
      const work: Message[] = [];
      for (const m of received) {
        const id = m.MessageId ?? m.ReceiptHandle ?? "";
        if (Number(m.Attributes?.SentTimestamp ?? 0) >= startedAt) arrived.set(id, m.ReceiptHandle ?? "");
        else if (m.Body !== undefined && pair.accepts(m.Body)) work.push(m);
        else skipped.set(id, m.ReceiptHandle ?? "");
      }
      const result = await moveMessages(sqs, pair, work);
      moved += result.moved;
      sendFailed += result.refused.length;
      deleteFailed += result.deleteFailed;
      refused.push(...result.refused);
      options.onProgress?.({ queue, moved, skipped: skipped.size });
    }
  } finally {
    // What stays in the DLQ is visible again at once, for people to look at or for the next redrive.
    await showAgain(sqs, pair.dlq, [...skipped.values(), ...arrived.values(), ...refused]);
  }
  return { queue, mode: "manual", before, moved, skipped: skipped.size, arrived: arrived.size, sendFailed, deleteFailed, fallback };
}

/**
 * Sends the messages to the work queue and deletes from the DLQ each one the
 * work queue accepted; returns the receipt handles of those it refused.
 */
async function moveMessages(
  sqs: SQSClient,
  pair: QueuePair,
  messages: readonly Message[],
): Promise<{ moved: number; refused: string[]; deleteFailed: number }> {
  let moved = 0;
  const refused: string[] = [];
  let deleteFailed = 0;
  const entries = messages.map((m) => ({ body: m.Body ?? "", message: m }));
  for (const request of packSendRequests(entries)) {
    const sent = await sqs.send(
      new SendMessageBatchCommand({
        QueueUrl: pair.work,
        Entries: request.map((e, i) => ({ Id: String(i), MessageBody: e.body, MessageAttributes: e.message.MessageAttributes })),
      }),
    );
    const ok = new Set((sent.Successful ?? []).map((s) => s.Id));
    const accepted = request.filter((_, i) => ok.has(String(i)));
    for (const [i, e] of request.entries()) if (!ok.has(String(i))) refused.push(e.message.ReceiptHandle ?? "");
    if (accepted.length === 0) continue;
    const deleted = await sqs.send(
      new DeleteMessageBatchCommand({
        QueueUrl: pair.dlq,
        Entries: accepted.map((e, i) => ({ Id: String(i), ReceiptHandle: e.message.ReceiptHandle })),
      }),
    );
    moved += accepted.length;
    deleteFailed += deleted.Failed?.length ?? 0;
  }
  return { moved, refused, deleteFailed };
}

async function showAgain(sqs: SQSClient, url: string, receiptHandles: readonly string[]): Promise<void> {
  for (let i = 0; i < receiptHandles.length; i += 10) {
    const handles = receiptHandles.slice(i, i + 10);
    await sqs.send(
      new ChangeMessageVisibilityBatchCommand({
        QueueUrl: url,
        Entries: handles.map((h, j) => ({ Id: String(j), ReceiptHandle: h, VisibilityTimeout: 0 })),
      }),
    );
  }
}
