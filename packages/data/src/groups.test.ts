import { describe, expect, it } from 'vitest';
import { hammingDistance } from './decode.js';
import { groupNearDuplicates } from './groups.js';
import { createRng } from './rng.js';

/** The definition, pair by pair: what the indexed grouping must reproduce. */
function groupsByAllPairs(dhashes: Uint32Array[], contentHashes: string[], maxDistance: number): Int32Array {
  const n = dhashes.length;
  const parent = Int32Array.from({ length: n }, (_, i) => i);
  const find = (i: number): number => (parent[i] === i ? i : (parent[i] = find(parent[i])));
  const union = (a: number, b: number) => {
    const [ra, rb] = [find(a), find(b)];
    if (ra !== rb) parent[Math.max(ra, rb)] = Math.min(ra, rb);
  };
  for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) if (contentHashes[i] === contentHashes[j] || hammingDistance(dhashes[i], dhashes[j]) <= maxDistance) union(i, j);
  const ids = new Map<number, number>();
  return Int32Array.from({ length: n }, (_, i) => {
    const root = find(i);
    if (!ids.has(root)) ids.set(root, ids.size);
    return ids.get(root)!;
  });
}

/** Random 256-bit hashes with planted near-duplicates at distances 0 … 2·maxDistance, chains and exact copies. */
function hashes(n: number, maxDistance: number, seed: number) {
  const random = createRng(seed);
  const word = () => Math.floor(random() * 2 ** 32) >>> 0;
  const out: Uint32Array[] = [];
  const content: string[] = [];
  while (out.length < n) {
    const r = random();
    if (out.length && r < 0.45) {
      // A relative of an earlier hash: some bits flipped, at, under and over the threshold.
      const h = Uint32Array.from(out[Math.floor(random() * out.length)]);
      const flips = Math.floor(random() * (2 * maxDistance + 2));
      for (let k = 0; k < flips; k++) {
        const bit = Math.floor(random() * 256);
        h[bit >>> 5] ^= 1 << (bit & 31);
      }
      out.push(h);
      content.push(`file${out.length}`);
    } else if (out.length && r < 0.5) {
      // The same file twice (a copy under another name): equal content hash, other dHash.
      out.push(Uint32Array.from({ length: 8 }, word));
      content.push(content[Math.floor(random() * content.length)]);
    } else {
      out.push(Uint32Array.from({ length: 8 }, word));
      content.push(`file${out.length}`);
    }
  }
  return { out, content };
}

describe('near-duplicate grouping by multi-index hashing', () => {
  it('gives the groups of the all-pairs definition, for thresholds from 0 to 64 bits', () => {
    for (const maxDistance of [0, 1, 3, 8, 20, 64]) {
      for (const seed of [1, 2]) {
        const { out, content } = hashes(1500, maxDistance, seed);
        const indexed = groupNearDuplicates(out, content, maxDistance);
        const reference = groupsByAllPairs(out, content, maxDistance);
        expect([...indexed], `maxDistance ${maxDistance}, seed ${seed}`).toEqual([...reference]);
        // The planted relatives make real groups, so the comparison is not between all-singleton partitions.
        expect(new Set(indexed).size).toBeLessThan(out.length * 0.9);
      }
    }
  });

  it('merges runs of identical hashes and keeps distance exactly at the threshold in, one bit over out', () => {
    const base = Uint32Array.from([1, 2, 3, 4, 5, 6, 7, 8]);
    const flipped = (bits: number[]) => {
      const h = Uint32Array.from(base);
      for (const bit of bits) h[bit >>> 5] ^= 1 << (bit & 31);
      return h;
    };
    const set = [base, Uint32Array.from(base), flipped([0, 40, 80, 120, 160, 200, 240, 255]), flipped([1, 2, 3, 4, 5, 6, 7, 8, 9]), Uint32Array.from({ length: 8 }, () => 0xffffffff)];
    expect([...groupNearDuplicates(set, set.map((_, i) => `f${i}`), 8)]).toEqual([0, 0, 0, 1, 2]);
  });

});
