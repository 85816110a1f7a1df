import { beforeAll, describe, expect, it } from 'vitest';
import { phantomDataset, subset } from '@synthmix/data';
import { nearestRealSsim, seededRandom, slicedWasserstein, type Images } from '@synthmix/metrics';
import { loadBackend } from './backend.js';
import type { TF } from './contract.js';
import { nearestRealSsimTensors, QUALITY_TENSOR_TOLERANCE, slicedWassersteinTensors } from './quality-tensors.js';

let tf: TF;
beforeAll(async () => {
  tf = (await loadBackend('tensorflow')).tf;
});

const images = (set: { images: Float32Array; count: number; height: number; width: number; channels: number }): Images => ({ data: set.images, count: set.count, height: set.height, width: set.width, channels: set.channels });

function phantoms(size: number, perClass: number, seed: number, channels: 1 | 3 = 3) {
  const set = phantomDataset({ classNames: ['tumor', 'healthy'], perClass, size, channels, seed });
  return { tumor: images(subset(set, Array.from({ length: perClass }, (_, i) => i))), healthy: images(subset(set, Array.from({ length: perClass }, (_, i) => perClass + i))) };
}

/** Uniform noise in [-1, 1]: what a collapsed or untrained generator is closest to. */
function noise(count: number, size: number, channels: number, seed: number): Images {
  const random = seededRandom(seed);
  return { data: Float32Array.from({ length: count * size * size * channels }, () => random() * 2 - 1), count, height: size, width: size, channels };
}

/** The same image `count` times: a collapsed generator. */
function copies(of: Images, count: number): Images {
  const n = of.height * of.width * of.channels;
  const data = new Float32Array(count * n);
  for (let i = 0; i < count; i++) data.set(of.data.subarray(0, n), i * n);
  return { ...of, data, count };
}

describe('quality measures on tensors agree with the float64 reference', () => {
  it('SSIM to the nearest real image, per synthetic image, on phantoms, noise and copies (32 and 64 px, grey and colour)', () => {
    for (const [size, channels] of [[32, 3], [64, 1], [30, 3]] as const) {
      const real = phantoms(size, 24, 1, channels).tumor;
      const cases = { phantoms: phantoms(size, 10, 2, channels).healthy, noise: noise(6, size, channels, 3), copies: copies(real, 4) };
      for (const [name, synthetic] of Object.entries(cases)) {
        const reference = nearestRealSsim(synthetic, real);
        const tensors = nearestRealSsimTensors(tf, synthetic, real);
        expect(tensors.values.length, name).toBe(reference.values.length);
        tensors.values.forEach((v, i) => expect(Math.abs(v - reference.values[i]), `${name} ${size}px image ${i}: ${v} vs ${reference.values[i]}`).toBeLessThan(QUALITY_TENSOR_TOLERANCE.ssim));
        expect(Math.abs(tensors.mean - reference.mean)).toBeLessThan(QUALITY_TENSOR_TOLERANCE.ssim);
        expect(Math.abs(tensors.max - reference.max)).toBeLessThan(QUALITY_TENSOR_TOLERANCE.ssim);
      }
      // A copy of a real image is its own nearest neighbour.
      expect(nearestRealSsimTensors(tf, copies(real, 2), real).max).toBeCloseTo(1, 4);
    }
  });

  it('patch sliced Wasserstein distance, every level, with the reference draws', () => {
    for (const size of [32, 64, 30]) {
      const a = phantoms(size, 40, 1).tumor;
      const cases = { 'real against real': phantoms(size, 40, 2).tumor, 'other class': phantoms(size, 40, 3).healthy, noise: noise(40, size, 3, 4), 'fewer images': phantoms(size, 25, 5).tumor };
      for (const [name, b] of Object.entries(cases)) {
        for (const options of [{ seed: 7 }, { seed: 8, patchesPerImage: 16, projections: 32, levels: 3 }]) {
          const reference = slicedWasserstein(a, b, options);
          const tensors = slicedWassersteinTensors(tf, a, b, options);
          expect(tensors.levels.length, `${name} ${size}px`).toBe(reference.levels.length);
          tensors.levels.forEach((v, i) => expect(Math.abs(v - reference.levels[i]) / reference.levels[i], `${name} ${size}px level ${i}: ${v} vs ${reference.levels[i]}`).toBeLessThan(QUALITY_TENSOR_TOLERANCE.slicedWassersteinRelative));
        }
      }
      // Identical sets are at distance 0, as in the reference.
      expect(slicedWassersteinTensors(tf, a, a, { seed: 1 }).mean).toBeLessThan(1e-6);
    }
  });

  it('leaves no tensor behind', () => {
    const real = phantoms(32, 12, 1).tumor;
    const synthetic = noise(12, 32, 3, 9);
    nearestRealSsimTensors(tf, synthetic, real);
    slicedWassersteinTensors(tf, synthetic, real);
    const before = tf.memory().numTensors;
    for (let i = 0; i < 3; i++) {
      nearestRealSsimTensors(tf, synthetic, real);
      slicedWassersteinTensors(tf, synthetic, real, { seed: i });
    }
    expect(tf.memory().numTensors).toBe(before);
  });
});
