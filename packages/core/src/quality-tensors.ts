/**
 * The image-space quality measures on TensorFlow, batched: SSIM to the nearest real image and
 * the patch sliced Wasserstein distance. They compute what the reference implementations in
 * `@synthmix/metrics` (`nearestRealSsim`, `slicedWasserstein`) compute, in float32 instead of
 * float64: box filters are average pools, projections a matrix product. The projected values are
 * sorted in JavaScript by a radix sort on both cores (sort-rows.ts): TensorFlow's `topk` at
 * k = n took 90 % of the measures' time. The random patch positions and
 * directions come from the reference's `patchDraws`, so both give the same numbers within
 * {@link QUALITY_TENSOR_TOLERANCE} (quality-tensors.test.ts). In pure JavaScript these took half
 * of the demo's wall clock; the bench's `quality` row measures both.
 */
import { patchDraws, seededRandom, type Images, type SlicedWassersteinOptions } from '@synthmix/metrics';
import type { TF } from './contract.js';
import { sortRowsInParallel } from './sort-rows.js';

type Tensor4D = ReturnType<TF['tensor4d']>;
type Tensor2D = ReturnType<TF['tensor2d']>;

/**
 * How far these may be from the float64 reference: SSIM values (absolute) and the patch
 * distance (relative). Float32 sums over 7 × 7 windows and 49-value projections round at about
 * 1e-6 (measured: 1.2e-6 for SSIM, 1e-6 relative for the patch distance, 64 px phantoms); the
 * bound leaves room for other kernels (AVX2, GPU).
 */
export const QUALITY_TENSOR_TOLERANCE = { ssim: 1e-4, slicedWassersteinRelative: 1e-4 };

/** [n, h, w, 1] grey in [0, 1] from images in [-1, 1] (channel mean), as the reference's `grey`. */
function greyTensor(tf: TF, img: Images): Tensor4D {
  return tf.tidy(() => {
    const x = tf.tensor4d(img.data, [img.count, img.height, img.width, img.channels]);
    return x.mean(3, true).add(1).div(2) as Tensor4D;
  });
}

/** Synthetic images compared with every real one at a time, in batches of this many. */
const SSIM_BATCH_PIXELS = 1 << 22;

/**
 * For each synthetic image, the SSIM (7 × 7 box window, Wang et al. constants, mean over pixels)
 * of the most similar real image; mean and max over them. TensorFlow's SAME average pool counts
 * only the pixels inside the image, as the reference's clipped windows do; the window is pooled
 * as a row then a column (the inside of a clipped window is a rectangle, so the mean of the row
 * means is the window's mean), 14 reads a pixel instead of 49.
 */
export function nearestRealSsimTensors(tf: TF, synthetic: Images, real: Images, radius = 3): { mean: number; max: number; values: number[] } {
  if (synthetic.height !== real.height || synthetic.width !== real.width) throw new Error('SSIM needs images of one size');
  if (!synthetic.count || !real.count) return { mean: NaN, max: -Infinity, values: [] };
  const window = 2 * radius + 1;
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const box = (t: Tensor4D) => tf.avgPool(tf.avgPool(t, [1, window], 1, 'same'), [window, 1], 1, 'same');
  const [h, w] = [real.height, real.width];
  const batch = Math.max(1, Math.floor(SSIM_BATCH_PIXELS / (real.count * h * w)));
  const values: number[] = [];
  const y = greyTensor(tf, real); // [R, h, w, 1]
  // Per real image: μy, μy² and σy², as [1, R, h, w, 1].
  const stats = tf.tidy(() => {
    const my = box(y);
    return { my: my.expandDims(0), my2: my.square().expandDims(0), vy: box(y.square()).sub(my.square()).expandDims(0) };
  });
  const x = greyTensor(tf, synthetic); // [S, h, w, 1]
  try {
    for (let start = 0; start < synthetic.count; start += batch) {
      const size = Math.min(batch, synthetic.count - start);
      const best = tf.tidy(() => {
        const xb = x.slice([start, 0, 0, 0], [size, h, w, 1]);
        const mx = box(xb); // [B, h, w, 1]
        const vx = box(xb.square()).sub(mx.square());
        // E[xy] for every pair: [B, R, h, w, 1], pooled as [B·R, h, w, 1].
        const products = xb.expandDims(1).mul(y.expandDims(0)).reshape([size * real.count, h, w, 1]) as Tensor4D;
        const xy = box(products).reshape([size, real.count, h, w, 1]);
        // Pair-sized work kept to the few ops SSIM needs: (2μxμy + C1)(2(E[xy] − μxμy) + C2) /
        // ((μx² + C1 + μy²)(σx² + C2 + σy²)), the per-image terms summed before they broadcast.
        const mxy = mx.expandDims(1).mul(stats.my);
        const numerator = mxy.mul(2).add(C1).mul(xy.sub(mxy).mul(2).add(C2));
        const denominator = mx.square().add(C1).expandDims(1).add(stats.my2).mul(vx.add(C2).expandDims(1).add(stats.vy));
        return numerator.div(denominator).mean([2, 3, 4]).max(1); // [B]
      });
      values.push(...best.dataSync());
      best.dispose();
    }
  } finally {
    tf.dispose([x, y, stats.my, stats.my2, stats.vy]);
  }
  return { mean: values.reduce((a, b) => a + b, 0) / values.length, max: Math.max(...values), values };
}

/** Flat pixel indices of a `patch` × `patch` window at each corner, row by row: [corners · patch²]. */
function patchIndices(size: number, patch: number, corners: [number, number][]): Int32Array {
  const out = new Int32Array(corners.length * patch * patch);
  let k = 0;
  for (const [y0, x0] of corners) for (let y = 0; y < patch; y++) for (let x = 0; x < patch; x++) out[k++] = (y0 + y) * size + x0 + x;
  return out;
}

/**
 * Sliced Wasserstein distance between the 7 × 7 patch statistics of two image sets at several
 * scales: the reference's `slicedWasserstein`, with the same draws, on tensors.
 */
export function slicedWassersteinTensors(tf: TF, a: Images, b: Images, options: SlicedWassersteinOptions = {}): { mean: number; levels: number[] } {
  if (a.height !== b.height || a.width !== b.width || a.height !== a.width) throw new Error('sliced Wasserstein needs square images of one size');
  const patch = options.patch ?? 7;
  const perImage = options.patchesPerImage ?? 64;
  const directions = options.projections ?? 128;
  const random = seededRandom(options.seed ?? 1);
  const maxLevels = options.levels ?? 2;
  const d = patch * patch;
  // The same number of images from each side, so sorted values pair up one to one.
  const count = Math.min(a.count, b.count);
  let size = a.height;
  let greyA = tf.tidy(() => greyTensor(tf, a).slice(0, count));
  let greyB = tf.tidy(() => greyTensor(tf, b).slice(0, count));
  const levels: number[] = [];
  try {
    for (let level = 0; level < maxLevels && size >= patch; level++) {
      const draws = patchDraws(random, size, patch, perImage, directions);
      const dirs = new Float32Array(d * directions); // [d, K], column k is direction k
      draws.directions.forEach((dir, k) => dir.forEach((v, j) => (dirs[j * directions + k] = v)));
      const s = size;
      const n = count * perImage;
      // [K, 2n]: row k the projections of a's patches on direction k, then b's — read as 2K rows
      // of n, a's and b's alternating.
      const projected = tf.tidy(() => {
        const index = tf.tensor1d(patchIndices(s, patch, draws.corners), 'int32');
        // [2n, d]: a's patches then b's, each image-major, then corner, as the reference lists them.
        const patches = tf.gather(tf.concat([greyA, greyB], 0).reshape([2 * count, s * s]), index, 1).reshape([2 * n, d]) as Tensor2D;
        // Normalised together: mean and standard deviation of each patch pixel over both sets,
        // folded into the directions: ((p − μ) / σ) · u = p · (u / σ) − (μ / σ) · u.
        const { mean, variance } = tf.moments(patches, 0);
        const std = variance.maximum(1e-12).sqrt();
        const scaled = tf.tensor2d(dirs, [d, directions]).div(std.reshape([d, 1])); // [d, K]
        const offset = mean.reshape([1, d]).matMul(scaled).reshape([directions, 1]); // [K, 1]
        return scaled.matMul(patches, true, true).sub(offset);
      });
      const values = sortRowsInParallel(projected.dataSync() as Float32Array, 2 * directions, n);
      projected.dispose();
      // The 1-D Wasserstein distance of each direction is the mean gap of equal ranks.
      let gap = 0;
      for (let k = 0; k < directions; k++) {
        const rowA = 2 * k * n;
        for (let i = 0; i < n; i++) gap += Math.abs(values[rowA + i] - values[rowA + n + i]);
      }
      levels.push((gap / (directions * n)) * 1000);
      if (size % 2 !== 0) break;
      const [nextA, nextB] = tf.tidy(() => [tf.avgPool(greyA, 2, 2, 'valid'), tf.avgPool(greyB, 2, 2, 'valid')] as Tensor4D[]);
      tf.dispose([greyA, greyB]);
      [greyA, greyB] = [nextA, nextB];
      size /= 2;
    }
  } finally {
    tf.dispose([greyA, greyB]);
  }
  return { mean: levels.reduce((sum, v) => sum + v, 0) / levels.length, levels };
}
