/**
 * The job ledger in S3, under `<prefix>jobs/<jobId>/`:
 *   spec.json              the job spec (kickoff)
 *   halt.json              the halt marker (halt)
 *   portions/<id>.json     one finished stretch of a listing range, with the batches it emitted
 *   batches/<batchId>.json one copy batch's outcome
 *   batches/set-<id>.json  the outcomes one copy invocation settled ({ outcomes: [...] }): one PUT per invocation
 *   extras/<id>.json       sync --delete: the keys only the destination has in one stretch (beside its portion)
 *   deletion-plan.json     sync --delete: what the job decided to delete once its listing was done
 * Writes are idempotent: an object's name is derived from the record's identity.
 */

import { createHash } from "node:crypto";
import { GetObjectCommand, HeadObjectCommand, ListObjectsV2Command, PutObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { type JobSpec, parseJobSpec } from "../core/jobSpec.ts";
import type { DeletionState } from "../core/ledger.ts";
import { asciiJson } from "../core/messages.ts";
import type { BatchOutcome, DeletionPlan, ExtrasRecord, Ledger, PortionRecord } from "../core/ports.ts";
import { errorInfo, retrying } from "../core/retry.ts";

export interface JobRecords {
  readonly portions: PortionRecord[];
  readonly outcomes: Map<string, BatchOutcome>;
  /** The job's deletion phase (sync --delete), for summarize and account. */
  readonly deletion: DeletionState;
}

/** A stretch's record name: the same stretch always gets the same name. */
function stretchId(range: { readonly startAfter?: string | undefined; readonly endAt?: string | undefined }): string {
  return createHash("sha256")
    .update(JSON.stringify([range.startAfter ?? null, range.endAt ?? null]))
    .digest("base64url")
    .slice(0, 22);
}

export class S3Ledger implements Ledger {
  /** Parsed records by key and ETag, so that watching a job re-reads only what changed. */
  private readonly cache = new Map<string, { etag: string; value: unknown }>();

  /**
   * @param options.rememberWrites keep what this instance writes, so that reading the job back (the
   *   local runtime's final summary) lists the records but GETs only those others wrote. Not for a
   *   long-lived Lambda, whose memory it would fill.
   */
  constructor(
    private readonly s3: S3Client,
    readonly bucket: string,
    readonly prefix = "",
    private readonly options: { readonly rememberWrites?: boolean } = {},
  ) {}

  jobPrefix(jobId: string): string {
    return `${this.prefix}jobs/${jobId}/`;
  }

  async recordPortion(record: PortionRecord): Promise<void> {
    await this.put(`${this.jobPrefix(record.jobId)}portions/${stretchId(record.range)}.json`, record);
  }

  async recordExtras(record: ExtrasRecord): Promise<void> {
    await this.put(`${this.jobPrefix(record.jobId)}extras/${stretchId(record.range)}.json`, record);
  }

  /** Every extras record of the job; a warm instance GETs only those new or changed since it last read. */
  async readExtras(jobId: string): Promise<ExtrasRecord[]> {
    const base = `${this.jobPrefix(jobId)}extras/`;
    const objects = await this.listAll(base);
    const out: ExtrasRecord[] = [];
    let next = 0;
    const worker = async () => {
      for (let o = objects[next++]; o !== undefined; o = objects[next++]) out.push((await this.readCached(o.key, o.etag)) as ExtrasRecord);
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    return out;
  }

  /**
   * Writes the plan only if the job has none (If-None-Match), and reads back the one that stands:
   * of two finish checks deciding at once, one plan wins and both act on it. (A store that ignores the
   * condition, such as the emulator, leaves the last writer's plan standing; the read-back still tells.)
   */
  async recordDeletionPlan(plan: DeletionPlan): Promise<DeletionPlan> {
    const key = `${this.jobPrefix(plan.jobId)}deletion-plan.json`;
    try {
      await retrying(() =>
        this.s3.send(
          new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: asciiJson(plan), ContentType: "application/json", IfNoneMatch: "*" }),
        ),
      );
    } catch (err) {
      const info = errorInfo(err);
      // 412: a plan exists; 409: another conditional write of it is in flight.
      if (info.status !== 412 && info.status !== 409) throw err;
    }
    const standing = await this.readDeletionPlan(plan.jobId);
    if (standing === undefined) throw new Error(`the deletion plan of job ${plan.jobId} was written but cannot be read back`);
    return standing;
  }

  /** The plan again, with `sentAt`: the one write after the conditional one, by the check whose plan stands. */
  async recordDeletionsSent(plan: DeletionPlan): Promise<void> {
    await this.put(`${this.jobPrefix(plan.jobId)}deletion-plan.json`, plan);
  }

  async readDeletionPlan(jobId: string): Promise<DeletionPlan | undefined> {
    const text = await this.getText(`${this.jobPrefix(jobId)}deletion-plan.json`);
    return text === undefined ? undefined : (JSON.parse(text) as DeletionPlan);
  }

  async recordBatch(outcome: BatchOutcome): Promise<void> {
    await this.put(`${this.jobPrefix(outcome.jobId)}batches/${outcome.batchId}.json`, outcome);
  }

  /** One object per job among the outcomes, named by their batch ids, so a repeat of the same set overwrites. */
  async recordBatches(outcomes: readonly BatchOutcome[]): Promise<void> {
    const byJob = new Map<string, BatchOutcome[]>();
    for (const o of outcomes) {
      const set = byJob.get(o.jobId);
      if (set) set.push(o);
      else byJob.set(o.jobId, [o]);
    }
    await Promise.all(
      [...byJob].map(async ([jobId, set]) => {
        if (set.length === 1 && set[0]) return this.recordBatch(set[0]);
        const id = createHash("sha256")
          .update(
            set
              .map((o) => o.batchId)
              .sort()
              .join("\0"),
          )
          .digest("base64url")
          .slice(0, 22);
        await this.put(`${this.jobPrefix(jobId)}batches/set-${id}.json`, { outcomes: set });
      }),
    );
  }

  async writeSpec(spec: JobSpec): Promise<void> {
    await this.put(`${this.jobPrefix(spec.id)}spec.json`, spec);
  }

  /** The job's spec, or undefined when there is no such job. */
  async readSpec(jobId: string): Promise<JobSpec | undefined> {
    const text = await this.getText(`${this.jobPrefix(jobId)}spec.json`);
    return text === undefined ? undefined : parseJobSpec(text);
  }

  async writeHalt(jobId: string, reason: string): Promise<void> {
    await this.put(`${this.jobPrefix(jobId)}halt.json`, { jobId, reason, haltedAt: new Date().toISOString() });
  }

  async isHaltMarked(jobId: string): Promise<boolean> {
    try {
      await this.s3.send(new HeadObjectCommand({ Bucket: this.bucket, Key: `${this.jobPrefix(jobId)}halt.json` }));
      return true;
    } catch (err) {
      const info = errorInfo(err);
      if (info.status === 404 || info.code === "NotFound" || info.code === "NoSuchKey") return false;
      throw err;
    }
  }

  /** A schedule's run in its index, `<prefix>schedules/<name>/runs/<jobId>.json` (lambdas/core/schedule.ts). */
  async recordScheduledRun(run: { readonly jobId: string; readonly schedule: string }): Promise<void> {
    await this.put(`${this.prefix}schedules/${run.schedule}/runs/${run.jobId}.json`, run);
  }

  /** Job ids of a schedule's runs, oldest first (ids begin with the scheduled time): listed, not read. */
  async scheduledRunIds(schedule: string): Promise<string[]> {
    const base = `${this.prefix}schedules/${schedule}/runs/`;
    const keys = await this.listKeys(base);
    return keys
      .map((o) => o.key.slice(base.length))
      .filter((name) => name.endsWith(".json"))
      .map((name) => name.slice(0, -".json".length))
      .sort();
  }

  /** When the job's ledger was last written (its latest record, halt marker or spec), or undefined without one. */
  async lastWriteAt(jobId: string): Promise<Date | undefined> {
    let latest: Date | undefined;
    for (const o of await this.listKeys(this.jobPrefix(jobId))) if (o.modified && (!latest || o.modified > latest)) latest = o.modified;
    return latest;
  }

  private async listKeys(prefix: string): Promise<{ key: string; modified?: Date | undefined }[]> {
    const found: { key: string; modified?: Date | undefined }[] = [];
    let token: string | undefined;
    do {
      const out = await retrying(() =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const c of out.Contents ?? []) if (c.Key) found.push({ key: c.Key, modified: c.LastModified });
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return found;
  }

  /** Every portion and batch outcome recorded so far. */
  async readRecords(jobId: string): Promise<JobRecords> {
    const base = this.jobPrefix(jobId);
    const objects = await this.listAll(base);
    const planned = objects.some((o) => o.key === `${base}deletion-plan.json`);
    const [spec, plan] = await Promise.all([this.readSpec(jobId), planned ? this.readDeletionPlan(jobId) : undefined]);
    const deletion: DeletionState = { expected: spec?.options?.delete === true, plan };

    const portions: PortionRecord[] = [];
    const outcomes = new Map<string, BatchOutcome>();
    const records = objects.filter((o) => o.key.startsWith(`${base}portions/`) || o.key.startsWith(`${base}batches/`));
    let next = 0;
    const worker = async () => {
      while (next < records.length) {
        const o = records[next++];
        if (!o) break;
        const value = await this.readCached(o.key, o.etag);
        if (o.key.startsWith(`${base}portions/`)) portions.push(value as PortionRecord);
        else for (const outcome of outcomesOf(value)) outcomes.set(outcome.batchId, outcome);
      }
    };
    await Promise.all(Array.from({ length: 32 }, worker));
    return { portions, outcomes, deletion };
  }

  private async listAll(prefix: string): Promise<{ key: string; etag: string }[]> {
    const objects: { key: string; etag: string }[] = [];
    let token: string | undefined;
    do {
      const out = await retrying(() =>
        this.s3.send(new ListObjectsV2Command({ Bucket: this.bucket, Prefix: prefix, ContinuationToken: token })),
      );
      for (const c of out.Contents ?? []) if (c.Key && c.ETag) objects.push({ key: c.Key, etag: c.ETag });
      token = out.IsTruncated ? out.NextContinuationToken : undefined;
    } while (token);
    return objects;
  }

  private async readCached(key: string, etag: string): Promise<unknown> {
    const hit = this.cache.get(key);
    if (hit && hit.etag === etag) return hit.value;
    const text = await this.getText(key);
    const value: unknown = JSON.parse(text ?? "null");
    this.cache.set(key, { etag, value });
    return value;
  }

  private async getText(key: string): Promise<string | undefined> {
    try {
      // The body is read inside the retry: a connection cut mid-body is retried too.
      return await retrying(async () => {
        const out = await this.s3.send(new GetObjectCommand({ Bucket: this.bucket, Key: key }));
        return (await out.Body?.transformToString("utf-8")) ?? "";
      });
    } catch (err) {
      const info = errorInfo(err);
      if (info.status === 404 || info.code === "NoSuchKey") return undefined;
      throw err;
    }
  }

  private async put(key: string, value: unknown): Promise<void> {
    const body = asciiJson(value);
    const out = await retrying(() =>
      this.s3.send(new PutObjectCommand({ Bucket: this.bucket, Key: key, Body: body, ContentType: "application/json" })),
    );
    // A ledger that remembers its writes reads them back by listing alone, while their ETags stand.
    if (this.options.rememberWrites && out.ETag) this.cache.set(key, { etag: out.ETag, value: JSON.parse(body) });
  }
}

/** A batches/ record holds one outcome, or (set-*.json) the outcomes of one invocation. */
function outcomesOf(value: unknown): readonly BatchOutcome[] {
  if (typeof value === "object" && value !== null && "outcomes" in value && Array.isArray(value.outcomes))
    return value.outcomes as BatchOutcome[];
  return [value as BatchOutcome];
}
