/** The bundle of `entry` (a path from the repository's root) at scripts/.bundle/NAME.mjs, built first when stale; its path. */
export function ensureBundle(entry: string, name: string): Promise<string>;
