/**
 * Which S3 partition a key's requests count against, for the copier's
 * per-partition limiter. A heuristic: S3 partitions a bucket by key prefix
 * as its load demands and does not say where, so we cannot know the real
 * partitions. Our rule: the key up to and including its first "/" after the
 * job's prefix (`photos/2024/a.jpg` under prefix "" is `photos/`; under
 * prefix `photos/` it is `photos/2024/`), or, when there is no "/" after the
 * prefix, the prefix and the key's next FLAT_CHARS characters (a flat,
 * hashed layout such as `3fa9…` splits on its leading hex digit).
 *
 * Too fine a rule would give each partition's SlowDowns too few requests to
 * hear them by (every key its own window is no backoff at all); too coarse
 * is what we had before, one window for the whole job. The job's own prefix
 * never splits: every key of the job shares it.
 */
export const FLAT_CHARS = 1;

/** The partition of `key`, whose first `from` characters are the job's prefix. */
export function keyPartition(key: string, from = 0): string {
  const slash = key.indexOf("/", from);
  return slash >= 0 ? key.slice(0, slash + 1) : key.slice(0, from + FLAT_CHARS);
}
