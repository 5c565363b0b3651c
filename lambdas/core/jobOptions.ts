/**
 * A job's copy options: in the job spec, and in every message so that the
 * copier needs no lookup. Absent fields take the defaults below.
 */
import * as v from "valibot";
import { DEFAULT_MULTIPART, MAX_PART_BYTES, MIN_PART_BYTES } from "./copyPlan.ts";

const Bytes = v.pipe(v.number(), v.integer(), v.minValue(1));

export const JobOptionsSchema = v.object({
  /** Objects larger than this are copied by parts. */
  multipartThreshold: v.optional(Bytes),
  /** Bytes per part. */
  partSize: v.optional(v.pipe(Bytes, v.minValue(MIN_PART_BYTES), v.maxValue(MAX_PART_BYTES))),
});

export type JobOptions = v.InferOutput<typeof JobOptionsSchema>;

export interface ResolvedJobOptions {
  readonly multipartThreshold: number;
  readonly partSize: number;
}

export function resolveJobOptions(options: JobOptions | undefined): ResolvedJobOptions {
  return {
    multipartThreshold: options?.multipartThreshold ?? DEFAULT_MULTIPART.threshold,
    partSize: options?.partSize ?? DEFAULT_MULTIPART.partSize,
  };
}
