/**
 * Jobs: the units of work of a sweep, as serialisable descriptions that any process with the
 * project and the data can run (Nx executors / Ray Jobs style: the scheduler never reaches inside).
 *
 * A sweep is planned into a graph of jobs: "train or load generator g" (one per seed, or per seed
 * and size) and "run cell c", a cell that needs synthetic images depending on its generator.
 * `runJob` is the one function that does the work, whoever calls it: the inline executor in the
 * sweep's own process, or `synthmix worker` in a local worker process or a Ray job. What a job
 * does lives beside it: generator-cache.ts (entries, pools, which real images a generator sees),
 * cell.ts (composing and evaluating a cell), quality-checks.ts (how real the synthetic images are).
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkClassCounts, DatasetError, readJsonFile, writeJsonAtomic, createRng, deriveSeed, indicesByClass, loadDataset, splitTest, subset, type ImageSet, type LoadedDataset, type LoadOptions } from '@synthmix/data';
import { loadBackend, type LoadedBackend } from './backend.js';
import type { CompileSettings, PluginContext, Progress } from './contract.js';
import type { CellResult, Scope, SweepEventInput } from './events.js';
import { cacheLayout, sweepLayout } from './layout.js';
import type { ResolvedPlan } from './manifest.js';
import { loadPlugin } from './plugins.js';
import { UserError } from './errors.js';
import { poolQualityCache, readPool, trainOrLoadGenerator, tryReadPool, generatorRealSet, generatorScope, sizeOfGenerator } from './generator-cache.js';
import { runCell } from './cell.js';
import { classQuality, qualityVerdict, syntheticQuality, type SeedQuality } from './quality-checks.js';
import { generatorOf, type GeneratorPlan } from './design.js';

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
export function loadSweepData(plan: ResolvedPlan, cacheDir: string, onProgress?: LoadOptions['onProgress']): Promise<SweepData> {
  const key = `${plan.manifestHash}\n${cacheDir}`;
  if (memo?.key !== key) {
    const value = (async () => {
      const data = await loadDataset(plan.dataset, { cacheDir: cacheLayout(cacheDir).datasets, ...(onProgress ? { onProgress } : {}) });
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

function contextFactory(tf: LoadedBackend['tf'], signal: AbortSignal, emit: (e: SweepEventInput) => void, compile: CompileSettings, cacheDir: string) {
  return (scope: Scope, seed: number, workDir: string, onProgress: (progress: Progress) => void): PluginContext => ({
    tf,
    compile: {
      ...compile,
      choices: cacheLayout(cacheDir).compileChoices,
      measuring: (m) => emit({ type: 'compile:measuring', scope, ...m }),
      chosen: (choice) => emit({ type: 'compile:chosen', scope, choice }),
    },
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
export type MakeContext = ReturnType<typeof contextFactory>;

/** Runs one job to the end. Throws {@link JobInterrupted} when stopped, any other error when it failed. */
export async function runJob(job: JobDescription, hooks: JobHooks): Promise<CellResult | undefined> {
  const plan = readPlan(job.outputDir);
  const backend = hooks.backend ?? (await loadBackend(plan.backend));
  const manifestDir = path.dirname(plan.manifestFile);
  const makeContext = contextFactory(backend.tf, hooks.signal, hooks.emit, plan.compile ?? { mode: 'auto' }, job.cacheDir);
  const sweep = await loadSweepData(plan, job.cacheDir);
  const generator = await loadPlugin(plan.generator.plugin, 'generator', manifestDir, job.pluginAliases);
  if (job.kind === 'generator') {
    const g = generatorPlan(plan, job.id);
    const scope = generatorScope(g);
    // Measured against the real images the generator learned from.
    const learnedFrom = generatorRealSet(sweep, g, plan);
    const size = g.realPerClass === undefined ? undefined : sizeOfGenerator(plan, g);
    const pool = await trainOrLoadGenerator(plan, generator, sweep, g, job.cacheDir, hooks.emit, makeContext, hooks.signal);
    const perClass = await syntheticQuality(backend.tf, pool, learnedFrom, job.seed, hooks.emit, scope, poolQualityCache(plan, generator, sweep, g, job.cacheDir, hooks.emit));
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
      const cache = poolQualityCache(plan, generator, sweep, g, job.cacheDir, hooks.emit, epoch);
      const byClass = indicesByClass(snapshot);
      const realBy = indicesByClass(learnedFrom);
      let q = cache.read();
      if (!q) {
        q = Object.fromEntries(snapshot.classNames.map((name, c) => [name, classQuality(backend.tf, subset(snapshot, byClass[c]), subset(learnedFrom, realBy[c]), job.seed, name)]));
        cache.write(q);
      }
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

export { JobInterrupted } from './errors.js';
export { generatorKey, generatorOptions, generatorPoolFile, generatorRealSet, nestedRealSubset, readGeneratorPool } from './generator-cache.js';
export { sampleCell } from './cell.js';
export { classQuality, frechetInFeatures, inClassifierFeatures, measuredOnFewerThanCalibrated, qualityVerdict, readSeedQuality, SWD_RATIO_WARNING, SWD_SAMPLE, type ClassQuality, type QualityVerdict, type SeedQuality } from './quality-checks.js';
