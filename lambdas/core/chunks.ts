/**
 * Completion of a manifest job: its unit is a seeded chunk, not a key range.
 * A chunk is finished when stretches recorded for it chain from row 0 to a
 * stretch that did not continue; stretches may overlap or repeat
 * (at-least-once delivery), only gaps matter.
 */
import type { PortionRecord } from "./ports.ts";
import type { KeyRange } from "./ranges.ts";

/** The empty range that names a stretch of a manifest chunk (see PortionRecord.chunk). */
export function manifestPortionRange(chunk: number, from: number): KeyRange {
  const label = `manifest:${chunk}:${from}`;
  return { startAfter: label, endAt: label };
}

export interface ChunkProgress {
  /** Chunks the job seeded, as its portions say; 0 before any is recorded. */
  readonly of: number;
  readonly finished: number;
}

/** How many of the seeded chunks are finished, from the manifest portions among `portions`. */
export function chunkProgress(portions: readonly PortionRecord[]): ChunkProgress {
  const spans = new Map<number, { from: number; to: number; continued: boolean }[]>();
  let of = 0;
  for (const p of portions) {
    if (p.chunk === undefined) continue;
    of = Math.max(of, p.chunk.of);
    let list = spans.get(p.chunk.id);
    if (list === undefined) {
      list = [];
      spans.set(p.chunk.id, list);
    }
    list.push({ from: p.chunk.from, to: p.chunk.to, continued: p.continued });
  }
  let finished = 0;
  for (const [id, list] of spans) {
    if (id < 0 || id >= of) continue;
    list.sort((a, b) => a.from - b.from);
    let covered = 0;
    for (const s of list) {
      if (s.from > covered) break;
      if (!s.continued) {
        finished++;
        break;
      }
      covered = Math.max(covered, s.to);
    }
  }
  return { of, finished };
}

/** Whether every seeded chunk is finished. */
export function chunksCovered(portions: readonly PortionRecord[]): boolean {
  const { of, finished } = chunkProgress(portions);
  return of > 0 && finished === of;
}
