/**
 * The generator cache: content-addressed entries (a trained state, its checkpoints and snapshots,
 * sealed in complete.json) and their synthetic pools (pixels sealed in their index), trained or
 * reused under a lock per entry; and which real images each generator learns from.
 */
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import { checkImageSet, DatasetError, DamagedFileError, isDamagedFileError, readJsonFile, readSealed, readSealedJson, sealFolder, verifyFolder, writeJsonAtomic, writeSealed, writeSealedJson, type FileSeal, createRng, deriveSeed, indicesByClass, shuffled, subset, type ImageSet } from '@synthmix/data';
import type { GeneratedSet, PluginContext } from './contract.js';
import type { SweepEventInput } from './events.js';
import { cacheLayout } from './layout.js';
import type { ResolvedPlan } from './manifest.js';
import type { AnyGenerator } from './plugins.js';
import { JobInterrupted } from './errors.js';
import type { MakeContext, SweepData } from './jobs.js';
import { acquireLock, describeHolder } from './lock.js';
import { generatorOf, sizePerClass, type GeneratorPlan } from './design.js';
import { QUALITY_MEASURES_VERSION, type ClassQuality, type QualityCache } from './quality-checks.js';

function hash(value: unknown): string {
  return createHash('sha256').update(typeof value === 'string' ? value : JSON.stringify(value)).digest('hex');
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

export function poolFiles(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, epoch?: number) {
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
export function generatorScope(g: GeneratorPlan): { kind: 'generator'; seed: number; generator?: string } {
  return { kind: 'generator', seed: g.seed, ...(g.realPerClass === undefined ? {} : { generator: g.id }) };
}

/** The training-set size whose cells a size's generator serves. */
export function sizeOfGenerator(plan: ResolvedPlan, g: GeneratorPlan): number | undefined {
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
export function readPool(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, epoch?: number): GeneratedSet {
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

export function tryReadPool(...args: Parameters<typeof readPool>): GeneratedSet | undefined {
  const { meta } = poolFiles(...args);
  return fs.existsSync(meta) ? readPool(...args) : undefined;
}

export function writePool(file: string, meta: string, made: GeneratedSet): void {
  const images = writeSealed(file, new Uint8Array(made.images.buffer, made.images.byteOffset, made.images.byteLength));
  writeJsonAtomic(meta, { ...made, images, labels: [...made.labels] } satisfies PoolIndex);
}

/** A pool's cached quality measures: of which pool (its pixels' seal) and by which measures. */
interface PoolQualityRecord {
  version: number;
  pool: string;
  perClass: Record<string, ClassQuality>;
}

/**
 * The quality measures of a cached pool, kept beside it (sealed): a rerun on a cached generator
 * reads them instead of measuring again. They hold while the pool's pixels (their seal) and
 * {@link QUALITY_MEASURES_VERSION} are the same; the real images they were measured against are
 * the generator's own, which its key fixes. A damaged file is said and measured again.
 */
export function poolQualityCache(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, emit: (e: SweepEventInput) => void, epoch?: number): QualityCache {
  const { key, meta } = poolFiles(plan, generator, sweep, g, cacheDir, epoch);
  const file = cacheLayout(cacheDir).poolQuality(key, g.poolPerClass, epoch);
  const poolSeal = () => readJsonFile<PoolIndex>(meta).images.sha256;
  return {
    read() {
      if (!fs.existsSync(file)) return undefined;
      try {
        const record = readSealedJson<PoolQualityRecord>(file);
        if (record.version !== QUALITY_MEASURES_VERSION || record.pool !== poolSeal()) return undefined;
        // JSON has no NaN: a measure that came out NaN was written as null.
        return Object.fromEntries(Object.entries(record.perClass).map(([name, q]) => [name, Object.fromEntries(Object.entries(q).map(([k, v]) => [k, v ?? NaN])) as unknown as ClassQuality]));
      } catch (err) {
        if (!isDamagedFileError(err)) throw err;
        emit({ type: 'warning', scope: generatorScope(g), message: `damaged cache entry: ${err.message}; the synthetic images' quality is measured again` });
        return undefined;
      }
    },
    write(perClass) {
      writeSealedJson(file, { version: QUALITY_MEASURES_VERSION, pool: poolSeal(), perClass } satisfies PoolQualityRecord);
    },
  };
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

export async function trainOrLoadGenerator(plan: ResolvedPlan, generator: AnyGenerator, sweep: SweepData, g: GeneratorPlan, cacheDir: string, emit: (e: SweepEventInput) => void, makeContext: MakeContext, signal: AbortSignal): Promise<GeneratedSet> {
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
  }).catch((err: unknown) => {
    // Stopped while queued behind another sweep: an interruption, not a failure.
    if (signal.aborted) throw new JobInterrupted();
    throw err;
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
          writeJsonAtomic(complete, { plugin: generator.name, version: generator.version, seed, at: new Date().toISOString(), files: sealFolder(workDir, (f) => isPoolFile(f) || f === 'complete.json') } satisfies GeneratorEntryIndex);
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
