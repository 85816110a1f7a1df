import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { frechetDistance, meanPairwiseDistance, nearestRealSsim, slicedWasserstein, ssim, symmetricEigen } from './quality.js';

const fixtures = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../fixtures/sklearn.json'), 'utf8')) as { frechet: { name: string; a: number[]; countA: number; b: number[]; countB: number; d: number; expected: number }[] };

function pattern(w: number, h: number, phase: number): Float32Array {
  return Float32Array.from({ length: w * h }, (_, i) => 0.5 + 0.4 * Math.sin((i % w) / 3 + phase) * Math.cos(Math.floor(i / w) / 4));
}

describe('SSIM', () => {
  it('is 1 for identical images, symmetric, and falls with noise', () => {
    const x = pattern(32, 32, 0);
    expect(ssim(x, x, 32, 32)).toBeCloseTo(1, 12);
    const noisy = (amount: number) => x.map((v, i) => v + amount * Math.sin(i * 12.9898));
    const y = noisy(0.05);
    expect(ssim(x, y, 32, 32)).toBeCloseTo(ssim(y, x, 32, 32), 12);
    expect(ssim(x, noisy(0.05), 32, 32)).toBeGreaterThan(ssim(x, noisy(0.2), 32, 32));
    expect(ssim(x, noisy(0.2), 32, 32)).toBeLessThan(0.9);
  });

  it('finds the nearest real image', () => {
    const size = 16 * 16;
    const real = { data: new Float32Array(3 * size), count: 3, height: 16, width: 16, channels: 1 };
    [0, 1, 2].forEach((k) => real.data.set(pattern(16, 16, k * 2).map((v) => v * 2 - 1), k * size));
    const synthetic = { data: real.data.slice(size, 2 * size), count: 1, height: 16, width: 16, channels: 1 };
    expect(nearestRealSsim(synthetic, real).max).toBeCloseTo(1, 12);
  });
});

describe('diversity', () => {
  it('is the mean pairwise L2 distance', () => {
    const img = { data: Float32Array.from([0, 0, 3, 4, 0, 8]), count: 3, height: 1, width: 2, channels: 1 };
    // |(0,0)-(3,4)| = 5, |(0,0)-(0,8)| = 8, |(3,4)-(0,8)| = 5
    expect(meanPairwiseDistance(img)).toBeCloseTo(6, 12);
  });
});

describe('Fréchet distance against SciPy', () => {
  it.each(fixtures.frechet.map((c) => [c.name, c] as const))('%s', (_n, c) => {
    const fd = frechetDistance(c.a, c.countA, c.b, c.countB, c.d);
    expect(Math.abs(fd - c.expected) / Math.max(1, Math.abs(c.expected))).toBeLessThan(1e-8);
  });

  it('is 0 between a set and itself', () => {
    const a = Array.from({ length: 60 }, (_, i) => Math.sin(i * 1.7));
    expect(frechetDistance(a, 20, a, 20, 3)).toBeCloseTo(0, 7);
  });

  it('eigen-decomposes symmetric matrices', () => {
    const { values } = symmetricEigen(Float64Array.from([2, 1, 1, 2]), 2);
    expect([...values].sort()).toEqual([1, 3].map((v) => expect.closeTo(v, 12)));
  });
});

describe('sliced Wasserstein distance', () => {
  const phantoms = (seed: number, count = 24) => {
    const set = phantomLike(seed, count);
    return { data: set, count, height: 32, width: 32, channels: 1 };
  };
  /** Smooth blob images, like brain slices in spirit: no data package needed here. */
  function phantomLike(seed: number, count: number): Float32Array {
    const out = new Float32Array(count * 32 * 32);
    let s = seed;
    const r = () => ((s = (s * 16807) % 2147483647) / 2147483647);
    for (let i = 0; i < count; i++) {
      const cx = 12 + 8 * r();
      const cy = 12 + 8 * r();
      const rad = 8 + 4 * r();
      for (let y = 0; y < 32; y++) for (let x = 0; x < 32; x++) out[i * 1024 + y * 32 + x] = Math.hypot(x - cx, y - cy) < rad ? 0.4 + 0.1 * Math.sin(x / 2) : -0.9;
    }
    return out;
  }

  it('is 0 for the same set, small for another sample of the same kind, large for checkerboard noise', () => {
    const real = phantoms(1);
    expect(slicedWasserstein(real, real, { seed: 3 }).mean).toBe(0);
    const same = slicedWasserstein(real, phantoms(2), { seed: 3 });
    const checker = { ...real, data: real.data.map((_, i) => ((i % 2) ^ (Math.floor(i / 32) % 2) ? 0.2 : -0.2)) };
    const noise = slicedWasserstein(real, checker, { seed: 3 });
    expect(same.levels).toHaveLength(2);
    expect(noise.mean).toBeGreaterThan(5 * same.mean);
    // Deterministic for a seed.
    expect(slicedWasserstein(real, phantoms(2), { seed: 3 })).toEqual(same);
  });
});
