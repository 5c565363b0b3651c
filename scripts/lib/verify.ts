/**
 * verify: every key of the source selection against its destination key,
 * range by range in parallel, by merge-joining the two listings.
 */
import { HeadObjectCommand, type S3Client } from "@aws-sdk/client-s3";
import { S3ObjectStore } from "../../lambdas/aws/s3Store.ts";
import { compareObjects, type Lister, listObjects, mapRange, mergeJoin, SOURCE_ETAG_METADATA } from "../../lambdas/core/compare.ts";
import type { S3Location } from "../../lambdas/core/messages.ts";
import type { ListedObject } from "../../lambdas/core/ports.ts";
import { seedRanges } from "../../lambdas/core/ranges.ts";
import { mapLimit } from "./seed.ts";

export type Difference =
  | { readonly kind: "missing"; readonly key: string; readonly source: ListedObject }
  | { readonly kind: "extra"; readonly key: string; readonly destination: ListedObject }
  | {
      readonly kind: "different";
      readonly key: string;
      readonly reason: "size" | "etag";
      readonly source: ListedObject;
      readonly destination: ListedObject;
    };

export interface VerifyCounts {
  readonly compared: number;
  readonly matching: number;
  readonly missing: number;
  readonly extra: number;
  readonly different: number;
  readonly differences: number;
}

export interface VerifyOptions {
  readonly source: S3Location;
  readonly destination: S3Location;
  readonly lister: Lister;
  /** The source ETag recorded on a multipart copy, for objects whose ETags cannot match. */
  readonly recordedSourceEtag: (bucket: string, key: string) => Promise<string | undefined>;
  /** Ranges compared at once. @default 8 */
  readonly concurrency?: number;
  readonly onDifference?: (difference: Difference) => void;
}

export async function verifySelections(options: VerifyOptions): Promise<VerifyCounts> {
  const { source, destination, lister } = options;
  const counts = { compared: 0, matching: 0, missing: 0, extra: 0, different: 0 };
  const report = (d: Difference) => {
    counts[d.kind]++;
    options.onDifference?.(d);
  };
  const toDestination = (key: string) => destination.prefix + key.slice(source.prefix.length);
  await mapLimit(seedRanges(source.prefix), options.concurrency ?? 8, async (range) => {
    const src = listObjects(lister, source.bucket, source.prefix, range);
    const dst = listObjects(
      lister,
      destination.bucket,
      destination.prefix,
      mapRange(range, source.prefix, destination.prefix),
      source.prefix,
    );
    for await (const pair of mergeJoin(src, dst)) {
      counts.compared++;
      if (pair.source && !pair.destination) report({ kind: "missing", key: pair.key, source: pair.source });
      else if (!pair.source && pair.destination)
        report({ kind: "extra", key: pair.key, destination: { ...pair.destination, key: toDestination(pair.key) } });
      else if (pair.source && pair.destination) {
        let verdict = compareObjects(pair.source, pair.destination);
        if (verdict === "confirm") {
          const recorded = await options.recordedSourceEtag(destination.bucket, toDestination(pair.key));
          verdict = recorded !== undefined && recorded === pair.source.etag ? "same" : "etag";
        }
        if (verdict === "same") counts.matching++;
        else report({ kind: "different", key: pair.key, reason: verdict, source: pair.source, destination: pair.destination });
      }
    }
  });
  return { ...counts, differences: counts.missing + counts.extra + counts.different };
}

/** Verify against S3: listings through the same store as the pipeline, HEAD only for multipart copies. */
export function s3VerifyDeps(s3: S3Client): Pick<VerifyOptions, "lister" | "recordedSourceEtag"> {
  return {
    lister: new S3ObjectStore(s3),
    recordedSourceEtag: async (bucket, key) => {
      const head = await s3.send(new HeadObjectCommand({ Bucket: bucket, Key: key }));
      return head.Metadata?.[SOURCE_ETAG_METADATA];
    },
  };
}
