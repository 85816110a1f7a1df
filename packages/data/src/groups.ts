/** Near-duplicate grouping, so that no group straddles the test split. */
import { hammingDistance } from './decode.js';

/**
 * Group ids (0…groups−1) by single linkage: two images are in one group when their content
 * hashes are equal or their dHashes differ in at most `maxDistance` bits.
 *
 * Not quadratic: multi-index hashing (Norouzi et al. 2012). The hash's bits are cut into
 * `maxDistance + 1` disjoint chunks; two hashes within `maxDistance` bits agree exactly on at
 * least one chunk (pigeonhole), so only hashes that share a chunk value are compared. Equal
 * hashes are merged first, so a run of identical images (blank slices) is one candidate.
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
  // One representative per distinct dHash.
  const byHash = new Map<string, number>();
  const distinct: number[] = [];
  dhashes.forEach((h, i) => {
    const key = h.join(',');
    const first = byHash.get(key);
    if (first === undefined) {
      byHash.set(key, i);
      distinct.push(i);
    } else union(first, i);
  });
  if (n && maxDistance > 0) {
    const bits = dhashes[0].length * 32;
    const chunks = Math.min(maxDistance + 1, bits);
    const seen = new Set<number>();
    for (let c = 0; c < chunks; c++) {
      const from = Math.floor((c * bits) / chunks);
      const to = Math.floor(((c + 1) * bits) / chunks);
      const buckets = new Map<string, number[]>();
      for (const i of distinct) {
        const key = chunkKey(dhashes[i], from, to);
        const bucket = buckets.get(key);
        if (bucket) bucket.push(i);
        else buckets.set(key, [i]);
      }
      for (const bucket of buckets.values()) {
        for (let x = 0; x < bucket.length; x++) {
          for (let y = x + 1; y < bucket.length; y++) {
            const [a, b] = [bucket[x], bucket[y]];
            // A pair sharing several chunks is compared once.
            const pair = a * n + b;
            if (seen.has(pair)) continue;
            seen.add(pair);
            if (hammingDistance(dhashes[a], dhashes[b]) <= maxDistance) union(a, b);
          }
        }
      }
    }
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

/** Bits [from, to) of a hash, as a string key. */
function chunkKey(hash: Uint32Array, from: number, to: number): string {
  let key = '';
  for (let start = from; start < to; start += 32) {
    const end = Math.min(to, start + 32);
    let value = 0;
    for (let bit = start; bit < end; bit++) value = value * 2 + ((hash[bit >>> 5] >>> (bit & 31)) & 1);
    key += `${value.toString(36)}.`;
  }
  return key;
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
