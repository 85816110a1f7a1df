/**
 * A cell: its training and validation sets composed from real (and synthetic) images as its place
 * in the design says, the classifier fitted and evaluated on the fixed real test set, its files.
 */
import fs from 'node:fs';
import { concat, sealFolder, writeFileAtomic, writeJsonAtomic, heatmapOverlayPng, createRng, deriveSeed, indicesByClass, shuffled, subset, type ImageSet } from '@synthmix/data';
import { formatPredictionsCsv, taskMetrics } from '@synthmix/metrics';
import type { CellMetrics, CellResult, SweepEventInput } from './events.js';
import { sweepLayout } from './layout.js';
import type { CellPlan, ResolvedPlan } from './manifest.js';
import type { AnyClassifier } from './plugins.js';
import { JobInterrupted } from './errors.js';
import type { MakeContext, SweepData } from './jobs.js';
import { nestedRealSubset } from './generator-cache.js';
import { frechetInClassifierSpace } from './quality-checks.js';
import { extremeCells, isBaselineCell, sizePerClass } from './design.js';

/** Real test images of the positive class shown with Grad-CAM heatmaps. */
const GRADCAM_IMAGES = 8;

/**
 * Class-balanced training and validation sets for one cell, deterministic from its seed and its
 * place in the design. Augment: the size's nested real images (validation first), the synthetic
 * images (a fixed prefix of the pool's order, so 1× is inside 2×) added to the training split only.
 * Replace with a size's own generator: real images from the size's nested set, mixed and split as
 * in the single-size design, which draws from the whole pool (unchanged, so its results are too).
 */
export function sampleCell(cell: CellPlan, realPool: ImageSet, synthetic: ImageSet | undefined): { train: ImageSet; val: ImageSet } {
  if (cell.mode === 'augment') return sampleAugmentCell(cell, realPool, synthetic);
  if (cell.generator) {
    const size = nestedRealSubset(realPool, cell.seed, sizePerClass(cell));
    return sampleReplaceCell(cell, subset(realPool, size.train), synthetic, createRng(deriveSeed(cell.seed, 'cell', cell.ratio, cell.trainingSetSize ?? 0)), true);
  }
  return sampleReplaceCell(cell, realPool, synthetic, createRng(deriveSeed(cell.seed, 'cell', cell.ratio)), false);
}

function sampleAugmentCell(cell: CellPlan, realPool: ImageSet, synthetic: ImageSet | undefined): { train: ImageSet; val: ImageSet } {
  const { train: realTrain, val } = nestedRealSubset(realPool, cell.seed, cell.realPerClass, cell.valPerClass);
  const parts = [subset(realPool, realTrain)];
  if (cell.syntheticPerClass > 0) {
    if (!synthetic) throw new Error(`cell ${cell.id} needs ${cell.syntheticPerClass} synthetic images per class and got none`);
    const order = createRng(deriveSeed(cell.seed, 'synthetic-order', cell.trainingSetSize ?? 0));
    const picked = indicesByClass(synthetic).flatMap((indices, c) => {
      if (indices.length < cell.syntheticPerClass) throw new Error(`class "${synthetic.classNames[c]}" has ${indices.length} synthetic images; cell ${cell.id} needs ${cell.syntheticPerClass}`);
      return shuffled(indices, order).slice(0, cell.syntheticPerClass);
    });
    parts.push(subset(synthetic, picked));
  }
  const all = parts.reduce((a, b) => concat(a, b));
  const random = createRng(deriveSeed(cell.seed, 'cell-order', cell.trainingSetSize ?? 0, cell.syntheticPerReal ?? 0));
  return { train: subset(all, shuffled(Array.from({ length: all.count }, (_, i) => i), random)), val: subset(realPool, val) };
}

function sampleReplaceCell(cell: CellPlan, realPool: ImageSet, synthetic: ImageSet | undefined, random: () => number, nested: boolean): { train: ImageSet; val: ImageSet } {
  const realByClass = indicesByClass(realPool);
  const synthByClass = synthetic ? indicesByClass(synthetic) : [];
  const trainParts: ImageSet[] = [];
  const valParts: ImageSet[] = [];
  realPool.classNames.forEach((name, c) => {
    if (realByClass[c].length < cell.realPerClass) throw new Error(`class "${name}" has ${realByClass[c].length} real training images; cell ${cell.id} needs ${cell.realPerClass}`);
    if (cell.syntheticPerClass > 0 && (!synthetic || synthByClass[c].length < cell.syntheticPerClass)) throw new Error(`class "${name}" has ${synthByClass[c]?.length ?? 0} synthetic images; cell ${cell.id} needs ${cell.syntheticPerClass}`);
    // Nested: the size's real images in their fixed order, so 90:10 keeps a prefix of 100:0's.
    const real = subset(realPool, (nested ? realByClass[c] : shuffled(realByClass[c], random)).slice(0, cell.realPerClass));
    const synth = cell.syntheticPerClass > 0 ? subset(synthetic!, shuffled(synthByClass[c], random).slice(0, cell.syntheticPerClass)) : undefined;
    const mixed = synth ? concat(real, synth) : real;
    const order = shuffled(Array.from({ length: mixed.count }, (_, i) => i), random);
    valParts.push(subset(mixed, order.slice(0, cell.valPerClass)));
    trainParts.push(subset(mixed, order.slice(cell.valPerClass)));
  });
  const join = (parts: ImageSet[]) => {
    const all = parts.reduce((a, b) => concat(a, b));
    return subset(all, shuffled(Array.from({ length: all.count }, (_, i) => i), random));
  };
  return { train: join(trainParts), val: join(valParts) };
}

export async function runCell(plan: ResolvedPlan, cell: CellPlan, classifier: AnyClassifier, sweep: SweepData, synthetic: ImageSet | undefined, makeContext: MakeContext, emit: (e: SweepEventInput) => void, resamples: number): Promise<CellResult> {
  const { realPool, testSet } = sweep;
  const layout = sweepLayout(plan.outputDir);
  const started = Date.now();
  const cellDir = layout.cellDir(cell.id);
  fs.rmSync(cellDir, { recursive: true, force: true });
  fs.mkdirSync(cellDir, { recursive: true });
  const { train, val } = sampleCell(cell, realPool, synthetic);
  let bestVal: number | undefined;
  const ctx = makeContext({ kind: 'cell', cellId: cell.id }, cell.seed, cellDir, (progress) => {
    const v = progress.metrics?.val_accuracy;
    if (v !== undefined) bestVal = Math.max(bestVal ?? 0, v);
    emit({ type: 'cell:progress', cellId: cell.id, progress });
  });
  const model = await classifier.fit(train, val, plan.classifier.options, ctx);
  try {
    if (ctx.signal.aborted) throw new JobInterrupted();
    const probabilities = await model.predict(testSet);
    // Binary tasks against the named positive class; more classes as macro averages (and per class).
    const { task, metrics, confusion } = taskMetrics(testSet.labels, probabilities, testSet.classNames, plan.dataset.positiveClass, { resamples, seed: deriveSeed(cell.seed, 'bootstrap', cell.ratio) });
    const predictionsFile = layout.predictions(cell.id);
    writeFileAtomic(predictionsFile, formatPredictionsCsv({ ids: Array.from({ length: testSet.count }, (_, i) => String(testSet.ids?.[i] ?? i)), classes: testSet.classNames, labels: testSet.labels, probabilities }));
    // Where the 100:0 and the most synthetic classifier look, on the same real test images.
    if (model.explain && extremeCells(plan.cells, plan.seeds[0]).some((c) => c.id === cell.id)) {
      const positive = plan.dataset.positiveClass;
      const picked = Array.from(testSet.labels).flatMap((l, i) => (l === positive ? [i] : [])).slice(0, GRADCAM_IMAGES);
      const shown = subset(testSet, picked);
      const maps = await model.explain(shown, positive);
      const file = layout.cellGradCam(cell.id);
      writeFileAtomic(file, await heatmapOverlayPng(shown, maps, shown.count));
      emit({ type: 'artifact', scope: { kind: 'cell', cellId: cell.id }, path: file, description: `Grad-CAM for "${testSet.classNames[positive]}" on ${shown.count} real test images` });
    }
    // The 100:0 classifier never saw synthetic data: its features judge the generator. Kept in
    // the cell's result, so the sweep's quality file gets it back on resume too.
    const frechet = isBaselineCell(cell) && synthetic && model.embed ? await frechetInClassifierSpace(model, testSet, synthetic, { kind: 'generator', seed: cell.seed, ...(cell.generator ? { generator: cell.generator } : {}) }, emit) : undefined;
    const modelDir = model.save ? await model.save(layout.cellModel(cell.id)) : undefined;
    // The saved model's files are sealed in the result, so a later reload can tell a damaged one.
    const result: CellResult = { cell, task, metrics: metrics as CellMetrics, confusion, valAccuracy: bestVal, durationMs: Date.now() - started, files: { predictions: predictionsFile, ...(modelDir ? { model: modelDir } : {}) }, ...(modelDir ? { modelSeals: sealFolder(modelDir) } : {}), ...(frechet ? { frechetRealClassifier: Object.fromEntries(Object.entries(frechet).map(([n, q]) => [n, q.frechet])), prdcRealClassifier: Object.fromEntries(Object.entries(frechet).flatMap(([n, q]) => (q.prdc ? [[n, q.prdc]] : []))) } : {}) };
    for (const [name, value] of Object.entries(metrics)) emit({ type: 'metric', scope: { kind: 'cell', cellId: cell.id }, name: `test_${name}`, value, step: 0 });
    emit({ type: 'artifact', scope: { kind: 'cell', cellId: cell.id }, path: predictionsFile, description: 'test-set predictions' });
    // Written last: its presence is what marks the cell complete for resume.
    writeJsonAtomic(layout.cellResult(cell.id), result, 2);
    return result;
  } finally {
    model.dispose();
  }
}
