/**
 * A job's failed keys as CSV, in the columns of an S3 Batch Operations
 * completion report (Report_CSV_20180820):
 *   Bucket, Key, VersionId, TaskStatus, ErrorCode, HTTPStatusCode, ResultMessage
 * - Bucket is the source bucket; VersionId the version a manifest row named, else empty (the current version).
 * - Key is URL-encoded with encodeURIComponent: UTF-8 percent-encoding of every
 *   byte but A-Z a-z 0-9 - _ . ! ~ * ' ( ), so `/` is %2F, a space %20 and `+`
 *   %2B; decodeURIComponent (or Python's unquote) gives the key back.
 * - A failed key: TaskStatus "failed", ErrorCode and HTTPStatusCode of its
 *   last error (empty status when no HTTP answer came), ResultMessage its message.
 * - A vanished key (deleted from the source after listing; only with `all`):
 *   TaskStatus "failed", ErrorCode "NoSuchKey", HTTPStatusCode 404, as S3
 *   Batch Operations reports a task whose object is gone.
 * - A copied key, or one a sync found identical (only with `all`): TaskStatus
 *   "succeeded", HTTPStatusCode 200, ResultMessage saying which.
 * - A key a sync with --delete deleted (only with `all`): Bucket and Key are
 *   the destination's, TaskStatus "succeeded", ResultMessage DELETED_MESSAGE.
 * - A key a halt left uncopied has no row, as a cancelled Batch Operations
 *   job reports only the tasks it ran: the ledger does not name such keys (a
 *   purged batch's message is gone). The summary counts them (`halted`), and a
 *   `--sync` rerun copies exactly them.
 * RFC 4180: CRLF line ends, a header line, fields with a comma, quote, CR or
 * LF quoted and their quotes doubled.
 */
import { S3FanoutError } from "../../lambdas/core/errors.ts";
import type { JobSpec } from "../../lambdas/core/jobSpec.ts";
import { compareKeys } from "../../lambdas/core/keyOrder.ts";
import { account, type FailedKey, type JobSummary } from "../../lambdas/core/ledger.ts";
import { type Connection, readSpec } from "./operator.ts";

export class ReportError extends S3FanoutError {}

export const REPORT_COLUMNS = ["Bucket", "Key", "VersionId", "TaskStatus", "ErrorCode", "HTTPStatusCode", "ResultMessage"] as const;

export type ReportRow = Readonly<Record<(typeof REPORT_COLUMNS)[number], string>>;

export const DELETED_MESSAGE = "deleted: only the destination had it (sync --delete)";

export const VANISHED_MESSAGE = "vanished: deleted from the source after it was listed (not copied and not lost)";

/** One CSV field, quoted when RFC 4180 asks for it. */
export function csvField(value: string): string {
  return /[",\r\n]/.test(value) ? `"${value.replace(/"/g, '""')}"` : value;
}

export function csvLine(fields: readonly string[]): string {
  return `${fields.map(csvField).join(",")}\r\n`;
}

export function toCsv(rows: readonly ReportRow[]): string {
  return csvLine(REPORT_COLUMNS) + rows.map((r) => csvLine(REPORT_COLUMNS.map((c) => r[c]))).join("");
}

/** A key as the report writes it. S3 keys are valid UTF-8; a lone surrogate (never from S3) shows as U+FFFD. */
export function reportKey(key: string): string {
  try {
    return encodeURIComponent(key);
  } catch {
    return encodeURIComponent(key.replace(/[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g, "\uFFFD"));
  }
}

export function failedRow(bucket: string, f: FailedKey): ReportRow {
  return {
    Bucket: bucket,
    Key: reportKey(f.key),
    VersionId: f.versionId ?? "",
    TaskStatus: "failed",
    ErrorCode: f.error.code,
    HTTPStatusCode: f.error.status === undefined ? "" : String(f.error.status),
    ResultMessage: f.error.message,
  };
}

export function vanishedRow(bucket: string, key: string): ReportRow {
  return {
    Bucket: bucket,
    Key: reportKey(key),
    VersionId: "",
    TaskStatus: "failed",
    ErrorCode: "NoSuchKey",
    HTTPStatusCode: "404",
    ResultMessage: VANISHED_MESSAGE,
  };
}

/** A key copied, or (sync) found identical in the destination: a task that succeeded. */
export function succeededRow(bucket: string, key: string, how: "copied" | "identical"): ReportRow {
  return {
    Bucket: bucket,
    Key: reportKey(key),
    VersionId: "",
    TaskStatus: "succeeded",
    ErrorCode: "",
    HTTPStatusCode: "200",
    ResultMessage: how === "copied" ? "copied" : "skipped: identical in the destination (same size and ETag)",
  };
}

/** A destination key a sync with --delete deleted. */
export function deletedRow(bucket: string, key: string): ReportRow {
  return { ...succeededRow(bucket, key, "copied"), ResultMessage: DELETED_MESSAGE };
}

export interface JobReport {
  readonly spec: JobSpec;
  /** With the job's halt marker taken into account: a halted job's purged batches count as halted. */
  readonly summary: JobSummary;
  /** The job's halt marker exists. */
  readonly haltMarked: boolean;
  readonly failed: number;
  readonly vanished: number;
  /** Failed keys (then vanished keys, with `all`), each in key (UTF-8 byte) order. */
  readonly rows: readonly ReportRow[];
}

/**
 * The job's report from its ledger; a key a redrive recovered is not failed.
 * With `all`, every key's outcome: failed, then vanished, copied, (sync)
 * identical and (sync --delete) deleted, each in key order.
 */
export async function jobReport(c: Pick<Connection, "ledger">, jobId: string, options: { all: boolean }): Promise<JobReport> {
  const spec = await readSpec(c, jobId);
  const [records, haltMarked] = await Promise.all([c.ledger.readRecords(jobId), c.ledger.isHaltMarked(jobId)]);
  const { summary, failures, vanishedKeys, deletedKeys } = account(records.portions, records.outcomes, {
    keys: options.all,
    deletion: records.deletion,
    halted: haltMarked,
  });
  const bucket = spec.source.bucket;
  const rows = [...failures].sort((a, b) => compareKeys(a.key, b.key)).map((f) => failedRow(bucket, f));
  if (options.all) {
    rows.push(...[...new Set(vanishedKeys)].sort(compareKeys).map((k) => vanishedRow(bucket, k)));
    const failed = new Set(failures.map((f) => f.key));
    const copied = new Set([...records.outcomes.values()].flatMap((o) => o.copiedKeys ?? []).filter((k) => !failed.has(k)));
    rows.push(...[...copied].sort(compareKeys).map((k) => succeededRow(bucket, k, "copied")));
    const identical = new Set(records.portions.flatMap((p) => p.identical ?? []));
    rows.push(...[...identical].sort(compareKeys).map((k) => succeededRow(bucket, k, "identical")));
    const { source, destination } = spec;
    const inDestination = (k: string) => destination.prefix + k.slice(source.prefix.length);
    const deleted = new Set((deletedKeys ?? []).map(inDestination));
    rows.push(...[...deleted].sort(compareKeys).map((k) => deletedRow(destination.bucket, k)));
  }
  return { spec, summary, haltMarked, failed: failures.length, vanished: vanishedKeys.length, rows };
}
