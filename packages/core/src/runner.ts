/**
 * The sweep runner: resolved plan → generator (once per seed, cached) → one classifier per
 * ratio × seed cell → typed events and files in the sweep's output folder.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkClassCounts, checkImageSet, concat, createRng, deriveSeed, duplicateGroupsPng, imageGridPng, indicesByClass, loadDataset, shuffled, splitTest, subset,
  type ImageSet, type LoadedDataset,
} from '@synthmix/data';
import { binaryMetrics, bootstrapIntervals, frechetDistance, meanPairwiseDistance, multiclassMetrics, nearestRealSsim } from '@synthmix/metrics';
import { loadBackend, type LoadedBackend } from './backend.js';
import type { GeneratedSet, PluginContext, Progress } from './contract.js';
import type { CellMetrics, CellResult, Scope, SweepEvent, SweepEventInput } from './events.js';
import type { CellPlan, ResolvedPlan } from './manifest.js';
import { loadPlugin, type AnyClassifier, type AnyGenerator } from './plugins.js';
import { safeFileName } from './plugin-kit.js';

export interface RunOptions {
  /** Receives every event, in order. */
  onEvent?: (event: SweepEvent) => void;
  /** Stops the sweep after the current unit of work; finished cells stay recorded. */
  signal?: AbortSignal;
  /** Content-addressed cache for datasets, generator states and synthetic pools. */
  cacheDir: string;
  /** Skip cells whose results are already in the output folder (default true). */
  resume?: boolean;
  /** Extra plugin short names (from project config). */
  pluginAliases?: Record<string, string>;
  /** An already loaded backend (tests); default: load the plan's. */
  backend?: LoadedBackend;
  /** Bootstrap resamples for confidence intervals (default 1000). */
  bootstrapResamples?: number;
}

export interface SweepSummary {
  status: 'finished' | 'failed' | 'interrupted';
  results: CellResult[];
  failed: { cellId: string; error: string }[];
  outputDir: string;
}

/** Files of a sweep's output folder. */
export const outputFiles = (dir: string) => ({
  manifest: path.join(dir, 'manifest.yaml'),
  plan: path.join(dir, 'plan.json'),
  dataReport: path.join(dir, 'data-report.json'),
  duplicateGroups: path.join(dir, 'duplicate-groups.png'),
  testSet: path.join(dir, 'test-set.json'),
  cellsDir: path.join(dir, 'cells'),
  cellResult: (id: string) => path.join(dir, 'cells', id, 'result.json'),
  results: path.join(dir, 'results.csv'),
  quality: (seed: number) => path.join(dir, `quality-seed${seed}.json`),
  realSamples: (className: string) => path.join(dir, `samples-real-${safeFileName(className)}.png`),
  events: path.join(dir, 'events.jsonl'),
});

function writeJson(file: string, data: unknown): void {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  // Write then rename, so an interrupted write never leaves a half file that looks complete.
  fs.writeFileSync(`${file}.tmp`, JSON.stringify(data, null, 2));
  fs.renameSync(`${file}.tmp`, file);
}

function hash(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex');
}

class Interrupted extends Error {}

/** A cell's result.json; JSON stores an undefined metric (NaN) as null, so it is turned back. */
export function readCellResult(file: string): CellResult {
  const result = JSON.parse(fs.readFileSync(file, 'utf8')) as CellResult;
  for (const [k, v] of Object.entries(result.metrics)) if (v === null) result.metrics[k] = NaN;
  return result;
}

export async function runSweep(plan: ResolvedPlan, options: RunOptions): Promise<SweepSummary> {
  const files = outputFiles(plan.outputDir);
  fs.mkdirSync(files.cellsDir, { recursive: true });
  const eventLog = fs.createWriteStream(files.events, { flags: 'a' });
  const emit = (e: SweepEventInput) => {
    const event = { ...e, time: Date.now() } as SweepEvent;
    if (event.type !== 'sweep:start') eventLog.write(`${JSON.stringify(event)}\n`);
    options.onEvent?.(event);
  };
  const signal = options.signal ?? new AbortController().signal;
  const results: CellResult[] = [];
  const failed: { cellId: string; error: string }[] = [];
  const resume = options.resume ?? true;
  try {
    fs.writeFileSync(files.manifest, plan.manifestText);
    writeJson(files.plan, { ...plan, manifestText: undefined });
    const backend = options.backend ?? (await loadBackend(plan.backend));
    const tf = backend.tf;
    const done = resume ? plan.cells.filter((c) => fs.existsSync(files.cellResult(c.id))).map((c) => c.id) : [];
    emit({ type: 'sweep:start', plan, backend: { ...backend.decision, backendName: backend.backendName, tensorflowVersion: backend.tensorflowVersion }, resumed: done });
    if (backend.decision.warning) emit({ type: 'warning', scope: { kind: 'sweep' }, message: backend.decision.warning });

    const manifestDir = path.dirname(plan.manifestFile);
    const generator = await loadPlugin(plan.generator.plugin, 'generator', manifestDir, options.pluginAliases);
    const classifier = await loadPlugin(plan.classifier.plugin, 'classifier', manifestDir, options.pluginAliases);

    const data = await loadDataset(plan.dataset, { cacheDir: path.join(options.cacheDir, 'datasets') });
    writeJson(files.dataReport, data.report);
    const duplicates = await duplicateGroupsPng(data.set, data.report.groups.largest);
    if (duplicates) {
      fs.writeFileSync(files.duplicateGroups, duplicates);
      emit({ type: 'artifact', scope: { kind: 'sweep' }, path: files.duplicateGroups, description: 'largest near-duplicate groups' });
    }
    const minPool = Math.max(...plan.cells.map((c) => c.realPerClass), 1);
    const countProblems = checkClassCounts(data.report, { testPerClass: plan.dataset.testPerClass, minPoolPerClass: minPool });
    if (countProblems.length) throw new Error(countProblems.join('; '));
    // One fixed real test set per sweep, chosen from the dataset fingerprint and the first seed.
    const split = splitTest(data.set.labels, data.groups, data.set.classNames.length, plan.dataset.testPerClass, deriveSeed(plan.seeds[0], data.fingerprint), data.set.classNames);
    writeJson(files.testSet, { fingerprint: data.fingerprint, seed: plan.seeds[0], leakageGuard: plan.dataset.leakageGuard, ids: split.test.map((i) => data.set.ids?.[i] ?? i) });
    emit({ type: 'data:loaded', fingerprint: data.fingerprint, counts: data.report.counts, skipped: data.report.skipped.length, groups: data.report.groups.count, testPerClass: plan.dataset.testPerClass, reportFile: files.dataReport, cached: data.cached });
    for (const s of data.report.skipped.slice(0, 20)) emit({ type: 'warning', scope: { kind: 'sweep' }, message: `skipped ${s.file}: ${s.reason}` });
    const testSet = subset(data.set, split.test);
    const realPool = subset(data.set, split.pool);
    // Real samples per class, to set beside the generator's sample grids in the report.
    for (const [c, indices] of indicesByClass(realPool).entries()) {
      const file = files.realSamples(realPool.classNames[c]);
      fs.writeFileSync(file, await imageGridPng(subset(realPool, indices.slice(0, 32)), 32, 8));
      emit({ type: 'artifact', scope: { kind: 'sweep' }, path: file, description: `real ${realPool.classNames[c]} samples` });
    }

    const makeContext = (scope: Scope, seed: number, workDir: string, onProgress: (progress: Progress) => void): PluginContext => ({
      tf,
      seed,
      random: createRng(deriveSeed(seed, JSON.stringify(scope))),
      signal,
      workDir,
      progress: (progress) => {
        onProgress(progress);
        // Every progress metric is also a metric event, with the unit (epoch, step) as its step.
        for (const [name, value] of Object.entries(progress.metrics ?? {})) emit({ type: 'metric', scope, name, value, step: progress.step });
        return yieldToEventLoop();
      },
      metric: (name, value, step = 0) => emit({ type: 'metric', scope, name, value, step }),
      artifact: (file, description) => emit({ type: 'artifact', scope, path: file, description }),
      warn: (message) => emit({ type: 'warning', scope, message }),
    });

    const cellsBySeed = new Map<number, CellPlan[]>();
    for (const cell of plan.cells) cellsBySeed.set(cell.seed, [...(cellsBySeed.get(cell.seed) ?? []), cell]);
    let index = 0;
    for (const [seed, cells] of cellsBySeed) {
      const pending = cells.filter((c) => !done.includes(c.id));
      for (const cell of cells.filter((c) => done.includes(c.id))) {
        const result = readCellResult(files.cellResult(cell.id));
        results.push(result);
        emit({ type: 'cell:done', result, cached: true });
        index++;
      }
      if (!pending.length) continue;
      const needsSynthetic = pending.some((c) => c.syntheticPerClass > 0);
      const synthetic = needsSynthetic ? await trainOrLoadGenerator(plan, generator, realPool, data, seed, options.cacheDir, emit, makeContext) : undefined;
      if (synthetic) writeJson(files.quality(seed), { seed, perClass: syntheticQuality(synthetic, realPool, seed, emit) });
      for (const cell of pending) {
        if (signal.aborted) throw new Interrupted();
        index++;
        emit({ type: 'cell:start', cell, index, total: plan.cells.length });
        try {
          const result = await runCell(plan, cell, classifier, realPool, synthetic, testSet, files, makeContext, emit, options.bootstrapResamples ?? 1000);
          results.push(result);
          emit({ type: 'cell:done', result, cached: false });
        } catch (err) {
          if (signal.aborted) throw new Interrupted();
          const message = (err as Error).message;
          failed.push({ cellId: cell.id, error: message });
          emit({ type: 'cell:failed', cellId: cell.id, error: message });
        }
      }
    }
    writeResultsCsv(files.results, plan, results);
    const status = failed.length ? 'failed' : 'finished';
    emit({ type: 'sweep:done', status, results, outputDir: plan.outputDir, error: failed.length ? `${failed.length} cell(s) failed` : undefined });
    return { status, results, failed, outputDir: plan.outputDir };
  } catch (err) {
    writeResultsCsv(files.results, plan, results);
    const interrupted = err instanceof Interrupted || signal.aborted;
    const status = interrupted ? 'interrupted' : 'failed';
    emit({ type: 'sweep:done', status, results, outputDir: plan.outputDir, error: interrupted ? undefined : (err as Error).message });
    if (interrupted) return { status, results, failed, outputDir: plan.outputDir };
    throw err;
  } finally {
    await new Promise<void>((resolve) => eventLog.end(resolve));
  }
}

type MakeContext = (scope: Scope, seed: number, workDir: string, onProgress: (progress: Progress) => void) => PluginContext;

/** A macrotask turn: timers (UI redraws) and I/O (tracker, keyboard) run before we go on. */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

/** Cache key of a generator state: what it learned from, with what, and how. */
export function generatorKey(plan: ResolvedPlan, generator: AnyGenerator, fingerprint: string, poolIds: string[], seed: number): string {
  return hash({
    fingerprint,
    pool: hash(poolIds.join('\n')),
    plugin: generator.name,
    version: generator.version,
    options: plan.generator.options,
    seed,
    shape: [plan.dataset.imageSize, plan.dataset.channels],
    classes: plan.dataset.classes.map((c) => c.name),
  }).slice(0, 32);
}

async function trainOrLoadGenerator(plan: ResolvedPlan, generator: AnyGenerator, realPool: ImageSet, data: LoadedDataset, seed: number, cacheDir: string, emit: (e: SweepEventInput) => void, makeContext: MakeContext): Promise<GeneratedSet> {
  const key = generatorKey(plan, generator, data.fingerprint, realPool.ids ?? [], seed);
  const workDir = path.join(cacheDir, 'generators', key);
  const complete = path.join(workDir, 'complete.json');
  const cached = fs.existsSync(complete);
  const started = Date.now();
  emit({ type: 'generator:start', seed, plugin: generator.name, cached, stateKey: key });
  fs.mkdirSync(workDir, { recursive: true });
  const ctx = makeContext({ kind: 'generator', seed }, seed, workDir, (progress) => emit({ type: 'generator:progress', seed, progress }));
  if (!cached) {
    await generator.train(realPool, plan.generator.options, ctx);
    if (ctx.signal.aborted) throw new Interrupted();
    writeJson(complete, { plugin: generator.name, version: generator.version, seed, at: new Date().toISOString() });
  }
  const count = plan.syntheticPerClass;
  const poolFile = path.join(workDir, `pool-${count}.f32`);
  const poolMeta = `${poolFile}.json`;
  let pool: GeneratedSet;
  if (fs.existsSync(poolFile) && fs.existsSync(poolMeta)) {
    const meta = JSON.parse(fs.readFileSync(poolMeta, 'utf8'));
    const raw = fs.readFileSync(poolFile);
    pool = { ...meta, images: new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4), labels: Int32Array.from(meta.labels) };
  } else {
    pool = await generator.generate({ countPerClass: count, classNames: realPool.classNames, height: realPool.height, width: realPool.width, channels: realPool.channels }, plan.generator.options, ctx);
    const problems = checkImageSet(pool, realPool, `images from generator "${generator.name}"`);
    if (pool.count !== count * realPool.classNames.length) problems.push(`generator "${generator.name}" returned ${pool.count} images, expected ${count} per class`);
    if (problems.length) throw new Error(problems.join('; '));
    fs.writeFileSync(`${poolFile}.tmp`, Buffer.from(pool.images.buffer, pool.images.byteOffset, pool.images.byteLength));
    fs.renameSync(`${poolFile}.tmp`, poolFile);
    writeJson(poolMeta, { ...pool, images: undefined, labels: [...pool.labels] });
  }
  emit({ type: 'generator:done', seed, cached, stateKey: key, poolPerClass: count, durationMs: Date.now() - started });
  return pool;
}

/** Class-balanced training and validation sets for one cell, deterministic from its seed and ratio. */
export function sampleCell(cell: CellPlan, realPool: ImageSet, synthetic: ImageSet | undefined): { train: ImageSet; val: ImageSet } {
  const random = createRng(deriveSeed(cell.seed, 'cell', cell.ratio));
  const realByClass = indicesByClass(realPool);
  const synthByClass = synthetic ? indicesByClass(synthetic) : [];
  const trainParts: ImageSet[] = [];
  const valParts: ImageSet[] = [];
  realPool.classNames.forEach((name, c) => {
    if (realByClass[c].length < cell.realPerClass) throw new Error(`class "${name}" has ${realByClass[c].length} real training images; cell ${cell.id} needs ${cell.realPerClass}`);
    if (cell.syntheticPerClass > 0 && (!synthetic || synthByClass[c].length < cell.syntheticPerClass)) throw new Error(`class "${name}" has ${synthByClass[c]?.length ?? 0} synthetic images; cell ${cell.id} needs ${cell.syntheticPerClass}`);
    const real = subset(realPool, shuffled(realByClass[c], random).slice(0, cell.realPerClass));
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

async function runCell(plan: ResolvedPlan, cell: CellPlan, classifier: AnyClassifier, realPool: ImageSet, synthetic: ImageSet | undefined, testSet: ImageSet, files: ReturnType<typeof outputFiles>, makeContext: MakeContext, emit: (e: SweepEventInput) => void, resamples: number): Promise<CellResult> {
  const started = Date.now();
  const cellDir = path.join(files.cellsDir, cell.id);
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
    if (ctx.signal.aborted) throw new Interrupted();
    const probabilities = await model.predict(testSet);
    const k = testSet.classNames.length;
    const positive = plan.dataset.positiveClass;
    const labels = Array.from(testSet.labels, (l) => (l === positive ? 1 : 0));
    const scores = Array.from({ length: testSet.count }, (_, i) => probabilities[i * k + positive]);
    const m = binaryMetrics(labels, scores);
    const ci = bootstrapIntervals(labels, scores, { resamples, seed: deriveSeed(cell.seed, 'bootstrap', cell.ratio) });
    const metrics: CellMetrics = { accuracy: m.accuracy, precision: m.precision, recall: m.recall, specificity: m.specificity, f1: m.f1, auc: m.auc, balancedAccuracy: m.balancedAccuracy, mcc: m.mcc, averagePrecision: m.averagePrecision };
    for (const [name, interval] of Object.entries(ci)) {
      metrics[`${name}_ci_low`] = interval.low;
      metrics[`${name}_ci_high`] = interval.high;
    }
    const multi = multiclassMetrics(testSet.labels, probabilities, k);
    if (k > 2) {
      metrics.macro_f1 = multi.macro.f1;
      metrics.macro_auc = multi.macro.auc;
      metrics.accuracy = multi.accuracy;
    }
    const predictionsFile = path.join(cellDir, 'predictions.csv');
    const header = ['id', 'label', ...testSet.classNames.map((c) => `p_${c}`)].join(',');
    const rows = Array.from({ length: testSet.count }, (_, i) => [JSON.stringify(testSet.ids?.[i] ?? String(i)), testSet.classNames[testSet.labels[i]], ...Array.from(probabilities.subarray(i * k, (i + 1) * k), (p) => p.toPrecision(6))].join(','));
    fs.writeFileSync(predictionsFile, `${header}\n${rows.join('\n')}\n`);
    if (cell.ratio === 0 && synthetic && model.embed) {
      // The 100:0 classifier never saw synthetic data: its features judge the generator.
      const fd = await frechetInClassifierSpace(model, testSet, synthetic, cell.seed, emit);
      const file = files.quality(cell.seed);
      if (fs.existsSync(file)) {
        const q = JSON.parse(fs.readFileSync(file, 'utf8'));
        for (const [name, value] of Object.entries(fd)) q.perClass[name] = { ...q.perClass[name], frechetRealClassifier: value };
        writeJson(file, q);
      }
    }
    const modelDir = model.save ? await model.save(path.join(cellDir, 'model')) : undefined;
    const result: CellResult = { cell, metrics, confusion: multi.confusion, valAccuracy: bestVal, durationMs: Date.now() - started, files: { predictions: predictionsFile, ...(modelDir ? { model: modelDir } : {}) } };
    for (const [name, value] of Object.entries(metrics)) emit({ type: 'metric', scope: { kind: 'cell', cellId: cell.id }, name: `test_${name}`, value, step: 0 });
    emit({ type: 'artifact', scope: { kind: 'cell', cellId: cell.id }, path: predictionsFile, description: 'test-set predictions' });
    // Written last: its presence is what marks the cell complete for --resume.
    writeJson(files.cellResult(cell.id), result);
    return result;
  } finally {
    model.dispose();
  }
}

/** How many images per class the quality measures compare (SSIM to nearest is quadratic). */
const QUALITY_SAMPLE = { synthetic: 48, real: 192 };

export interface ClassQuality {
  ssimNearestMean: number;
  ssimNearestMax: number;
  diversity: number;
  realDiversity: number;
  frechetRealClassifier?: number;
}

/** SSIM to the nearest real image and diversity, per class, synthetic against real. */
function syntheticQuality(synthetic: ImageSet, realPool: ImageSet, seed: number, emit: (e: SweepEventInput) => void): Record<string, ClassQuality> {
  const random = createRng(deriveSeed(seed, 'quality'));
  const synthBy = indicesByClass(synthetic);
  const realBy = indicesByClass(realPool);
  const asImages = (set: ImageSet) => ({ data: set.images, count: set.count, height: set.height, width: set.width, channels: set.channels });
  const out: Record<string, ClassQuality> = {};
  synthetic.classNames.forEach((name, c) => {
    const s = subset(synthetic, shuffled(synthBy[c], random).slice(0, QUALITY_SAMPLE.synthetic));
    const r = subset(realPool, shuffled(realBy[c], random).slice(0, QUALITY_SAMPLE.real));
    const nearest = nearestRealSsim(asImages(s), asImages(r));
    const q = { ssimNearestMean: nearest.mean, ssimNearestMax: nearest.max, diversity: meanPairwiseDistance(asImages(s)), realDiversity: meanPairwiseDistance(asImages(subset(r, Array.from({ length: Math.min(r.count, QUALITY_SAMPLE.synthetic) }, (_, i) => i)))) };
    out[name] = q;
    for (const [k, v] of Object.entries(q)) emit({ type: 'metric', scope: { kind: 'generator', seed }, name: `quality_${name}_${k}`, value: v, step: 0 });
  });
  return out;
}

async function frechetInClassifierSpace(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet, seed: number, emit: (e: SweepEventInput) => void): Promise<Record<string, number>> {
  const real = await model.embed!(testSet);
  const fake = await model.embed!(synthetic);
  const out: Record<string, number> = {};
  testSet.classNames.forEach((name, c) => {
    const pick = (set: ImageSet, f: { features: Float32Array; dim: number }) => {
      const rows = Array.from(set.labels).flatMap((l, i) => (l === c ? [i] : []));
      const data = new Float32Array(rows.length * f.dim);
      rows.forEach((i, k) => data.set(f.features.subarray(i * f.dim, (i + 1) * f.dim), k * f.dim));
      return { data, n: rows.length };
    };
    const a = pick(testSet, real);
    const b = pick(synthetic, fake);
    out[name] = frechetDistance(a.data, a.n, b.data, b.n, real.dim);
    emit({ type: 'metric', scope: { kind: 'generator', seed }, name: `quality_${name}_frechet_real_classifier`, value: out[name], step: 0 });
  });
  return out;
}

const CSV_METRICS = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'auc', 'balancedAccuracy', 'mcc'];

function writeResultsCsv(file: string, plan: ResolvedPlan, results: CellResult[]): void {
  const header = ['cell', 'ratio', 'seed', 'real_per_class', 'synthetic_per_class', ...CSV_METRICS.flatMap((m) => [m, `${m}_ci_low`, `${m}_ci_high`])];
  const order = new Map(plan.cells.map((c, i) => [c.id, i]));
  const rows = [...results].sort((a, b) => (order.get(a.cell.id) ?? 0) - (order.get(b.cell.id) ?? 0)).map((r) => [
    r.cell.id, r.cell.ratio, r.cell.seed, r.cell.realPerClass, r.cell.syntheticPerClass,
    ...CSV_METRICS.flatMap((m) => [r.metrics[m], r.metrics[`${m}_ci_low`], r.metrics[`${m}_ci_high`]].map((v) => (v === undefined || Number.isNaN(v) ? '' : Number(v).toFixed(6)))),
  ].join(','));
  fs.mkdirSync(path.dirname(file), { recursive: true });
  fs.writeFileSync(file, `${header.join(',')}\n${rows.map((r) => `${r}\n`).join('')}`);
}
