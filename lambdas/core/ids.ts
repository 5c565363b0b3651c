/** Deterministic batch ids: the same job, keys, attempt and parent give the same id. */
import { createHash } from "node:crypto";

export const BATCH_ID_LENGTH = 22;

export function batchIdOf(
  jobId: string,
  items: readonly { readonly key: string; readonly versionId?: string | undefined }[],
  attempt: number,
  parent = "",
): string {
  const h = createHash("sha256");
  h.update(`${jobId}\0${parent}\0${attempt}\0${items.length}`);
  // Length-prefixed, so no two key lists hash alike whatever the keys contain.
  // A version id (printable ASCII, no NUL) is marked off so keys without one keep their ids.
  for (const item of items) h.update(`\0${item.key.length}:${item.key}${item.versionId === undefined ? "" : `\0v${item.versionId}`}`);
  return h.digest("base64url").slice(0, BATCH_ID_LENGTH);
}
