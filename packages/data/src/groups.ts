/** Near-duplicate grouping, so that no group straddles the test split. */
import { hammingDistance } from './decode.js';

/**
 * Group ids (0…groups−1) by single linkage: two images are in one group when their content
 * hashes are equal or their dHashes differ in at most `maxDistance` bits.
 */
export function groupNearDuplicates(dhashes: Uint32Array[], contentHashes: string[], maxDistance: number): Int32Array {
  const n = dhashes.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => {
    while (parent[i] !== i) {
      parent[i] = parent[parent[i]];
      i = parent[i];
    }
    return i;
  };
  const union = (a: number, b: number) => {
    const ra = find(a);
    const rb = find(b);
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  const byContent = new Map<string, number>();
  contentHashes.forEach((h, i) => {
    const first = byContent.get(h);
    if (first === undefined) byContent.set(h, i);
    else union(first, i);
  });
  for (let i = 0; i < n; i++) {
    for (let j = i + 1; j < n; j++) if (hammingDistance(dhashes[i], dhashes[j]) <= maxDistance) union(i, j);
  }
  const ids = new Map<number, number>();
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    const root = find(i);
    if (!ids.has(root)) ids.set(root, ids.size);
    out[i] = ids.get(root)!;
  }
  return out;
}

/** Members of each group, largest first. */
export function groupMembers(groups: Int32Array): number[][] {
  const members = new Map<number, number[]>();
  groups.forEach((g, i) => {
    if (!members.has(g)) members.set(g, []);
    members.get(g)!.push(i);
  });
  return [...members.values()].sort((a, b) => b.length - a.length || a[0] - b[0]);
}
