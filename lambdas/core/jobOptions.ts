/**
 * A job's copy options: in the job spec, and in every message so that the
 * copier needs no lookup. Absent fields take the defaults below.
 */
import * as v from "valibot";
import { DEFAULT_MULTIPART, MAX_PART_BYTES, MIN_PART_BYTES } from "./copyPlan.ts";

const Bytes = v.pipe(v.number(), v.integer(), v.minValue(1));

export const STORAGE_CLASSES = [
  "STANDARD",
  "REDUCED_REDUNDANCY",
  "STANDARD_IA",
  "ONEZONE_IA",
  "INTELLIGENT_TIERING",
  "GLACIER",
  "DEEP_ARCHIVE",
  "GLACIER_IR",
] as const;
export const CANNED_ACLS = [
  "private",
  "public-read",
  "public-read-write",
  "authenticated-read",
  "aws-exec-read",
  "bucket-owner-read",
  "bucket-owner-full-control",
] as const;
export const CHECKSUM_ALGORITHMS = ["CRC32", "CRC32C", "SHA1", "SHA256", "CRC64NVME"] as const;

export const JobOptionsSchema = v.object({
  /** Copy only keys that differ from the destination (merge-joined listings; same size and ETag is identical). */
  sync: v.optional(v.boolean()),
  /** With sync: delete what only the destination has, once the whole listing is done. */
  delete: v.optional(v.boolean()),
  /** With delete: a job that would delete more keys than this deletes none. */
  maxDelete: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0))),
  /** Objects larger than this are copied by parts. */
  multipartThreshold: v.optional(Bytes),
  /** Bytes per part. */
  partSize: v.optional(v.pipe(Bytes, v.minValue(MIN_PART_BYTES), v.maxValue(MAX_PART_BYTES))),
  /** Glob patterns on the key below the source prefix; a key must match one to be copied. */
  include: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
  /** Glob patterns on the key below the source prefix; a matching key is not copied. */
  exclude: v.optional(v.array(v.pipe(v.string(), v.minLength(1)))),
  storageClass: v.optional(v.picklist(STORAGE_CLASSES)),
  /** COPY keeps the source's metadata; REPLACE writes `metadata` (and default content headers). */
  metadataDirective: v.optional(v.picklist(["COPY", "REPLACE"])),
  metadata: v.optional(v.record(v.string(), v.string())),
  /** COPY keeps the source's tags; REPLACE writes `tagging`. */
  taggingDirective: v.optional(v.picklist(["COPY", "REPLACE"])),
  /** Tags as a URL query: k1=v1&k2=v2. */
  tagging: v.optional(v.string()),
  acl: v.optional(v.picklist(CANNED_ACLS)),
  sse: v.optional(v.picklist(["AES256", "aws:kms"])),
  sseKmsKeyId: v.optional(v.pipe(v.string(), v.minLength(1))),
  checksumAlgorithm: v.optional(v.picklist(CHECKSUM_ALGORITHMS)),
  requesterPays: v.optional(v.boolean()),
  /** Region of the destination bucket, when it differs from the function's. */
  destinationRegion: v.optional(v.pipe(v.string(), v.regex(/^[a-z]{2}(-[a-z]+)+-\d$/))),
});

export type JobOptions = v.InferOutput<typeof JobOptionsSchema>;

export interface ResolvedJobOptions extends JobOptions {
  readonly multipartThreshold: number;
  readonly partSize: number;
}

export function resolveJobOptions(options: JobOptions | undefined): ResolvedJobOptions {
  return {
    ...options,
    multipartThreshold: options?.multipartThreshold ?? DEFAULT_MULTIPART.threshold,
    partSize: options?.partSize ?? DEFAULT_MULTIPART.partSize,
  };
}

/** Options that contradict each other, as one message per problem (empty when consistent). */
export function optionProblems(o: JobOptions): string[] {
  const problems: string[] = [];
  if (o.metadata !== undefined && o.metadataDirective !== "REPLACE") problems.push("metadata needs metadataDirective REPLACE");
  if (o.tagging !== undefined && o.taggingDirective !== "REPLACE") problems.push("tagging needs taggingDirective REPLACE");
  if (o.sseKmsKeyId !== undefined && o.sse !== "aws:kms") problems.push("an SSE-KMS key id needs sse aws:kms");
  if (o.delete === true && o.sync !== true)
    problems.push("--delete needs --sync: it deletes what the compared listings find only in the destination");
  if (o.maxDelete !== undefined && o.delete !== true) problems.push("--max-delete needs --delete");
  return problems;
}

/**
 * Glob matching on the part of a key below the job's prefix: `*` matches
 * within a path segment, `**` across segments, `?` one character.
 */
export function globToRegExp(glob: string): RegExp {
  let re = "";
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i] as string;
    if (c === "*" && glob[i + 1] === "*") {
      re += ".*";
      i++;
    } else if (c === "*") re += "[^/]*";
    else if (c === "?") re += "[^/]";
    else re += c.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${re}$`, "su");
}

/** Whether a key (below the prefix) passes the job's include and exclude patterns. */
export function keyFilter(options: JobOptions | undefined, prefix: string): (key: string) => boolean {
  const include = options?.include?.map(globToRegExp);
  const exclude = options?.exclude?.map(globToRegExp);
  if (!include && !exclude) return () => true;
  return (key) => {
    const rest = key.slice(prefix.length);
    if (include && !include.some((r) => r.test(rest))) return false;
    return !exclude?.some((r) => r.test(rest));
  };
}
