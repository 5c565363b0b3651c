/**
 * A copy by parts (UploadPartCopy) of one object: content headers, user
 * metadata and tags carried over, parts in parallel, and resumable. When an
 * invocation runs out of time, or a part keeps failing transiently, the
 * upload is kept and its id travels with the key to the next delivery, which
 * lists the parts already there and copies the rest. Permanent failures
 * abort the upload so no parts are left behind. Each delivery plans from a
 * fresh HEAD, so an object that changed since listing is copied as it now is.
 */
import { type Attempt, type AttemptDeps, attempt } from "./attempt.ts";
import { SOURCE_ETAG_METADATA } from "./compare.ts";
import { needsMultipart, planParts } from "./copyPlan.ts";
import type { ResolvedJobOptions } from "./jobOptions.ts";
import type { CopyItem, CopyTask } from "./messages.ts";
import type { MultipartStore, ObjectHead, UploadedPart } from "./ports.ts";
import type { ErrorClass, ErrorInfo } from "./retry.ts";

/** Where to pick a copy by parts up again. */
export interface Resume {
  readonly uploadId: string;
  /** The source ETag the parts were copied from. */
  readonly etag: string | undefined;
}

export type PartsOutcome =
  /** `bytes`: the size copied, as the source was when copied (the listing's may be stale). */
  | { readonly status: "copied"; readonly bytes?: number }
  | { readonly status: "vanished" }
  | { readonly status: "halted" }
  | { readonly status: "deferred"; readonly resume?: Resume }
  | { readonly status: "failed"; readonly error: ErrorInfo; readonly errorClass: ErrorClass; readonly resume?: Resume };

export interface PartsDeps extends AttemptDeps {
  readonly store: MultipartStore;
  /** Parts in flight for this object. */
  readonly partConcurrency: number;
}

/** An Attempt that did not succeed, as a PartsOutcome, keeping the upload when it can resume. */
function notOk(a: Exclude<Attempt<unknown>, { status: "ok" }>, resume?: Resume): PartsOutcome {
  if (a.status === "failed") return a.errorClass === "permanent" ? a : { ...a, resume };
  if (a.status === "deferred") return { status: "deferred", resume };
  return a;
}

/** The object as HEAD now sees it needs no copy by parts (emptied or shrunk since listing): CopyObject it. */
export interface CopyWhole {
  readonly status: "whole";
  readonly head: ObjectHead;
}

/** Fresh HEADs a copy by parts makes in one delivery when its source changes under it, before it leaves the key to the next. */
export const CHANGED_SOURCE_RESTARTS = 2;

/**
 * Copies one object by parts, planned from a fresh HEAD (not from the listing, which may be stale):
 * an object gone since listing is vanished; one that no longer needs parts (size 0, say) is handed
 * back as `whole`. Every part is conditioned on the HEAD's ETag, and the source is HEADed again
 * before completing (for endpoints that ignore x-amz-copy-source-if-match), so a source that
 * changes mid-copy restarts from a fresh HEAD instead of mixing two versions.
 */
export async function copyByParts(
  task: CopyTask,
  item: CopyItem,
  destinationKey: string,
  options: ResolvedJobOptions,
  deps: PartsDeps,
): Promise<PartsOutcome | CopyWhole> {
  let current = item;
  for (let restart = 0; ; restart++) {
    const outcome = await copyVersion(task, current, destinationKey, options, deps);
    if (outcome.status !== "changed") return outcome;
    // Logged as a retry: the copy goes on from a fresh HEAD, here or in a later delivery.
    deps.onRetry?.(outcome.error, "transient", restart + 1);
    const { uploadId: _, ...fresh } = current;
    current = fresh;
    if (restart >= CHANGED_SOURCE_RESTARTS)
      // Still changing: a later delivery starts over from whatever the source is then.
      return { status: "failed", error: outcome.error, errorClass: "transient" };
  }
}

/** The source changed during the copy: its upload is aborted, and the copy starts again from a fresh HEAD. */
interface Changed {
  readonly status: "changed";
  readonly error: ErrorInfo;
}

/** One pass of a copy by parts: of the version the HEAD finds. */
async function copyVersion(
  task: CopyTask,
  item: CopyItem,
  destinationKey: string,
  options: ResolvedJobOptions,
  deps: PartsDeps,
): Promise<PartsOutcome | CopyWhole | Changed> {
  const { store } = deps;
  const jobId = task.job.id;
  const src = { bucket: task.job.source.bucket, key: item.key, versionId: item.versionId };
  const dst = { bucket: task.job.destination.bucket, key: destinationKey };
  const opts = task.job.options;
  const abort = async (uploadId: string) => {
    // Best effort (lifecycle rules catch the rest); a port that throws instead of rejecting is contained too.
    try {
      await store.abort(dst.bucket, dst.key, uploadId, opts);
    } catch {}
  };
  const readHead = () => attempt(jobId, deps, () => store.head(src.bucket, src.key, opts, src.versionId));

  const head = await readHead();
  if (head.status !== "ok") {
    // Gone since listing: the parts of an earlier delivery will never complete.
    if (head.status === "vanished" && item.uploadId !== undefined) await abort(item.uploadId);
    return notOk(head, item.uploadId === undefined ? undefined : { uploadId: item.uploadId, etag: item.etag });
  }
  const etag = head.value.etag;
  if (!needsMultipart(head.value.size, { threshold: options.multipartThreshold }, etag)) {
    if (item.uploadId !== undefined) await abort(item.uploadId);
    return { status: "whole", head: head.value };
  }
  // Planned from the HEAD (the listing's size may be stale), and before any upload exists to leak.
  const plan = planParts(head.value.size, options.partSize);

  let uploadId = item.uploadId;
  const done = new Map<number, string>();
  if (uploadId !== undefined && item.etag !== undefined && etag !== item.etag) {
    // The source changed since these parts were copied: start over from the new version.
    await abort(uploadId);
    uploadId = undefined;
  }
  if (uploadId !== undefined) {
    const id = uploadId;
    const listed = await attempt(jobId, deps, () => store.listParts(dst.bucket, dst.key, id, opts));
    if (listed.status === "ok") for (const p of listed.value) done.set(p.partNumber, p.etag);
    else if (listed.status === "failed" && listed.error.code === "NoSuchUpload") uploadId = undefined;
    else return notOk(listed, { uploadId: id, etag });
  }
  if (uploadId === undefined) {
    const replaceTags = opts?.taggingDirective === "REPLACE";
    const tagging = replaceTags
      ? { status: "ok" as const, value: opts?.tagging ?? "" }
      : await attempt(jobId, deps, () => store.tagging(src.bucket, src.key, opts, src.versionId));
    if (tagging.status !== "ok") return notOk(tagging);
    // REPLACE writes the job's metadata instead of the source's; either way the source ETag is recorded.
    // As with CopyObject, REPLACE also drops the source's content headers.
    const replace = opts?.metadataDirective === "REPLACE";
    const base = replace ? { size: head.value.size, etag, metadata: opts?.metadata ?? {} } : head.value;
    const withSource = { ...base, metadata: { ...base.metadata, ...(etag ? { [SOURCE_ETAG_METADATA]: etag } : {}) } };
    const created = await attempt(jobId, deps, () => store.createUpload(dst.bucket, dst.key, withSource, tagging.value, opts));
    if (created.status !== "ok") return notOk(created);
    uploadId = created.value;
  }
  const id = uploadId;
  const resume: Resume = { uploadId: id, etag };

  const todo = plan.filter((p) => !done.has(p.partNumber));
  let stop: Exclude<Attempt<unknown>, { status: "ok" }> | undefined;
  let next = 0;
  const worker = async () => {
    while (stop === undefined && next < todo.length) {
      const part = todo[next++];
      if (!part) break;
      const copied = await attempt(jobId, deps, () =>
        store.copyPart({
          sourceBucket: src.bucket,
          sourceKey: src.key,
          sourceVersionId: src.versionId,
          bucket: dst.bucket,
          key: dst.key,
          uploadId: id,
          ...part,
          ifMatch: etag,
          options: opts,
        }),
      );
      if (copied.status === "ok") done.set(part.partNumber, copied.value);
      else stop ??= copied;
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, Math.min(deps.partConcurrency, todo.length)) }, worker));
  if (stop !== undefined) {
    if (stop.status === "failed" && stop.error.code === "PreconditionFailed") {
      // x-amz-copy-source-if-match: the source changed mid-copy.
      await abort(id);
      return { status: "changed", error: stop.error };
    }
    if (stop.status === "vanished" || stop.status === "halted" || (stop.status === "failed" && stop.errorClass === "permanent"))
      await abort(id);
    return notOk(stop, resume);
  }

  // Still the version the parts were copied from? (Not every endpoint honours x-amz-copy-source-if-match.)
  // A versioned source named by its version id cannot change.
  if (src.versionId === undefined) {
    const again = await readHead();
    if (again.status === "vanished") {
      await abort(id);
      return again;
    }
    if (again.status !== "ok") return notOk(again, resume);
    if (again.value.etag !== etag) {
      await abort(id);
      return {
        status: "changed",
        error: { code: "SourceChanged", message: `the source changed during its copy by parts (ETag ${etag} -> ${again.value.etag})` },
      };
    }
  }

  const parts: UploadedPart[] = [...done.entries()]
    .sort((a, b) => a[0] - b[0])
    .map(([partNumber, partEtag]) => ({ partNumber, etag: partEtag }));
  const completed = await attempt(jobId, deps, () => store.complete(dst.bucket, dst.key, id, parts, opts));
  if (completed.status === "ok") return { status: "copied", bytes: head.value.size };
  if (completed.status === "failed" && completed.error.code === "NoSuchUpload") {
    // The upload is gone (aborted elsewhere, or expired): a later delivery starts a new one.
    deps.onRetry?.(completed.error, "transient", 1);
    return { status: "failed", error: completed.error, errorClass: "transient" };
  }
  if (completed.status === "failed" && completed.errorClass === "permanent") await abort(id);
  return notOk(completed, resume);
}
