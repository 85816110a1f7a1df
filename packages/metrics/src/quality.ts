/**
 * Generative quality, per class, synthetic against real (pure TypeScript, float64). Sweeps run
 * SSIM and the patch distance on TensorFlow (core's quality-tensors.ts, ~5× faster); these are
 * the reference that implementation is tested against, and the definitions.
 *
 * - SSIM to the nearest real image: are synthetic images close to some real image (realism), and
 *   how close (memorisation shows as values near 1)?
 * - Diversity: mean pairwise L2 distance within a set, against the real set's own.
 * - Fréchet distance between Gaussian fits of feature vectors — computed here on features of a
 *   classifier trained on real data only. It is *not* FID: there are no Inception weights, and
 *   ImageNet features are a poor fit for MRI anyway.
 */
import { seededRandom } from './stats.js';

/** Images as flat arrays of h × w × c values in [-1, 1]. */
export interface Images {
  data: Float32Array;
  count: number;
  height: number;
  width: number;
  channels: number;
}

function grey(img: Images, i: number): Float32Array {
  const n = img.height * img.width;
  const out = new Float32Array(n);
  const base = i * n * img.channels;
  for (let p = 0; p < n; p++) {
    let s = 0;
    for (let c = 0; c < img.channels; c++) s += img.data[base + p * img.channels + c];
    // [-1, 1] → [0, 1]
    out[p] = (s / img.channels + 1) / 2;
  }
  return out;
}

/** Per-pixel local means, variances over a (2r+1)² box window, via summed-area tables. */
function boxStats(x: Float32Array, y: Float32Array, w: number, h: number, r: number) {
  const W = w + 1;
  const tables = [new Float64Array(W * (h + 1)), new Float64Array(W * (h + 1)), new Float64Array(W * (h + 1)), new Float64Array(W * (h + 1)), new Float64Array(W * (h + 1))];
  for (let j = 0; j < h; j++) {
    for (let i = 0; i < w; i++) {
      const a = x[j * w + i];
      const b = y[j * w + i];
      const v = [a, b, a * a, b * b, a * b];
      for (let t = 0; t < 5; t++) tables[t][(j + 1) * W + i + 1] = v[t] + tables[t][j * W + i + 1] + tables[t][(j + 1) * W + i] - tables[t][j * W + i];
    }
  }
  return (i: number, j: number) => {
    const x0 = Math.max(0, i - r);
    const y0 = Math.max(0, j - r);
    const x1 = Math.min(w, i + r + 1);
    const y1 = Math.min(h, j + r + 1);
    const n = (x1 - x0) * (y1 - y0);
    return tables.map((t) => (t[y1 * W + x1] - t[y0 * W + x1] - t[y1 * W + x0] + t[y0 * W + x0]) / n);
  };
}

/**
 * Structural similarity of two grey images in [0, 1] (Wang et al. 2004 constants, a 7×7 box
 * window, mean over pixels).
 */
export function ssim(x: Float32Array, y: Float32Array, width: number, height: number, radius = 3): number {
  const C1 = 0.01 ** 2;
  const C2 = 0.03 ** 2;
  const stats = boxStats(x, y, width, height, radius);
  let total = 0;
  for (let j = 0; j < height; j++) {
    for (let i = 0; i < width; i++) {
      const [mx, my, xx, yy, xy] = stats(i, j);
      const vx = xx - mx * mx;
      const vy = yy - my * my;
      const cov = xy - mx * my;
      total += ((2 * mx * my + C1) * (2 * cov + C2)) / ((mx * mx + my * my + C1) * (vx + vy + C2));
    }
  }
  return total / (width * height);
}

/** For each synthetic image, the SSIM of the most similar real image; mean and max over them. */
export function nearestRealSsim(synthetic: Images, real: Images): { mean: number; max: number; values: number[] } {
  const reals = Array.from({ length: real.count }, (_, i) => grey(real, i));
  const values = Array.from({ length: synthetic.count }, (_, s) => {
    const g = grey(synthetic, s);
    let best = -Infinity;
    for (const r of reals) best = Math.max(best, ssim(g, r, real.width, real.height));
    return best;
  });
  return { mean: values.reduce((a, b) => a + b, 0) / Math.max(1, values.length), max: Math.max(...values), values };
}

/** Mean pairwise L2 distance between images (per-image vectors of h·w·c values). */
export function meanPairwiseDistance(img: Images): number {
  const size = img.height * img.width * img.channels;
  let total = 0;
  let pairs = 0;
  for (let a = 0; a < img.count; a++) {
    for (let b = a + 1; b < img.count; b++) {
      let d = 0;
      for (let p = 0; p < size; p++) {
        const diff = img.data[a * size + p] - img.data[b * size + p];
        d += diff * diff;
      }
      total += Math.sqrt(d);
      pairs++;
    }
  }
  return pairs ? total / pairs : NaN;
}

// --- Fréchet distance ---------------------------------------------------------------------------

function meanAndCovariance(x: ArrayLike<number>, n: number, d: number): { mean: Float64Array; cov: Float64Array } {
  const mean = new Float64Array(d);
  for (let i = 0; i < n; i++) for (let k = 0; k < d; k++) mean[k] += x[i * d + k] / n;
  const cov = new Float64Array(d * d);
  for (let i = 0; i < n; i++) {
    for (let a = 0; a < d; a++) {
      const da = x[i * d + a] - mean[a];
      for (let b = a; b < d; b++) cov[a * d + b] += (da * (x[i * d + b] - mean[b])) / (n - 1);
    }
  }
  for (let a = 0; a < d; a++) for (let b = 0; b < a; b++) cov[a * d + b] = cov[b * d + a];
  return { mean, cov };
}

/** Eigen-decomposition of a symmetric matrix by cyclic Jacobi rotations. */
export function symmetricEigen(m: Float64Array, d: number): { values: Float64Array; vectors: Float64Array } {
  const a = Float64Array.from(m);
  const v = new Float64Array(d * d);
  for (let i = 0; i < d; i++) v[i * d + i] = 1;
  for (let sweep = 0; sweep < 100; sweep++) {
    let off = 0;
    for (let p = 0; p < d; p++) for (let q = p + 1; q < d; q++) off += a[p * d + q] ** 2;
    if (off < 1e-22) break;
    for (let p = 0; p < d; p++) {
      for (let q = p + 1; q < d; q++) {
        const apq = a[p * d + q];
        if (Math.abs(apq) < 1e-300) continue;
        const theta = (a[q * d + q] - a[p * d + p]) / (2 * apq);
        const t = Math.sign(theta || 1) / (Math.abs(theta) + Math.sqrt(theta * theta + 1));
        const c = 1 / Math.sqrt(t * t + 1);
        const s = t * c;
        for (let k = 0; k < d; k++) {
          const akp = a[k * d + p];
          const akq = a[k * d + q];
          a[k * d + p] = c * akp - s * akq;
          a[k * d + q] = s * akp + c * akq;
        }
        for (let k = 0; k < d; k++) {
          const apk = a[p * d + k];
          const aqk = a[q * d + k];
          a[p * d + k] = c * apk - s * aqk;
          a[q * d + k] = s * apk + c * aqk;
        }
        for (let k = 0; k < d; k++) {
          const vkp = v[k * d + p];
          const vkq = v[k * d + q];
          v[k * d + p] = c * vkp - s * vkq;
          v[k * d + q] = s * vkp + c * vkq;
        }
      }
    }
  }
  const values = new Float64Array(d);
  for (let i = 0; i < d; i++) values[i] = a[i * d + i];
  return { values, vectors: v };
}

/** Symmetric PSD square root (negative eigenvalues from round-off clamp to 0). */
function sqrtPsd(m: Float64Array, d: number): Float64Array {
  const { values, vectors } = symmetricEigen(m, d);
  const out = new Float64Array(d * d);
  for (let k = 0; k < d; k++) {
    const s = Math.sqrt(Math.max(0, values[k]));
    for (let i = 0; i < d; i++) for (let j = 0; j < d; j++) out[i * d + j] += vectors[i * d + k] * s * vectors[j * d + k];
  }
  return out;
}

function matMul(a: Float64Array, b: Float64Array, d: number): Float64Array {
  const out = new Float64Array(d * d);
  for (let i = 0; i < d; i++) for (let k = 0; k < d; k++) {
    const aik = a[i * d + k];
    if (aik === 0) continue;
    for (let j = 0; j < d; j++) out[i * d + j] += aik * b[k * d + j];
  }
  return out;
}

/**
 * Fréchet distance between Gaussians fitted to two feature sets (rows of `d` values):
 * ‖μ₁ − μ₂‖² + Tr(Σ₁ + Σ₂ − 2 (Σ₁^½ Σ₂ Σ₁^½)^½). The symmetric form avoids the complex square
 * root of the non-symmetric Σ₁Σ₂.
 */
export function frechetDistance(a: ArrayLike<number>, countA: number, b: ArrayLike<number>, countB: number, d: number): number {
  if (countA < 2 || countB < 2) return NaN;
  const A = meanAndCovariance(a, countA, d);
  const B = meanAndCovariance(b, countB, d);
  let meanTerm = 0;
  for (let k = 0; k < d; k++) meanTerm += (A.mean[k] - B.mean[k]) ** 2;
  const rootA = sqrtPsd(A.cov, d);
  const middle = sqrtPsd(matMul(matMul(rootA, B.cov, d), rootA, d), d);
  let trace = 0;
  for (let k = 0; k < d; k++) trace += A.cov[k * d + k] + B.cov[k * d + k] - 2 * middle[k * d + k];
  return meanTerm + trace;
}


/** Grey images halved by 2 × 2 averaging (one pyramid level down). */
function halve(images: Float32Array[], size: number): Float32Array[] {
  const h = size / 2;
  return images.map((img) => {
    const out = new Float32Array(h * h);
    for (let y = 0; y < h; y++) for (let x = 0; x < h; x++) out[y * h + x] = (img[2 * y * size + 2 * x] + img[2 * y * size + 2 * x + 1] + img[(2 * y + 1) * size + 2 * x] + img[(2 * y + 1) * size + 2 * x + 1]) / 4;
    return out;
  });
}

/** `patch` × `patch` descriptors of each image at the given corners. */
function patches(images: Float32Array[], size: number, patch: number, corners: [number, number][]): Float32Array[] {
  const out: Float32Array[] = [];
  for (const img of images) {
    for (const [y0, x0] of corners) {
      const d = new Float32Array(patch * patch);
      for (let y = 0; y < patch; y++) for (let x = 0; x < patch; x++) d[y * patch + x] = img[(y0 + y) * size + x0 + x];
      out.push(d);
    }
  }
  return out;
}

/**
 * One pyramid level's random draws for the patch distance: `perImage` patch corners (the same in
 * both sets, so identical sets are at distance 0), then `directions` unit vectors of `patch²`
 * Gaussian components (Box–Muller), in that order from `random`. Every implementation of the
 * distance (this one, core's on tensors) draws through here, so they agree draw for draw.
 */
export function patchDraws(random: () => number, size: number, patch: number, perImage: number, directions: number): { corners: [number, number][]; directions: Float64Array[] } {
  const corners = Array.from({ length: perImage }, (): [number, number] => [Math.floor(random() * (size - patch + 1)), Math.floor(random() * (size - patch + 1))]);
  const d = patch * patch;
  const units = Array.from({ length: directions }, () => {
    const dir = new Float64Array(d);
    let norm = 0;
    for (let j = 0; j < d; j++) {
      dir[j] = Math.sqrt(-2 * Math.log(1 - random())) * Math.cos(2 * Math.PI * random());
      norm += dir[j] * dir[j];
    }
    norm = Math.sqrt(norm);
    return dir.map((v) => v / norm);
  });
  return { corners, directions: units };
}

export interface SlicedWassersteinOptions {
  /** Patch side in pixels (default 7, as in Karras et al.). */
  patch?: number;
  /** Patches drawn from each image (default 64). */
  patchesPerImage?: number;
  /** Random projection directions (default 128). */
  projections?: number;
  /** Pyramid levels: full resolution, then halved (default 2, fewer for tiny images). */
  levels?: number;
  seed?: number;
}

/**
 * Sliced Wasserstein distance between the local patch statistics of two image sets, at several
 * scales (after Karras et al., "Progressive growing of GANs", 2018). It needs no learned
 * features, so it does not share our classifier's blind spots: checkerboard artefacts, noise and
 * wrong contrast show up directly. Each level: random 7 × 7 grey patches from both sets,
 * normalised together (mean and std per patch pixel), projected on random unit directions; the
 * 1-D Wasserstein distance of each projection is the mean gap of the sorted values. Returns the
 * mean over levels (× 1000, as usually reported) and each level's value. 0 for identical sets.
 */
export function slicedWasserstein(a: Images, b: Images, options: SlicedWassersteinOptions = {}): { mean: number; levels: number[] } {
  if (a.height !== b.height || a.width !== b.width || a.height !== a.width) throw new Error('sliced Wasserstein needs square images of one size');
  const patch = options.patch ?? 7;
  const perImage = options.patchesPerImage ?? 64;
  const directions = options.projections ?? 128;
  const random = seededRandom(options.seed ?? 1);
  let size = a.height;
  let greyA = Array.from({ length: a.count }, (_, i) => grey(a, i));
  let greyB = Array.from({ length: b.count }, (_, i) => grey(b, i));
  const levels: number[] = [];
  const maxLevels = options.levels ?? 2;
  for (let level = 0; level < maxLevels && size >= patch; level++) {
    // The same number of descriptors from each side, so sorted values pair up one to one.
    const count = Math.min(greyA.length, greyB.length);
    const draws = patchDraws(random, size, patch, perImage, directions);
    const pa = patches(greyA.slice(0, count), size, patch, draws.corners);
    const pb = patches(greyB.slice(0, count), size, patch, draws.corners);
    const d = patch * patch;
    const mean = new Float64Array(d);
    const sq = new Float64Array(d);
    for (const p of [...pa, ...pb]) for (let j = 0; j < d; j++) {
      mean[j] += p[j];
      sq[j] += p[j] * p[j];
    }
    const n = pa.length + pb.length;
    const std = new Float64Array(d);
    for (let j = 0; j < d; j++) {
      mean[j] /= n;
      std[j] = Math.sqrt(Math.max(sq[j] / n - mean[j] * mean[j], 1e-12));
    }
    let total = 0;
    const projA = new Float64Array(pa.length);
    const projB = new Float64Array(pb.length);
    for (const dir of draws.directions) {
      const project = (p: Float32Array) => {
        let s = 0;
        for (let j = 0; j < d; j++) s += ((p[j] - mean[j]) / std[j]) * dir[j];
        return s;
      };
      pa.forEach((p, i) => (projA[i] = project(p)));
      pb.forEach((p, i) => (projB[i] = project(p)));
      projA.sort();
      projB.sort();
      let gap = 0;
      for (let i = 0; i < projA.length; i++) gap += Math.abs(projA[i] - projB[i]);
      total += gap / projA.length;
    }
    levels.push((total / directions) * 1000);
    if (size % 2 !== 0) break;
    greyA = halve(greyA, size);
    greyB = halve(greyB, size);
    size /= 2;
  }
  return { mean: levels.reduce((s, v) => s + v, 0) / levels.length, levels };
}
