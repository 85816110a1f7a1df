/**
 * How close a generator's images are to the real ones: SSIM to the nearest real image,
 * diversity, the patch sliced Wasserstein distance against the real-to-real floor, the Fréchet
 * distance in the real-only classifier's features; the verdict that warns, and its file.
 */
import fs from 'node:fs';
import { readJsonFile, createRng, deriveSeed, indicesByClass, shuffled, subset, type ImageSet } from '@synthmix/data';
import { frechetDistance, meanPairwiseDistance, precisionRecallDensityCoverage, type Prdc } from '@synthmix/metrics';
import type { TF } from './contract.js';
import type { Scope, SweepEventInput } from './events.js';
import { sweepLayout } from './layout.js';
import { nearestRealSsimTensors, slicedWassersteinTensors } from './quality-tensors.js';

/**
 * Images a side for the patch sliced Wasserstein distance (synthetic, real, second real), and the
 * side the warning threshold was calibrated at. Fewer images make both distances noisier and
 * pull their ratio towards 1 (a brain-like DCGAN read 1.3 at 256 a side, 0.7–0.9 at 32), so a
 * smaller side is recorded and said next to the verdict.
 */
export const SWD_SAMPLE = 256;
/**
 * The version of the measures in {@link classQuality}: part of every cached measurement, so a
 * change to a measure, its sample sizes or its draws measures cached pools again.
 */
export const QUALITY_MEASURES_VERSION = 1;

/** Draws averaged for the patch distance and its floor. */
const SWD_DRAWS = 4;

/** How many images per class the quality measures compare (SSIM to nearest is quadratic). */
const QUALITY_SAMPLE = { synthetic: 48, real: 192 };

export interface ClassQuality {
  ssimNearestMean: number;
  ssimNearestMax: number;
  diversity: number;
  realDiversity: number;
  /** Sliced Wasserstein distance of 7 × 7 patch statistics (× 1000), real against synthetic. */
  slicedWasserstein?: number;
  /** The same between two disjoint real samples of the class: what a perfect generator would reach. */
  slicedWassersteinRealFloor?: number;
  /** slicedWasserstein / slicedWassersteinRealFloor: 1 is as close as real images are to each other. */
  slicedWassersteinRatio?: number;
  /** Images a side both distances were measured on (at most {@link SWD_SAMPLE}; fewer when the class has fewer). */
  slicedWassersteinSample?: number;
  frechetRealClassifier?: number;
  /** Precision, recall, density and coverage (k = 5) in the real-only classifier's features. */
  prdcRealClassifier?: Prdc;
}

/**
 * How far synthetic patch statistics may be from real ones, as a multiple of the distance
 * between two real samples, before a sweep warns that its curve is built on images unlike the
 * real ones. Chosen from measured generators on BR35H (docs/results/quality-calibration.md).
 */
export const SWD_RATIO_WARNING = 2.75;

/** Whether a class's patch distance was measured on fewer images than the threshold's calibration. */
export function measuredOnFewerThanCalibrated(q: ClassQuality): boolean {
  return q.slicedWassersteinSample !== undefined && q.slicedWassersteinSample < SWD_SAMPLE;
}

/** Which classes' synthetic images are far from the real ones, and the warning that says so. */
/** What a sweep says of a generator's images: the classes past the threshold, and why the check may be weaker. */
export interface QualityVerdict {
  far: string[];
  threshold: number;
  message?: string;
  note?: string;
}

/**
 * A sweep's quality file for one seed (and snapshot epoch), as the generator job writes it. A
 * measure that came out NaN reads null (JSON has no NaN).
 */
export interface SeedQuality {
  seed: number;
  epoch?: number;
  /** The training-set size whose own generator this measures (absent: the seed's generator on the whole pool). */
  trainingSetSize?: number;
  perClass: Record<string, ClassQuality>;
  verdict?: QualityVerdict;
}

/** The quality file of `seed` (and snapshot `epoch`) in a sweep folder; undefined when it was not measured. */
export function readSeedQuality(outputDir: string, seed: number, epoch?: number, trainingSetSize?: number): SeedQuality | undefined {
  const file = sweepLayout(outputDir).quality(seed, epoch, trainingSetSize);
  return fs.existsSync(file) ? readJsonFile<SeedQuality>(file) : undefined;
}

export function qualityVerdict(perClass: Record<string, ClassQuality>): QualityVerdict {
  const far = Object.entries(perClass).filter(([, q]) => (q.slicedWassersteinRatio ?? NaN) > SWD_RATIO_WARNING).map(([name]) => name);
  const small = Object.entries(perClass).filter(([, q]) => measuredOnFewerThanCalibrated(q));
  const note = small.length
    ? `weaker quality check: patch distance on ${small.map(([c, q]) => `${c} ${q.slicedWassersteinSample}`).join(', ')} images a side, fewer than the ${SWD_SAMPLE} its threshold was calibrated on (small samples read closer to 1; docs/results/quality-calibration.md)`
    : undefined;
  if (!far.length) return { far, threshold: SWD_RATIO_WARNING, ...(note ? { note } : {}) };
  const detail = far.map((c) => `${c} ${perClass[c].slicedWassersteinRatio!.toFixed(1)}×`).join(', ');
  return { far, threshold: SWD_RATIO_WARNING, ...(note ? { note } : {}), message: `SYNTHETIC IMAGES FAR FROM REAL ONES (${detail} the real-to-real patch distance; warning above ${SWD_RATIO_WARNING}×): ratios with synthetic data measure training on these images, not on realistic ones; look at the sample grids` };
}

/**
 * The quality measures of one class's synthetic images against that class's real pool: SSIM to
 * the nearest real image, diversity, and the patch sliced Wasserstein distance with its
 * real-to-real floor. Deterministic for `seed`; also used by `synthmix quality` on images made
 * elsewhere (the PyTorch reference). SSIM and the patch distance run on TensorFlow
 * (quality-tensors.ts); diversity is a few million operations and stays in JavaScript.
 */
export function classQuality(tf: TF, synthetic: ImageSet, real: ImageSet, seed: number, name: string): ClassQuality {
  const random = createRng(deriveSeed(seed, 'quality', name));
  const asImages = (set: ImageSet) => ({ data: set.images, count: set.count, height: set.height, width: set.width, channels: set.channels });
  const s = subset(synthetic, shuffled(Array.from({ length: synthetic.count }, (_, i) => i), random).slice(0, QUALITY_SAMPLE.synthetic));
  const r = subset(real, shuffled(Array.from({ length: real.count }, (_, i) => i), random).slice(0, QUALITY_SAMPLE.real));
  const nearest = nearestRealSsimTensors(tf, asImages(s), asImages(r));
  const realSample = subset(r, Array.from({ length: Math.min(r.count, QUALITY_SAMPLE.synthetic) }, (_, i) => i));
  // Patch statistics need no learned features: an honest second opinion beside the classifier's.
  // Its scale depends on the data, so it is also given against the distance between two
  // disjoint real samples of the same class (the floor a perfect generator would reach). Large
  // samples (up to 256 a side): with 48 images the floor alone varied by half between draws.
  const swdOk = synthetic.height >= 16 && synthetic.height === synthetic.width;
  // Both distances are averaged over a few draws of images and patches: one draw's ratio varied
  // threefold (docs/results/quality-calibration.md).
  const side = Math.min(SWD_SAMPLE, Math.floor(real.count / 2), synthetic.count);
  let swd = NaN;
  let swdReal = NaN;
  if (swdOk && side >= 8) {
    swd = 0;
    swdReal = 0;
    for (let draw = 0; draw < SWD_DRAWS; draw++) {
      const realOrder = shuffled(Array.from({ length: real.count }, (_, i) => i), random);
      const realA = subset(real, realOrder.slice(0, side));
      const realB = subset(real, realOrder.slice(side, 2 * side));
      const synth = subset(synthetic, shuffled(Array.from({ length: synthetic.count }, (_, i) => i), random).slice(0, side));
      const options = { seed: deriveSeed(seed, 'swd', name, draw) };
      swd += slicedWassersteinTensors(tf, asImages(realA), asImages(synth), options).mean / SWD_DRAWS;
      swdReal += slicedWassersteinTensors(tf, asImages(realA), asImages(realB), options).mean / SWD_DRAWS;
    }
  }
  return { ssimNearestMean: nearest.mean, ssimNearestMax: nearest.max, diversity: meanPairwiseDistance(asImages(s)), realDiversity: meanPairwiseDistance(asImages(realSample)), slicedWasserstein: swd, slicedWassersteinRealFloor: swdReal, slicedWassersteinRatio: swd / swdReal, ...(Number.isNaN(swd) ? {} : { slicedWassersteinSample: side }) };
}

/** Where a pool's measures are kept between runs (generator-cache.ts keeps them beside the pool). */
export interface QualityCache {
  /** The measures of this pool by these measures' version, or undefined when they were not kept. */
  read(): Record<string, ClassQuality> | undefined;
  write(perClass: Record<string, ClassQuality>): void;
}

/**
 * The quality measures per class, synthetic against real, as metric events of the generator;
 * read from `cache` when it has them (a rerun on a cached generator), else measured and kept there.
 */
export async function syntheticQuality(tf: TF, synthetic: ImageSet, realPool: ImageSet, seed: number, emit: (e: SweepEventInput) => void, scope: Scope, cache?: QualityCache): Promise<Record<string, ClassQuality>> {
  const synthBy = indicesByClass(synthetic);
  const realBy = indicesByClass(realPool);
  const progress = (step: number, label: string) => emit({ type: 'generator:progress', seed: scope.kind === 'generator' ? scope.seed : seed, ...(scope.kind === 'generator' && scope.generator ? { generator: scope.generator } : {}), progress: { step, total: synthetic.classNames.length, unit: 'class', label } });
  const emitMetrics = (name: string, q: ClassQuality) => {
    for (const [k, v] of Object.entries(q)) emit({ type: 'metric', scope, name: `quality_${name}_${k}`, value: v, step: 0 });
  };
  const kept = cache?.read();
  if (kept && synthetic.classNames.every((name) => kept[name])) {
    for (const name of synthetic.classNames) emitMetrics(name, kept[name]);
    progress(synthetic.classNames.length, 'quality read from the cache');
    return Object.fromEntries(synthetic.classNames.map((name) => [name, kept[name]]));
  }
  const out: Record<string, ClassQuality> = {};
  for (const [c, name] of synthetic.classNames.entries()) {
    // Said before each class, with a turn of the event loop, so the dashboard shows what runs.
    progress(c, `measuring ${name} against real images (SSIM, patch distance)`);
    await new Promise<void>((resolve) => setImmediate(resolve));
    const q = classQuality(tf, subset(synthetic, synthBy[c]), subset(realPool, realBy[c]), seed, name);
    out[name] = q;
    emitMetrics(name, q);
  }
  cache?.write(out);
  progress(synthetic.classNames.length, 'quality measured');
  return out;
}

/** Fréchet distance per class between real test images and synthetic ones, in a classifier's features. */
export async function frechetInFeatures(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet): Promise<Record<string, number>> {
  return Object.fromEntries(Object.entries(await inClassifierFeatures(model, testSet, synthetic)).map(([name, q]) => [name, q.frechet]));
}

/** Neighbours a sample's ball counts in precision, recall, density and coverage (k of the prdc reference code). */
const PRDC_K = 5;

/**
 * Per class, in a classifier's features: the Fréchet distance between real test images and the
 * synthetic ones, and precision, recall, density and coverage (k = 5), which tell unrealistic
 * images (low precision, density) from too little variety (low recall, coverage).
 */
export async function inClassifierFeatures(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet): Promise<Record<string, { frechet: number; prdc?: Prdc }>> {
  const real = await model.embed!(testSet);
  const fake = await model.embed!(synthetic);
  const out: Record<string, { frechet: number; prdc?: Prdc }> = {};
  testSet.classNames.forEach((name, c) => {
    const pick = (set: ImageSet, f: { features: Float32Array; dim: number }) => {
      const rows = Array.from(set.labels).flatMap((l, i) => (l === c ? [i] : []));
      const data = new Float32Array(rows.length * f.dim);
      rows.forEach((i, k) => data.set(f.features.subarray(i * f.dim, (i + 1) * f.dim), k * f.dim));
      return { data, n: rows.length };
    };
    const a = pick(testSet, real);
    const b = pick(synthetic, fake);
    if (b.n < 2) return;
    const prdc = a.n > PRDC_K && b.n > PRDC_K ? precisionRecallDensityCoverage(a.data, a.n, b.data, b.n, real.dim, PRDC_K) : undefined;
    out[name] = { frechet: frechetDistance(a.data, a.n, b.data, b.n, real.dim), ...(prdc ? { prdc } : {}) };
  });
  return out;
}

export async function frechetInClassifierSpace(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet, scope: Scope, emit: (e: SweepEventInput) => void): Promise<Record<string, { frechet: number; prdc?: Prdc }>> {
  const out = await inClassifierFeatures(model, testSet, synthetic);
  for (const [name, q] of Object.entries(out)) {
    emit({ type: 'metric', scope, name: `quality_${name}_frechet_real_classifier`, value: q.frechet, step: 0 });
    for (const [k, v] of Object.entries(q.prdc ?? {})) emit({ type: 'metric', scope, name: `quality_${name}_${k}_real_classifier`, value: v, step: 0 });
  }
  return out;
}
