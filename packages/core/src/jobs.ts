/**
 * Jobs: the units of work of a sweep, as serialisable descriptions that any process with the
 * project and the data can run (Nx executors / Ray Jobs style: the scheduler never reaches inside).
 *
 * A sweep is planned into a graph of jobs: "train or load the generator of seed s" and "run
 * cell c", a cell that needs synthetic images depending on its seed's generator. `runJob` is the
 * one function that does the work, whoever calls it: the inline executor in the sweep's own
 * process, or `synthmix worker` in a local worker process or a Ray job.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import {
  checkClassCounts, checkImageSet, concat, DatasetError, DamagedFileError, isDamagedFileError, readJsonFile, readSealed, sealFolder, verifyFolder, writeFileAtomic, writeJsonAtomic, writeSealed, type FileSeal, heatmapOverlayPng, createRng, deriveSeed, indicesByClass, loadDataset, shuffled, splitTest, subset,
  type ImageSet, type LoadedDataset,
} from '@synthmix/data';
import { formatPredictionsCsv, frechetDistance, meanPairwiseDistance, nearestRealSsim, slicedWasserstein, taskMetrics } from '@synthmix/metrics';
import { loadBackend, type LoadedBackend } from './backend.js';
import type { CompileSettings, GeneratedSet, PluginContext, Progress } from './contract.js';
import type { CellMetrics, CellResult, Scope, SweepEventInput } from './events.js';
import { cacheLayout, sweepLayout } from './layout.js';
import type { CellPlan, ResolvedPlan } from './manifest.js';
import { loadPlugin, type AnyClassifier, type AnyGenerator } from './plugins.js';
import { UserError } from './errors.js';
import { acquireLock, describeHolder } from './lock.js';
import { extremeCells, generatorOf, isBaselineCell, sizePerClass, type GeneratorPlan } from './design.js';

/** What a worker is asked to do. Plain JSON: it travels as a file to other processes and nodes. */
export interface JobDescription {
  /** Format version of this description. */
  version: 1;
  /** Unique within the sweep: `generator-seed1`, `cell-real800-synth200-seed1`. */
  id: string;
  kind: 'generator' | 'cell';
  seed: number;
  /** For a cell job. */
  cellId?: string;
  /** Ids of the jobs that must succeed first. */
  dependsOn: string[];
  /** Ids of jobs to wait for, succeeded or not (the 100:0 cell measures the pool when there is one). */
  after?: string[];
  /** The sweep's output folder (holds plan.json); must be visible to the worker. */
  outputDir: string;
  /** The content-addressed cache (datasets, generator states); must be visible to the worker. */
  cacheDir: string;
  /** Extra plugin short names (from the project config). */
  pluginAliases?: Record<string, string>;
  /** Bootstrap resamples for the confidence intervals of a cell. */
  bootstrapResamples: number;
}

/** The job id of a seed's generator on the whole real pool (a size's own adds `-real<size>`: design.ts). */
export const generatorJobId = (seed: number) => `generator-seed${seed}`;
export const cellJobId = (cellId: string) => `cell-${cellId}`;

/**
 * The job graph of a sweep: a generator job per seed with a pending cell that needs synthetic
 * images, and a job per pending cell. A cell with synthetic images depends on its seed's
 * generator; a 100:0 cell only waits for it, because it measures the synthetic pool in the
 * features of the classifier trained on real data only, and runs without the pool if it failed.
 */
export function planJobs(plan: ResolvedPlan, pendingCellIds: Iterable<string>, common: Pick<JobDescription, 'cacheDir' | 'pluginAliases' | 'bootstrapResamples'>): JobDescription[] {
  const pending = new Set(pendingCellIds);
  const jobs: JobDescription[] = [];
  for (const seed of plan.seeds) {
    const cells = plan.cells.filter((c) => c.seed === seed && pending.has(c.id));
    const needed = new Set(cells.filter((c) => c.syntheticPerClass > 0).map(generatorOf));
    const base = { version: 1 as const, seed, outputDir: plan.outputDir, ...common };
    for (const g of generatorsOfPlan(plan).filter((x) => x.seed === seed && needed.has(x.id))) jobs.push({ ...base, id: g.id, kind: 'generator', dependsOn: [] });
    for (const cell of cells) {
      const generator = needed.has(generatorOf(cell)) ? [generatorOf(cell)] : [];
      jobs.push({ ...base, id: cellJobId(cell.id), kind: 'cell', cellId: cell.id, dependsOn: cell.syntheticPerClass > 0 ? generator : [], after: cell.syntheticPerClass > 0 ? [] : generator });
    }
  }
  return jobs;
}

/** The generators of a plan; a plan.json of an older synthmix has one per seed on the whole pool. */
export function generatorsOfPlan(plan: Pick<ResolvedPlan, 'seeds' | 'syntheticPerClass'> & { generators?: GeneratorPlan[] }): GeneratorPlan[] {
  return plan.generators ?? plan.seeds.map((seed) => ({ id: generatorJobId(seed), seed, poolPerClass: plan.syntheticPerClass }));
}

function generatorPlan(plan: ResolvedPlan, id: string): GeneratorPlan {
  const g = generatorsOfPlan(plan).find((x) => x.id === id);
  if (!g) throw new Error(`the plan has no generator ${id}`);
  return g;
}

/** The user stopped the sweep while this job ran. */
export class JobInterrupted extends Error {
  constructor() {
    super('interrupted');
  }
}

/** The worker cannot see the sweep's folders: on a cluster they must be on a shared filesystem. */
export class SweepFolderNotVisibleError extends UserError {}

/** Reads a job description and checks that the folders it names are visible from here. */
export function readJobDescription(file: string, host: string): JobDescription {
  if (!fs.existsSync(file)) throw new SweepFolderNotVisibleError(`cannot see the job file ${file} from host ${host}: the sweep's output folder must be on a filesystem shared by every node (see README, "Running on a Ray cluster")`);
  const job = readJsonFile<JobDescription>(file);
  if (job.version !== 1) throw new UserError(`${file}: job description version ${String(job.version)} is not supported by this synthmix (expected 1)`);
  const planFile = sweepLayout(job.outputDir).plan;
  if (!fs.existsSync(planFile)) throw new SweepFolderNotVisibleError(`cannot see the sweep's folder ${job.outputDir} (no plan.json) from host ${host}: output folders must be on a filesystem shared by every node`);
  try {
    fs.mkdirSync(job.cacheDir, { recursive: true });
    fs.accessSync(job.cacheDir, fs.constants.W_OK);
  } catch {
    throw new SweepFolderNotVisibleError(`cannot write the cache folder ${job.cacheDir} from host ${host}: the cache must be on a filesystem shared by every node`);
  }
  return job;
}

/** The plan a worker runs against: plan.json of the sweep's output folder. */
export function readPlan(outputDir: string): ResolvedPlan {
  const plan = readJsonFile<ResolvedPlan>(sweepLayout(outputDir).plan);
  return { ...plan, manifestText: plan.manifestText ?? '' };
}

/** Writes JSON to a temporary name, then renames it into place (never a half file that looks complete). */
export function writeJsonAtomically(file: string, data: unknown): void {
  writeJsonAtomic(file, data, 2);
}

function hash(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex');
}

/** The real data of a sweep as every job sees it: the fixed test set and the pool to train on. */
export interface SweepData {
  data: LoadedDataset;
  testSet: ImageSet;
  realPool: ImageSet;
  testIds: (string | number)[];
}

let memo: { key: string; value: Promise<SweepData> } | undefined;

/**
 * Loads the dataset (from the tensor cache when it can) and splits it, deterministically from
 * the dataset fingerprint and the first seed, so every process gets the same test set and pool.
 * Kept for the last plan in this process, so inline jobs do not load it again.
 */
export function loadSweepData(plan: ResolvedPlan, cacheDir: string): Promise<SweepData> {
  const key = `${plan.manifestHash}\n${cacheDir}`;
  if (memo?.key !== key) {
    const value = (async () => {
      const data = await loadDataset(plan.dataset, { cacheDir: cacheLayout(cacheDir).datasets });
      // Enough images per class for the test set and the largest real share of a cell, said plainly.
      const minPool = Math.max(...plan.cells.map((c) => c.realPerClass), 1);
      const countProblems = checkClassCounts(data.report, { testPerClass: plan.dataset.testPerClass, minPoolPerClass: minPool });
      if (countProblems.length) throw new DatasetError(countProblems.join('; '));
      const split = splitTest(data.set.labels, data.groups, data.set.classNames.length, plan.dataset.testPerClass, deriveSeed(plan.seeds[0], data.fingerprint), data.set.classNames);
      return { data, testSet: subset(data.set, split.test), realPool: subset(data.set, split.pool), testIds: split.test.map((i) => data.set.ids?.[i] ?? i) };
    })();
    memo = { key, value };
    value.catch(() => {
      if (memo?.value === value) memo = undefined;
    });
  }
  return memo!.value;
}

/** A macrotask turn: timers (UI redraws) and I/O (tracker, keyboard) run before we go on. */
export const yieldToEventLoop = () => new Promise<void>((resolve) => setImmediate(resolve));

export interface JobHooks {
  emit: (event: SweepEventInput) => void;
  signal: AbortSignal;
  /** An already loaded backend; default: load the plan's. */
  backend?: LoadedBackend;
}

function contextFactory(tf: LoadedBackend['tf'], signal: AbortSignal, emit: (e: SweepEventInput) => void, compile: CompileSettings) {
  return (scope: Scope, seed: number, workDir: string, onProgress: (progress: Progress) => void): PluginContext => ({
    tf,
    compile,
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
    artifact: (file, description, folder) => emit({ type: 'artifact', scope, path: file, description, folder }),
    warn: (message) => emit({ type: 'warning', scope, message }),
  });
}
type MakeContext = ReturnType<typeof contextFactory>;

/** Runs one job to the end. Throws {@link JobInterrupted} when stopped, any other error when it failed. */
export async function runJob(job: JobDescription, hooks: JobHooks): Promise<CellResult | undefined> {
  const plan = readPlan(job.outputDir);
  const backend = hooks.backend ?? (await loadBackend(plan.backend));
  const manifestDir = path.dirname(plan.manifestFile);
  const makeContext = contextFactory(backend.tf, hooks.signal, hooks.emit, plan.compile ?? { mode: 'auto', xla: false });
  const sweep = await loadSweepData(plan, job.cacheDir);
  const generator = await loadPlugin(plan.generator.plugin, 'generator', manifestDir, job.pluginAliases);
  if (job.kind === 'generator') {
    const g = generatorPlan(plan, job.id);
    const scope = generatorScope(g);
    // Measured against the real images the generator learned from.
    const learnedFrom = generatorRealSet(sweep, g, plan);
    const size = g.realPerClass === undefined ? undefined : sizeOfGenerator(plan, g);
    const pool = await trainOrLoadGenerator(plan, generator, sweep, g, job.cacheDir, hooks.emit, makeContext, hooks.signal);
    const perClass = syntheticQuality(pool, learnedFrom, job.seed, hooks.emit, scope);
    const verdict = qualityVerdict(perClass);
    writeJsonAtomically(sweepLayout(plan.outputDir).quality(job.seed, undefined, size), { seed: job.seed, ...(size ? { trainingSetSize: size } : {}), perClass, verdict } satisfies SeedQuality);
    const where = size ? ` (generator of the ${size}-image sets)` : '';
    if (verdict.far.length) {
      hooks.emit({ type: 'quality:warning', seed: job.seed, ...(scope.generator ? { generator: scope.generator } : {}), classes: verdict.far, message: `${verdict.message!}${where}` });
      hooks.emit({ type: 'warning', scope, message: `${verdict.message!}${where}` });
    }
    if (verdict.note) hooks.emit({ type: 'warning', scope, message: `${verdict.note}${where}` });
    // The snapshots of a GAN-epoch ablation are measured the same way (no warning: they are meant to be early).
    for (const epoch of plan.generator.checkpoints ?? []) {
      const snapshot = readPool(plan, generator, sweep, g, job.cacheDir, epoch);
      const byClass = indicesByClass(snapshot);
      const realBy = indicesByClass(learnedFrom);
      const q = Object.fromEntries(snapshot.classNames.map((name, c) => [name, classQuality(subset(snapshot, byClass[c]), subset(learnedFrom, realBy[c]), job.seed, name)]));
      writeJsonAtomically(sweepLayout(plan.outputDir).quality(job.seed, epoch, size), { seed: job.seed, epoch, ...(size ? { trainingSetSize: size } : {}), perClass: q, verdict: qualityVerdict(q) } satisfies SeedQuality);
    }
    return undefined;
  }
  const cell = plan.cells.find((c) => c.id === job.cellId);
  if (!cell) throw new Error(`job ${job.id}: the plan has no cell ${job.cellId}`);
  const g = generatorPlan(plan, generatorOf(cell));
  const synthetic = cell.syntheticPerClass > 0 ? readPool(plan, generator, sweep, g, job.cacheDir, cell.generatorEpoch) : job.after?.length ? tryReadPool(plan, generator, sweep, g, job.cacheDir) : undefined;
  const classifier = await loadPlugin(plan.classifier.plugin, 'classifier', manifestDir, job.pluginAliases);
  return runCell(plan, cell, classifier, sweep, synthetic, makeContext, hooks.emit, job.bootstrapResamples);
}

/** Cache key of a generator state: what it learned from, with what, and how. */
export function generatorKey(plan: ResolvedPlan, generator: AnyGenerator, fingerprint: string, poolIds: string[], seed: number, options: Record<string, unknown> = plan.generator.options): string {
  return hash({
    fingerprint,
    pool: hash(poolIds.join('\n')),
    plugin: generator.name,
    version: generator.version,
    options,
    seed,
    shape: [plan.dataset.imageSize, plan.dataset.channels],
    classes: plan.dataset.classes.map((c) => c.name),
    // A state trained without snapshots cannot serve a GAN-epoch ablation.
    ...(plan.generator.checkpoints ? { snapshots: plan.generator.checkpoints } : {}),
  }).slice(0, 32);
}

function poolFiles(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, epoch?: number) {
  // What it learned from is part of its key: a size's generator is another entry than the pool's.
  const key = generatorKey(plan, generator, sweep.data.fingerprint, (generatorRealSet(sweep, g, plan).ids ?? []).map(String), g.seed, generatorOptions(plan, g));
  const file = cacheLayout(cacheDir).pool(key, g.poolPerClass, epoch);
  return { key, file, meta: `${file}.json` };
}

/** The options a generator trains with: the manifest's, and its own budget's (design.ts). */
export function generatorOptions(plan: Pick<ResolvedPlan, 'generator'>, g: GeneratorPlan): Record<string, unknown> {
  return g.options ? { ...plan.generator.options, ...g.options } : plan.generator.options;
}

/** Scope of a generator's events: its seed, and its id when a size has its own. */
function generatorScope(g: GeneratorPlan): { kind: 'generator'; seed: number; generator?: string } {
  return { kind: 'generator', seed: g.seed, ...(g.realPerClass === undefined ? {} : { generator: g.id }) };
}

/** The training-set size whose cells a size's generator serves. */
function sizeOfGenerator(plan: ResolvedPlan, g: GeneratorPlan): number | undefined {
  return plan.cells.find((c) => generatorOf(c) === g.id)?.trainingSetSize;
}

/**
 * Each class's real pool in one fixed order per seed. A size's real images are a prefix of it, so
 * the smaller sets are inside the larger ones and curves differ by the images added, not a new
 * draw; the first `valPerClass` of a size's images are its validation set.
 */
export function nestedRealSubset(realPool: ImageSet, seed: number, perClass: number, valPerClass = 0): { train: number[]; val: number[] } {
  const random = createRng(deriveSeed(seed, 'nested-real'));
  const train: number[] = [];
  const val: number[] = [];
  indicesByClass(realPool).forEach((indices, c) => {
    if (indices.length < perClass) throw new DatasetError(`class "${realPool.classNames[c]}" has ${indices.length} real images outside the test set; a ${perClass}-per-class set needs ${perClass}`);
    const mine = shuffled(indices, random).slice(0, perClass);
    val.push(...mine.slice(0, valPerClass));
    train.push(...mine.slice(valPerClass));
  });
  return { train, val };
}

/** The real images a generator learns from: the whole pool, or its size's training images. */
export function generatorRealSet(sweep: Pick<SweepData, 'realPool'>, g: GeneratorPlan, plan: Pick<ResolvedPlan, 'cells'>): ImageSet {
  if (g.realPerClass === undefined) return sweep.realPool;
  const cell = plan.cells.find((c) => generatorOf(c) === g.id);
  const perClass = cell ? sizePerClass(cell) : g.realPerClass;
  return subset(sweep.realPool, nestedRealSubset(sweep.realPool, g.seed, perClass, perClass - g.realPerClass).train);
}

/** A pool's index (`pool-N.f32.json`): everything but the pixels, and the seal of the pixels. */
type PoolIndex = Omit<GeneratedSet, 'images' | 'labels'> & { labels: number[]; images: FileSeal };

/**
 * The synthetic pool a generator job left in the cache, checked against its seal: a damaged pool
 * throws a DamagedFileError naming the file, so no cell is ever trained on it.
 */
function readPool(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, epoch?: number): GeneratedSet {
  const { file, meta } = poolFiles(plan, generator, sweep, g, cacheDir, epoch);
  // The index is written after the pixels: without it the pool was never completed.
  if (!fs.existsSync(meta)) throw new Error(`the synthetic pool of ${g.id}${epoch === undefined ? '' : ` (generator after epoch ${epoch})`} is missing from the cache (${file}); its generator job did not finish`);
  const info = readJsonFile<PoolIndex>(meta);
  if (!info.images?.sha256) throw new DamagedFileError(meta, 'no seal of the pool (written by an older synthmix)');
  const raw = readSealed(file, info.images);
  const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  if (images.length !== info.count * info.height * info.width * info.channels || info.labels.length !== info.count) throw new DamagedFileError(meta, `${info.count} images of ${info.height}×${info.width}×${info.channels} do not fit ${images.length} values and ${info.labels.length} labels`);
  return { ...info, images, labels: Int32Array.from(info.labels) };
}

/** Where the pool of a sweep's generator lives in the cache. */
export function generatorPoolFile(...args: Parameters<typeof readPool>): string {
  return poolFiles(...args).file;
}

/** The pool of a sweep's generator (seed, snapshot epoch) if the cache has it; a damaged one throws, naming the file. */
export function readGeneratorPool(...args: Parameters<typeof readPool>): GeneratedSet | undefined {
  return tryReadPool(...args);
}

function tryReadPool(...args: Parameters<typeof readPool>): GeneratedSet | undefined {
  const { meta } = poolFiles(...args);
  return fs.existsSync(meta) ? readPool(...args) : undefined;
}

function writePool(file: string, meta: string, made: GeneratedSet): void {
  const images = writeSealed(file, new Uint8Array(made.images.buffer, made.images.byteOffset, made.images.byteLength));
  writeJsonAtomic(meta, { ...made, images, labels: [...made.labels] } satisfies PoolIndex);
}

/** complete.json of a generator entry: written when training finished, with the seal of every file it left. */
interface GeneratorEntryIndex {
  plugin: string;
  version: string;
  seed: number;
  at: string;
  /** Files of the work folder (weights, checkpoints, snapshots) by relative path; pools are sealed on their own. */
  files: Record<string, FileSeal>;
}

const isPoolFile = (relative: string) => /^pool-/.test(relative);

/** Why a cached generator entry cannot be used (a file missing or changed), or undefined when it is whole. */
function damageOfEntry(workDir: string, complete: string): string | undefined {
  try {
    const index = readJsonFile<Partial<GeneratorEntryIndex>>(complete);
    if (!index.files) throw new DamagedFileError(complete, 'no seals of its files (written by an older synthmix)');
    verifyFolder(workDir, index.files);
    return undefined;
  } catch (err) {
    if (isDamagedFileError(err)) return err.message;
    throw err;
  }
}

async function trainOrLoadGenerator(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, emit: (e: SweepEventInput) => void, makeContext: MakeContext, signal: AbortSignal): Promise<GeneratedSet> {
  // The real images it may learn from: the whole pool, or only its size's training images.
  const realPool = generatorRealSet(sweep, g, plan);
  const seed = g.seed;
  const { key } = poolFiles(plan, generator, sweep, g, cacheDir);
  const cache = cacheLayout(cacheDir);
  const workDir = cache.generatorDir(key);
  const complete = cache.generatorComplete(key);
  const scope = generatorScope(g);
  const sized = scope.generator ? { generator: scope.generator } : {};
  // Two sweeps sharing the cache must not train the same entry at once: the second waits, then uses it.
  const lock = await acquireLock(cache.generatorLock(key), {
    wait: true,
    signal,
    onWait: (holder) => emit({ type: 'warning', scope, message: `waiting for the generator cache entry ${key}: ${describeHolder(holder)} is training it` }),
    onStale: (holder) => emit({ type: 'warning', scope, message: `took over the generator cache entry ${key} from ${describeHolder(holder)}, which is no longer running` }),
  });
  try {
    const started = Date.now();
    const drop = (why: string) => {
      emit({ type: 'warning', scope, message: `damaged cache entry: ${why}; the generator of seed ${seed} is trained again` });
      fs.rmSync(workDir, { recursive: true, force: true });
    };
    if (fs.existsSync(complete)) {
      const damage = damageOfEntry(workDir, complete);
      if (damage) drop(damage);
    }
    // A folder without complete.json holds an interrupted training's checkpoints, which resume.
    const cached = fs.existsSync(complete);
    emit({ type: 'generator:start', seed, ...sized, ...(g.realPerClass === undefined ? {} : { realPerClass: realPool.count / realPool.classNames.length }), plugin: generator.name, cached, stateKey: key });
    fs.mkdirSync(workDir, { recursive: true });
    const ctx: PluginContext = { ...makeContext(scope, seed, workDir, (progress) => emit({ type: 'generator:progress', seed, ...sized, progress })), ...(plan.generator.checkpoints ? { snapshotEpochs: plan.generator.checkpoints } : {}) };
    const count = g.poolPerClass;
    // A damaged file met while training resumes or sampling reads the state drops the entry once.
    for (let attempt = 1; ; attempt++) {
      try {
        if (!fs.existsSync(complete)) {
          await generator.train(realPool, generatorOptions(plan, g), ctx);
          if (ctx.signal.aborted) throw new JobInterrupted();
          writeJsonAtomically(complete, { plugin: generator.name, version: generator.version, seed, at: new Date().toISOString(), files: sealFolder(workDir, (f) => isPoolFile(f) || f === 'complete.json') } satisfies GeneratorEntryIndex);
        }
        // The trained state's pool, then one per snapshot of a GAN-epoch ablation.
        let pool: GeneratedSet | undefined;
        for (const epoch of [undefined, ...(plan.generator.checkpoints ?? [])]) {
          const { file, meta } = poolFiles(plan, generator, sweep, g, cacheDir, epoch);
          let made: GeneratedSet | undefined;
          if (fs.existsSync(meta)) {
            try {
              made = readPool(plan, generator, sweep, g, cacheDir, epoch);
            } catch (err) {
              if (!isDamagedFileError(err)) throw err;
              emit({ type: 'warning', scope, message: `damaged cache entry: ${err.message}; the synthetic pool is sampled again` });
            }
          }
          if (!made) {
            made = await generator.generate({ countPerClass: count, classNames: realPool.classNames, height: realPool.height, width: realPool.width, channels: realPool.channels, ...(epoch === undefined ? {} : { epoch }) }, generatorOptions(plan, g), ctx);
            const problems = checkImageSet(made, realPool, `images from generator "${generator.name}"${epoch === undefined ? '' : ` after epoch ${epoch}`}`);
            if (made.count !== count * realPool.classNames.length) problems.push(`generator "${generator.name}" returned ${made.count} images, expected ${count} per class`);
            if (problems.length) throw new Error(problems.join('; '));
            writePool(file, meta, made);
          }
          pool ??= made;
        }
        emit({ type: 'generator:done', seed, ...sized, cached, stateKey: key, poolPerClass: count, durationMs: Date.now() - started });
        return pool!;
      } catch (err) {
        if (!isDamagedFileError(err) || attempt > 1) throw err;
        drop(err.message);
        fs.mkdirSync(workDir, { recursive: true });
      }
    }
  } finally {
    lock.release();
  }
}

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

async function runCell(plan: ResolvedPlan, cell: CellPlan, classifier: AnyClassifier, sweep: SweepData, synthetic: ImageSet | undefined, makeContext: MakeContext, emit: (e: SweepEventInput) => void, resamples: number): Promise<CellResult> {
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
    const result: CellResult = { cell, task, metrics: metrics as CellMetrics, confusion, valAccuracy: bestVal, durationMs: Date.now() - started, files: { predictions: predictionsFile, ...(modelDir ? { model: modelDir } : {}) }, ...(modelDir ? { modelSeals: sealFolder(modelDir) } : {}), ...(frechet ? { frechetRealClassifier: frechet } : {}) };
    for (const [name, value] of Object.entries(metrics)) emit({ type: 'metric', scope: { kind: 'cell', cellId: cell.id }, name: `test_${name}`, value, step: 0 });
    emit({ type: 'artifact', scope: { kind: 'cell', cellId: cell.id }, path: predictionsFile, description: 'test-set predictions' });
    // Written last: its presence is what marks the cell complete for resume.
    writeJsonAtomically(layout.cellResult(cell.id), result);
    return result;
  } finally {
    model.dispose();
  }
}

/**
 * Images a side for the patch sliced Wasserstein distance (synthetic, real, second real), and the
 * side the warning threshold was calibrated at. Fewer images make both distances noisier and
 * pull their ratio towards 1 (a brain-like DCGAN read 1.3 at 256 a side, 0.7–0.9 at 32), so a
 * smaller side is recorded and said next to the verdict.
 */
export const SWD_SAMPLE = 256;
/** Draws averaged for the patch distance and its floor. */
const SWD_DRAWS = 4;

/** Real test images of the positive class shown with Grad-CAM heatmaps. */
const GRADCAM_IMAGES = 8;

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
 * elsewhere (the PyTorch reference).
 */
export function classQuality(synthetic: ImageSet, real: ImageSet, seed: number, name: string): ClassQuality {
  const random = createRng(deriveSeed(seed, 'quality', name));
  const asImages = (set: ImageSet) => ({ data: set.images, count: set.count, height: set.height, width: set.width, channels: set.channels });
  const s = subset(synthetic, shuffled(Array.from({ length: synthetic.count }, (_, i) => i), random).slice(0, QUALITY_SAMPLE.synthetic));
  const r = subset(real, shuffled(Array.from({ length: real.count }, (_, i) => i), random).slice(0, QUALITY_SAMPLE.real));
  const nearest = nearestRealSsim(asImages(s), asImages(r));
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
      swd += slicedWasserstein(asImages(realA), asImages(synth), options).mean / SWD_DRAWS;
      swdReal += slicedWasserstein(asImages(realA), asImages(realB), options).mean / SWD_DRAWS;
    }
  }
  return { ssimNearestMean: nearest.mean, ssimNearestMax: nearest.max, diversity: meanPairwiseDistance(asImages(s)), realDiversity: meanPairwiseDistance(asImages(realSample)), slicedWasserstein: swd, slicedWassersteinRealFloor: swdReal, slicedWassersteinRatio: swd / swdReal, ...(Number.isNaN(swd) ? {} : { slicedWassersteinSample: side }) };
}

/** The quality measures per class, synthetic against real, as metric events of the generator. */
function syntheticQuality(synthetic: ImageSet, realPool: ImageSet, seed: number, emit: (e: SweepEventInput) => void, scope: Scope): Record<string, ClassQuality> {
  const synthBy = indicesByClass(synthetic);
  const realBy = indicesByClass(realPool);
  const out: Record<string, ClassQuality> = {};
  synthetic.classNames.forEach((name, c) => {
    const q = classQuality(subset(synthetic, synthBy[c]), subset(realPool, realBy[c]), seed, name);
    out[name] = q;
    for (const [k, v] of Object.entries(q)) emit({ type: 'metric', scope, name: `quality_${name}_${k}`, value: v, step: 0 });
  });
  return out;
}

/** Fréchet distance per class between real test images and synthetic ones, in a classifier's features. */
export async function frechetInFeatures(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet): Promise<Record<string, number>> {
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
    if (b.n < 2) return;
    out[name] = frechetDistance(a.data, a.n, b.data, b.n, real.dim);
  });
  return out;
}

async function frechetInClassifierSpace(model: { embed?: (set: ImageSet) => Promise<{ features: Float32Array; dim: number }> }, testSet: ImageSet, synthetic: ImageSet, scope: Scope, emit: (e: SweepEventInput) => void): Promise<Record<string, number>> {
  const out = await frechetInFeatures(model, testSet, synthetic);
  for (const [name, value] of Object.entries(out)) emit({ type: 'metric', scope, name: `quality_${name}_frechet_real_classifier`, value, step: 0 });
  return out;
}
