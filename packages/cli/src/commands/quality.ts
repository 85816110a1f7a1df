import fs from 'node:fs';
import path from 'node:path';
import {
  classQuality, inClassifierFeatures, generatorOf, isBaselineCell, generatorPoolFile, generatorsOfPlan, isDamagedFileError, loadBackend, readCellResult, readGeneratorPool, loadPlugin, loadSweepData, measuredOnFewerThanCalibrated, readPlan, SWD_RATIO_WARNING, SWD_SAMPLE, sweepLayout, UserError,
  type ClassQuality, type ImageSet,
} from '@synthmix/core';
import { indicesByClass, subset, verifyFolder, writeFileAtomic } from '@synthmix/data';
import { EXIT, UsageError, type Command } from '../command.js';
import { findProject } from '../project.js';

/** float32 NHWC in [-1, 1] with a `<file>.json` sidecar {count, height, width, channels}: the format the reference script reads and writes. */
function readRaw(file: string, className: string, classNames: string[]): ImageSet {
  if (!fs.existsSync(file) || !fs.existsSync(`${file}.json`)) throw new UsageError(`${file}: expected float32 images with a ${path.basename(file)}.json sidecar`);
  const meta = JSON.parse(fs.readFileSync(`${file}.json`, 'utf8')) as { count: number; height: number; width: number; channels: number };
  const raw = fs.readFileSync(file);
  const images = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  if (images.length !== meta.count * meta.height * meta.width * meta.channels) throw new UsageError(`${file}: ${images.length} values, but its sidecar says ${meta.count} × ${meta.height} × ${meta.width} × ${meta.channels}`);
  const label = classNames.indexOf(className);
  return { images, labels: new Int32Array(meta.count).fill(label), count: meta.count, height: meta.height, width: meta.width, channels: meta.channels, classNames };
}

function writeRaw(file: string, set: ImageSet): void {
  writeFileAtomic(file, Buffer.from(set.images.buffer, set.images.byteOffset, set.images.byteLength));
  writeFileAtomic(`${file}.json`, JSON.stringify({ count: set.count, height: set.height, width: set.width, channels: set.channels }));
}

export const quality: Command = {
  name: 'quality',
  brief: 'Synthetic-image quality of a sweep, or of images made elsewhere',
  summary: "Measure synthetic images against a sweep's real training images: patch sliced Wasserstein distance (against the real-to-real floor), SSIM to the nearest real image, diversity, and the Fréchet distance in the 100:0 classifier's features. Export the real pools for a reference generator (python/dcgan_reference.py) and measure its samples the same way.",
  args: [{ name: 'sweep-dir', description: 'Output folder of a sweep (runs/<name>)', required: true }],
  options: {
    'export-real': { type: 'string', valueName: 'dir', description: 'Write each class\'s real training pool as real-<class>.f32 (+ .json) into dir' },
    synthetic: { type: 'string', multiple: true, valueName: 'class=file', description: 'Also measure these images (float32 NHWC + .json sidecar) for a class' },
    seed: { type: 'string', valueName: 'n', description: "Which seed's generator and 100:0 classifier (default the sweep's first)" },
    json: { type: 'boolean', description: 'Print JSON' },
  },
  details: [`A class is flagged "far" when its patch distance exceeds ${SWD_RATIO_WARNING}× the real-to-real floor (docs/results/quality-calibration.md).`],
  async run({ args, options, io }) {
    const dir = path.resolve(io.cwd, args[0]);
    if (!fs.existsSync(sweepLayout(dir).plan)) throw new UsageError(`${dir} is not a sweep output folder (no plan.json)`);
    const project = await findProject(io.cwd, io.env);
    const plan = readPlan(dir);
    const seed = options.seed !== undefined ? Number(options.seed) : plan.seeds[0];
    if (!plan.seeds.includes(seed)) throw new UsageError(`--seed ${String(options.seed)}: the sweep's seeds are ${plan.seeds.join(', ')}`);
    const backend = await loadBackend(plan.backend);
    const sweep = await loadSweepData(plan, project.cacheDir);
    const classNames = sweep.realPool.classNames;
    const realBy = indicesByClass(sweep.realPool);
    const realOf = (name: string) => subset(sweep.realPool, realBy[classNames.indexOf(name)]);

    if (options['export-real']) {
      const out = path.resolve(io.cwd, options['export-real'] as string);
      fs.mkdirSync(out, { recursive: true });
      for (const name of classNames) writeRaw(path.join(out, `real-${name}.f32`), realOf(name));
      io.stdout.write(`real training pools (${classNames.map((n) => `${n}: ${realOf(n).count}`).join(', ')}) → ${out}\n`);
    }

    // What to measure: the sweep's own generator pool (from the cache) and any given image sets.
    const sources: { label: string; className: string; images: ImageSet }[] = [];
    const manifestDir = path.dirname(plan.manifestFile);
    const generator = await loadPlugin(plan.generator.plugin, 'generator', manifestDir, project.config.plugins);
    // The seed's generator (with several sizes, the largest size's own).
    const g = generatorsOfPlan(plan).filter((x) => x.seed === seed).at(-1)!;
    const poolFile = generatorPoolFile(plan, generator, sweep, g, project.cacheDir);
    let pool: ImageSet | undefined;
    try {
      pool = readGeneratorPool(plan, generator, sweep, g, project.cacheDir);
    } catch (err) {
      if (!isDamagedFileError(err)) throw err;
      throw new UserError(`${err.message}: the sweep's synthetic pool is damaged; run the sweep again to rebuild it`);
    }
    if (pool) {
      const by = indicesByClass(pool);
      for (const name of classNames) sources.push({ label: `${generator.name} (this sweep, seed ${seed})`, className: name, images: subset(pool, by[classNames.indexOf(name)]) });
    }
    for (const spec of (options.synthetic as string[] | undefined) ?? []) {
      const [className, file] = spec.split(/=(.*)/s);
      if (!file || !classNames.includes(className)) throw new UsageError(`--synthetic ${spec}: expected <class>=<file> with a class of ${classNames.join(', ')}`);
      const images = readRaw(path.resolve(io.cwd, file), className, classNames);
      if (images.height !== sweep.realPool.height || images.channels !== sweep.realPool.channels) throw new UsageError(`--synthetic ${spec}: ${images.height} × ${images.width} × ${images.channels} images, but the sweep's are ${sweep.realPool.height} × ${sweep.realPool.width} × ${sweep.realPool.channels}`);
      sources.push({ label: path.basename(file), className, images });
    }
    if (!sources.length) {
      if (options['export-real']) return EXIT.ok;
      throw new UsageError(`nothing to measure: the sweep's generator pool for seed ${seed} is not in the cache (${poolFile}), and no --synthetic was given`);
    }

    // The Fréchet distance needs the 100:0 classifier of that seed, reloaded by its plugin.
    const baseline = plan.cells.find((c) => c.seed === seed && isBaselineCell(c) && generatorOf(c) === g.id);
    const classifier = await loadPlugin(plan.classifier.plugin, 'classifier', manifestDir, project.config.plugins);
    const modelDir = baseline && sweepLayout(dir).cellModel(baseline.id);
    // A model whose files no longer match the seals its cell recorded is not reloaded.
    const baselineResult = baseline && fs.existsSync(sweepLayout(dir).cellResult(baseline.id)) ? readCellResult(sweepLayout(dir).cellResult(baseline.id)) : undefined;
    if (modelDir && baselineResult?.modelSeals) {
      try {
        verifyFolder(modelDir, baselineResult.modelSeals);
      } catch (err) {
        if (!isDamagedFileError(err)) throw err;
        throw new UserError(`cannot reload the 100:0 classifier: ${err.message}; run the sweep with --fresh to train it again`);
      }
    }
    const model = modelDir && fs.existsSync(modelDir) && classifier.load ? await classifier.load(modelDir, classNames.length, backend.tf).catch((err: Error) => {
      throw new UserError(`cannot reload the 100:0 classifier from ${modelDir}: ${err.message}`);
    }) : undefined;
    const rows: { source: string; className: string; quality: ClassQuality }[] = [];
    try {
      for (const s of sources) {
        const q: ClassQuality = classQuality(backend.tf, s.images, realOf(s.className), seed, s.className);
        if (model?.embed) {
          const inFeatures = (await inClassifierFeatures(model, sweep.testSet, s.images))[s.className];
          q.frechetRealClassifier = inFeatures?.frechet;
          if (inFeatures?.prdc) q.prdcRealClassifier = inFeatures.prdc;
        }
        rows.push({ source: s.label, className: s.className, quality: q });
      }
    } finally {
      model?.dispose();
    }
    if (options.json) {
      io.stdout.write(`${JSON.stringify({ sweep: dir, seed, threshold: SWD_RATIO_WARNING, rows }, null, 2)}\n`);
      return EXIT.ok;
    }
    const f = (v: number | undefined, d: number) => (v === undefined || Number.isNaN(v) ? '—' : v.toFixed(d));
    const lines = [`${'source'.padEnd(38)} ${'class'.padEnd(10)} ${'SWD ratio'.padStart(9)} ${'n'.padStart(4)} ${'SSIM'.padStart(6)} ${'diversity'.padStart(13)} ${'Fréchet'.padStart(8)} ${'P / R'.padStart(11)} ${'D / C'.padStart(11)}`];
    for (const r of rows) {
      const q = r.quality;
      const far = (q.slicedWassersteinRatio ?? NaN) > SWD_RATIO_WARNING ? '  far' : '';
      lines.push(`${r.source.slice(0, 38).padEnd(38)} ${r.className.padEnd(10)} ${f(q.slicedWassersteinRatio, 2).padStart(9)} ${String(q.slicedWassersteinSample ?? '—').padStart(4)} ${f(q.ssimNearestMean, 3).padStart(6)} ${`${f(q.diversity, 1)} / ${f(q.realDiversity, 1)}`.padStart(13)} ${f(q.frechetRealClassifier, 2).padStart(8)} ${`${f(q.prdcRealClassifier?.precision, 2)} / ${f(q.prdcRealClassifier?.recall, 2)}`.padStart(11)} ${`${f(q.prdcRealClassifier?.density, 2)} / ${f(q.prdcRealClassifier?.coverage, 2)}`.padStart(11)}${far}`);
    }
    lines.push(`SWD ratio: patch sliced Wasserstein distance / the same between two real samples (far above ${SWD_RATIO_WARNING}), on n images a side; Fréchet, P / R (precision / recall) and D / C (density / coverage, k = 5): in the 100:0 classifier's features${model ? '' : ' (not available: no reloadable 100:0 model)'}.`);
    if (rows.some((r) => measuredOnFewerThanCalibrated(r.quality))) lines.push(`The threshold was calibrated on ${SWD_SAMPLE} images a side; smaller samples read closer to 1, so the check is weaker for them.`);
    io.stdout.write(`${lines.join('\n')}\n`);
    return EXIT.ok;
  },
};
