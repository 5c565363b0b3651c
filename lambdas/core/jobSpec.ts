/** A job's spec: what kickoff wrote and every command reads back. */
import * as v from "valibot";
import { MalformedMessageError } from "./errors.ts";
import { JobOptionsSchema } from "./jobOptions.ts";
import type { JobRef } from "./messages.ts";

const LocationSchema = v.object({ bucket: v.pipe(v.string(), v.minLength(1)), prefix: v.string() });

export const JobSpecSchema = v.object({
  v: v.literal(1),
  id: v.pipe(v.string(), v.regex(/^[A-Za-z0-9_-]{1,64}$/)),
  source: LocationSchema,
  destination: LocationSchema,
  /** sync: only keys that differ from the destination are copied. live: one UTC day of live changes. */
  mode: v.picklist(["copy", "sync", "live"]),
  createdAt: v.string(),
  /** Listing ranges seeded, or for a manifest job its chunks. */
  ranges: v.pipe(v.number(), v.integer(), v.minValue(1)),
  /**
   * The points the listing ranges were seeded at (relative to the source prefix), so that a start cut
   * short seeds the same ranges again whatever the bucket holds by then. Absent: the default points.
   */
  seedPoints: v.optional(v.array(v.string())),
  options: v.optional(JobOptionsSchema),
  /** Set when the keys come from a manifest instead of a listing of the source. */
  manifest: v.optional(
    v.object({
      bucket: v.pipe(v.string(), v.minLength(1)),
      key: v.pipe(v.string(), v.minLength(1)),
      format: v.picklist(["csv", "inventory"]),
      /** Files read: the CSV itself, or the inventory's data files. */
      files: v.pipe(v.number(), v.integer(), v.minValue(1)),
    }),
  ),
});

export type JobSpec = v.InferOutput<typeof JobSpecSchema>;

export function jobRefOf(spec: JobSpec): JobRef {
  return spec.options === undefined
    ? { id: spec.id, source: spec.source, destination: spec.destination }
    : { id: spec.id, source: spec.source, destination: spec.destination, options: spec.options };
}

export function parseJobSpec(text: string): JobSpec {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch {
    throw new MalformedMessageError("job spec is not JSON");
  }
  const result = v.safeParse(JobSpecSchema, raw);
  if (!result.success) throw new MalformedMessageError(`job spec is invalid: ${result.issues[0]?.message ?? "unknown"}`);
  return result.output;
}
