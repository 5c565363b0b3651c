/**
 * S3 orders keys by their UTF-8 bytes, which is Unicode code point order.
 * JavaScript's `<` compares UTF-16 code units and puts U+E000–U+FFFF after
 * every astral character; this comparator agrees with S3 without allocating.
 */
export function compareKeys(a: string, b: string): number {
  const n = Math.min(a.length, b.length);
  for (let i = 0; i < n; i++) {
    const x = a.charCodeAt(i);
    const y = b.charCodeAt(i);
    if (x !== y) return codeUnitRank(x) - codeUnitRank(y);
  }
  return a.length - b.length;
}

/** Surrogates (astral code points) rank above U+E000–U+FFFF, as in UTF-8. */
function codeUnitRank(c: number): number {
  if (c >= 0xe000) return c - 0x800;
  if (c >= 0xd800) return c + 0x2000;
  return c;
}

export function sortKeys(keys: readonly string[]): string[] {
  return [...keys].sort(compareKeys);
}
