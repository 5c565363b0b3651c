/** Where a job reads and writes, and the rules that keep it from eating itself. */
import type { S3Location } from "./messages.ts";

/**
 * True when the destination selection could contain source keys or vice
 * versa: copying would then feed itself (or overwrite what it reads).
 */
export function selectionsOverlap(source: S3Location, destination: S3Location): boolean {
  if (source.bucket !== destination.bucket) return false;
  return source.prefix.startsWith(destination.prefix) || destination.prefix.startsWith(source.prefix);
}

/** A job id: sortable by time, safe in queue names and S3 keys. */
export function newJobId(now: Date = new Date(), random: () => number = Math.random): string {
  const stamp = now.toISOString().replace(/[-:]/g, "").replace(/\..*$/, "").replace("T", "-");
  const suffix = Math.floor(random() * 36 ** 6)
    .toString(36)
    .padStart(6, "0");
  return `${stamp}-${suffix}`;
}
