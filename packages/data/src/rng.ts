/** Seeded randomness. Every random choice in a sweep derives from the manifest's seeds. */
import { createHash } from 'node:crypto';

/** A 32-bit seed derived from a seed and labels, so independent streams do not overlap. */
export function deriveSeed(seed: number, ...labels: (string | number)[]): number {
  return createHash('sha256').update(JSON.stringify([seed, ...labels])).digest().readUInt32LE(0);
}

/** mulberry32: small, fast, good enough for sampling and shuffling (not for cryptography). */
export function createRng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Fisher–Yates shuffle of a copy. */
export function shuffled<T>(items: readonly T[], random: () => number): T[] {
  const out = items.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(random() * (i + 1));
    [out[i], out[j]] = [out[j], out[i]];
  }
  return out;
}

/** Standard-normal samples from a seeded uniform stream (Box–Muller). */
export function normalArray(random: () => number, n: number): Float32Array {
  const out = new Float32Array(n);
  for (let i = 0; i < n; i += 2) {
    const u = Math.max(random(), 1e-12);
    const v = random();
    const m = Math.sqrt(-2 * Math.log(u));
    out[i] = m * Math.cos(2 * Math.PI * v);
    if (i + 1 < n) out[i + 1] = m * Math.sin(2 * Math.PI * v);
  }
  return out;
}
