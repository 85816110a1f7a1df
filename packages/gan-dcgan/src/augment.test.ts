import { beforeAll, describe, expect, it } from 'vitest';
import { createRng, loadBackend, type LoadedBackend } from '@synthmix/core';
import { phantomDataset } from '@synthmix/data';
import { Compiler, pathDifference, TOLERANCE, type CompileMode } from '@synthmix/compile';
import { augment, drawAugmentation } from './augment.js';
import { buildGan, buildGanSteps, latentBatch, type DcganOptions } from './index.js';

let backend: LoadedBackend;
beforeAll(async () => {
  backend = await loadBackend('tensorflow');
});

/** 2 images 6×5 with 2 channels, every value distinct. */
const pixels = Float32Array.from({ length: 2 * 6 * 5 * 2 }, (_, i) => i / 100);
const at = (b: number, y: number, x: number, c: number) => pixels[((b * 6 + y) * 5 + x) * 2 + c];

describe('differentiable augmentation', () => {
  it('translation moves each image by its own shift, with zeros where it moved in from outside', () => {
    const { tf } = backend;
    const x = tf.tensor4d(pixels, [2, 6, 5, 2]);
    const draw = drawAugmentation(tf, ['translation'], 2, 6, 5, createRng(4));
    // Read each image's shifts back from its matrices: row i takes source i + shift.
    const shiftOf = (m: Float32Array, side: number, b: number) => {
      for (let i = 0; i < side; i++) for (let j = 0; j < side; j++) if (m[b * side * side + i * side + j] === 1) return j - i;
      return NaN;
    };
    const [rows, cols] = draw.map((t) => t.dataSync() as Float32Array);
    const out = augment(tf, ['translation'], x, draw).dataSync();
    const shifts: number[][] = [];
    for (let b = 0; b < 2; b++) {
      const [sy, sx] = [shiftOf(rows, 6, b), shiftOf(cols, 5, b)];
      shifts.push([sy, sx]);
      expect(Math.abs(sy)).toBeLessThanOrEqual(1); // round(6 / 8)
      expect(Math.abs(sx)).toBeLessThanOrEqual(1);
      for (let y = 0; y < 6; y++) for (let xx = 0; xx < 5; xx++) for (let c = 0; c < 2; c++) {
        const [sy2, sx2] = [y + sy, xx + sx];
        const want = sy2 >= 0 && sy2 < 6 && sx2 >= 0 && sx2 < 5 ? at(b, sy2, sx2, c) : 0;
        expect(out[((b * 6 + y) * 5 + xx) * 2 + c]).toBeCloseTo(want, 6);
      }
    }
    // Over many draws every shift from −4 to 4 occurs at 32 px (round(32 / 8)), none beyond.
    const seen = new Set<number>();
    const random = createRng(9);
    for (let i = 0; i < 20; i++) {
      const [r] = drawAugmentation(tf, ['translation'], 8, 32, 32, random);
      const m = r.dataSync() as Float32Array;
      for (let b = 0; b < 8; b++) {
        const row = 16; // a middle row always has a source
        for (let j = 0; j < 32; j++) if (m[b * 1024 + row * 32 + j] === 1) seen.add(j - row);
      }
      tf.dispose(r);
    }
    expect([...seen].sort((a, b) => a - b)).toEqual([-4, -3, -2, -1, 0, 1, 2, 3, 4]);
    tf.dispose([x, ...draw]);
  });

  it('with a probability below 1 each transform applies to about that share of the images, the rest get its identity; with 1 the draws are the paper\'s', () => {
    const { tf } = backend;
    const policy = ['color', 'translation', 'cutout'] as const;
    const n = 400;
    const draw = drawAugmentation(tf, policy, n, 8, 8, createRng(3), 0.3);
    const [brightness, saturation, contrast, rows, cols, mask] = draw.map((t) => t.dataSync() as Float32Array);
    const identityRows = (m: Float32Array, b: number) => Array.from({ length: 8 }, (_, i) => m[b * 64 + i * 8 + i] === 1).every(Boolean);
    const applied = {
      color: Array.from({ length: n }, (_, b) => !(brightness[b] === 0 && saturation[b] === 1 && contrast[b] === 1)),
      translation: Array.from({ length: n }, (_, b) => !(identityRows(rows, b) && identityRows(cols, b))),
      cutout: Array.from({ length: n }, (_, b) => mask.subarray(b * 64, (b + 1) * 64).some((v) => v === 0)),
    };
    // Translation draws shift 0 with probability 1/3 at 8 px (shifts −1..1 a side: 1/9 both zero).
    const share = (flags: boolean[]) => flags.filter(Boolean).length / n;
    expect(share(applied.color)).toBeGreaterThan(0.22);
    expect(share(applied.color)).toBeLessThan(0.38);
    expect(share(applied.cutout)).toBeGreaterThan(0.22);
    expect(share(applied.cutout)).toBeLessThan(0.38);
    expect(share(applied.translation)).toBeGreaterThan(0.18);
    expect(share(applied.translation)).toBeLessThan(0.34);
    // The transforms are drawn independently: some images get cutout without colour.
    expect(applied.cutout.some((c, b) => c && !applied.color[b])).toBe(true);
    // Probability 1 takes no draws for the coin: the brightnesses are the stream's first values,
    // as before the option existed (runs made then reproduce).
    const always = drawAugmentation(tf, policy, 16, 8, 8, createRng(3), 1);
    const stream = createRng(3);
    expect(Array.from(always[0].dataSync())).toEqual(Array.from({ length: 16 }, () => Math.fround(stream() - 0.5)));
    tf.dispose([...draw, ...always]);
  });

  it('cutout zeroes one square of half the side per image (cut by the border when its centre is near it)', () => {
    const { tf } = backend;
    const random = createRng(2);
    let whole = 0;
    for (let i = 0; i < 50; i++) {
      const [mask] = drawAugmentation(tf, ['cutout'], 4, 16, 16, random);
      const m = mask.dataSync();
      for (let b = 0; b < 4; b++) {
        const zeros: [number, number][] = [];
        for (let y = 0; y < 16; y++) for (let x = 0; x < 16; x++) if (m[b * 256 + y * 16 + x] === 0) zeros.push([y, x]);
        const ys = zeros.map((p) => p[0]);
        const xs = zeros.map((p) => p[1]);
        const [h, w] = [Math.max(...ys) - Math.min(...ys) + 1, Math.max(...xs) - Math.min(...xs) + 1];
        expect(zeros.length).toBe(h * w); // a rectangle
        expect(h).toBeLessThanOrEqual(8);
        expect(w).toBeLessThanOrEqual(8);
        if (h === 8 && w === 8) whole++;
      }
      mask.dispose();
    }
    expect(whole).toBeGreaterThan(50); // most squares lie inside
  });

  it('colour shifts brightness, scales saturation about the channel mean and contrast about the image mean', () => {
    const { tf } = backend;
    const x = tf.tensor4d(pixels, [2, 6, 5, 2]);
    const draw = drawAugmentation(tf, ['color'], 2, 6, 5, createRng(7));
    const [b, s, c] = draw.map((t) => t.dataSync());
    const out = augment(tf, ['color'], x, draw).dataSync();
    for (let n = 0; n < 2; n++) {
      const bright = Array.from({ length: 60 }, (_, i) => pixels[n * 60 + i] + b[n]);
      const sat = bright.map((v, i) => {
        const m = (bright[i - (i % 2)] + bright[i - (i % 2) + 1]) / 2;
        return (v - m) * s[n] + m;
      });
      const mean = sat.reduce((a, v) => a + v, 0) / 60;
      sat.forEach((v, i) => expect(out[n * 60 + i]).toBeCloseTo((v - mean) * c[n] + mean, 5));
    }
    expect(Math.min(...b)).toBeGreaterThanOrEqual(-0.5);
    tf.dispose([x, ...draw]);
  });

  it('is differentiable: the gradient of a sum through translation and cutout counts where each pixel lands', () => {
    const { tf } = backend;
    const x = tf.tensor4d(pixels, [2, 6, 5, 2]);
    const draw = drawAugmentation(tf, ['translation', 'cutout'], 2, 6, 5, createRng(5));
    const grad = tf.grad((v) => tf.sum(augment(tf, ['translation', 'cutout'], v, draw)))(x).dataSync();
    // Each input pixel reaches at most one output pixel, so its gradient is 0 or 1.
    expect(new Set(grad)).toEqual(new Set([0, 1]));
    const kept = augment(tf, ['translation', 'cutout'], tf.onesLike(x), draw).sum().dataSync()[0];
    expect(grad.reduce((a, v) => a + v, 0)).toBe(kept);
    tf.dispose([x, ...draw]);
  });

  it('a compiled GAN step with augmentation gives the eager losses and weights, and leaves no tensors behind', () => {
    const { tf } = backend;
    const real = phantomDataset({ classNames: ['tumor'], perClass: 16, size: 16, channels: 1 });
    const x = tf.tensor4d(real.images, [16, 16, 16, 1]);
    const options: Pick<DcganOptions, 'learningRate' | 'beta1'> = { learningRate: 2e-4, beta1: 0.5 };
    const run = (mode: CompileMode) => {
      const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, options);
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const steps = buildGanSteps(tf, compiler, gan, 0.9, ['color', 'translation', 'cutout']);
      const random = createRng(1);
      const losses: number[] = [];
      let before = 0;
      for (let i = 0; i < 12; i++) {
        if (i === 2) before = tf.memory().numTensors;
        const z = latentBatch(tf, 16, 16, i);
        const d = [...drawAugmentation(tf, ['color', 'translation', 'cutout'], 16, 16, 16, random), ...drawAugmentation(tf, ['color', 'translation', 'cutout'], 16, 16, 16, random)];
        const r = steps.both.run(x, z, ...d);
        losses.push(r.dLoss.dataSync()[0], r.gLoss.dataSync()[0]);
        tf.dispose([z, ...d, ...Object.values(r)]);
      }
      const after = tf.memory().numTensors;
      compiler.dispose();
      const out = { losses, weights: [...gan.g.getWeights(), ...gan.d.getWeights()].map((w) => w.dataSync().slice()), counts: steps.both.counts, grew: after - before };
      for (const d of [gan.g, gan.d, gan.optG, gan.optD]) d.dispose();
      return out;
    };
    const eager = run('off');
    const compiled = run('on');
    expect(compiled.counts.compiled).toBe(11);
    expect([eager.grew, compiled.grew]).toEqual([0, 0]);
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    x.dispose();
  });
});
