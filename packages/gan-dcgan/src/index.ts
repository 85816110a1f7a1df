/**
 * Generator plugin `dcgan`: one DCGAN per class, trained on that class's real images, with
 * exact resume from checkpoints, fixed-latent sample grids and failure warnings.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GeneratorPlugin, ImageSet, PluginContext, TF } from '@synthmix/core';
import { packageVersion, readJsonFile, safeFileName, writeJsonAtomic, checkSnapshotEpochs, classFolder, createRng, deriveSeed, generatePerClass, loadTensors, optimizerState, ownedByOptimizerState, restoreOptimizerState, saveTensors, shuffled, trainPerClass } from '@synthmix/core';
import { imageGridPng, imagePng, imageRows, normalArray } from '@synthmix/data';
import { assignOwnCopy, Compiler, optimizerHooks, ownVariable } from '@synthmix/compile';
import { buildDiscriminator, buildGenerator, type DcganArchitecture } from './model.js';
import { AUGMENTATIONS, augment, drawAugmentation, drawSize, type Augmentation } from './augment.js';

const VERSION = packageVersion(import.meta.url);

export { buildDiscriminator, buildGenerator, stages } from './model.js';
export { AUGMENTATIONS, augment, drawAugmentation, type Augmentation } from './augment.js';

export interface DcganOptions {
  epochs: number;
  batchSize: number;
  latentDim: number;
  ngf: number;
  ndf: number;
  learningRate: number;
  beta1: number;
  /** Target for real images in the discriminator loss; 1 = no smoothing. */
  realLabel: number;
  dStepsPerGStep: number;
  /** Differentiable augmentation of what the discriminator sees (augment.ts); empty: none. */
  augment: Augmentation[];
  /** Probability that each augmentation applies to each image (ADA's p); 1: always, as in DiffAugment. */
  augmentProbability: number;
  /** Decay of the generator weights' moving average, which samples are drawn with; 0: none. */
  emaDecay: number;
  /** Weight of the mode-seeking term in the generator loss (Mao et al. 2019); 0: none. */
  modeSeeking: number;
  checkpointEvery: number;
  samplesPerGrid: number;
  /** Also write every generated image as a PNG, for inspection. */
  writePngs: boolean;
}

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    epochs: { type: 'integer', minimum: 1, default: 25, description: 'Epochs per class (the paper trains 1,000 on a GPU).' },
    batchSize: { type: 'integer', minimum: 2, default: 64 },
    latentDim: { type: 'integer', minimum: 1, default: 100 },
    ngf: { type: 'integer', minimum: 1, default: 64, description: 'Generator width.' },
    ndf: { type: 'integer', minimum: 1, default: 64, description: 'Discriminator width.' },
    learningRate: { type: 'number', exclusiveMinimum: 0, default: 0.0002 },
    beta1: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.5 },
    realLabel: { type: 'number', exclusiveMinimum: 0.5, maximum: 1, default: 0.9, description: 'One-sided label smoothing: target for real images.' },
    dStepsPerGStep: { type: 'integer', minimum: 1, default: 1 },
    augment: {
      type: 'array', items: { enum: [...AUGMENTATIONS] }, uniqueItems: true, default: [],
      description: 'Differentiable augmentation (DiffAugment, Zhao et al. 2020) of real and generated images before the discriminator, for small training sets: any of color, translation, cutout.',
    },
    augmentProbability: {
      type: 'number', exclusiveMinimum: 0, maximum: 1, default: 1,
      description: 'Probability that each augmentation applies to each image (Karras et al. 2020): below 1 the discriminator also sees unaugmented images, so padding and cutout cannot leak into the generated ones. 1: always, as in DiffAugment.',
    },
    emaDecay: {
      type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0,
      description: 'Exponential moving average of the generator weights, updated every step; samples, grids and the final state use it (Yazıcı et al. 2019). 0: the last weights.',
    },
    modeSeeking: {
      type: 'number', minimum: 0, default: 0,
      description: 'Weight of the mode-seeking regulariser (Mao et al. 2019, MSGAN): the generator is also rewarded for making two latents\' images as far apart as the latents are, against mode collapse. 0: none; the paper uses 1.',
    },
    checkpointEvery: { type: 'integer', minimum: 1, default: 5, description: 'Epochs between checkpoints and sample grids.' },
    samplesPerGrid: { type: 'integer', minimum: 1, maximum: 256, default: 32 },
    writePngs: { type: 'boolean', default: false, description: 'Write every generated image as a PNG in the state folder (<class>/generated/).' },
  },
} as const;

type Model = ReturnType<typeof buildGenerator>;
type Tensor = ReturnType<TF['tensor']>;

const vars = (m: Model) => m.trainableWeights.map((w) => w.read() as unknown as ReturnType<TF['variable']>);

export interface GanPair {
  g: Model;
  d: Model;
  optG: ReturnType<TF['train']['adam']>;
  optD: ReturnType<TF['train']['adam']>;
  arch: DcganArchitecture;
  /** Moving average of the generator's trainable weights (in their order), when emaDecay > 0. */
  ema?: ReturnType<TF['variable']>[];
  emaDecay: number;
  /** Weight of the mode-seeking term in the generator loss; 0: none. */
  modeSeeking: number;
}

export function buildGan(tf: TF, arch: DcganArchitecture, o: Pick<DcganOptions, 'learningRate' | 'beta1'> & { emaDecay?: number; modeSeeking?: number }): GanPair {
  const g = buildGenerator(tf, arch);
  const emaDecay = o.emaDecay ?? 0;
  const ema = emaDecay > 0 ? vars(g).map((v) => ownVariable(tf, v)) : undefined;
  return { g, d: buildDiscriminator(tf, arch), optG: tf.train.adam(o.learningRate, o.beta1), optD: tf.train.adam(o.learningRate, o.beta1), arch, ema, emaDecay, modeSeeking: o.modeSeeking ?? 0 };
}

/** Frees a GAN pair: both networks, both optimisers and the generator's moving average. */
export function disposeGan(tf: TF, gan: GanPair): void {
  gan.g.dispose();
  gan.d.dispose();
  gan.optG.dispose();
  gan.optD.dispose();
  if (gan.ema) tf.dispose(gan.ema);
}

/**
 * Runs `fn` with the generator's weights replaced by their moving average (when it keeps one):
 * what samples, grids and the saved generator use.
 */
export function withGeneratorAverage<T>(tf: TF, gan: GanPair, fn: () => T): T {
  if (!gan.ema) return fn();
  const live = vars(gan.g);
  const saved = live.map((v) => v.clone());
  live.forEach((v, i) => assignOwnCopy(tf, v, gan.ema![i]));
  const restore = () => {
    live.forEach((v, i) => v.assign(saved[i]));
    tf.dispose(saved);
  };
  let out: T;
  try {
    out = fn();
  } catch (e) {
    restore();
    throw e;
  }
  if (out instanceof Promise) return out.finally(restore) as T;
  restore();
  return out;
}

/** Standard-normal latent vectors from a seeded stream (Box–Muller), so z is reproducible. */
export function latentBatch(tf: TF, n: number, dim: number, seed: number): Tensor {
  return tf.tensor2d(normalArray(createRng(seed), n * dim), [n, dim]);
}

/**
 * What the discriminator sees of a batch: the images as they are, or through one draw of a
 * differentiable augmentation policy (augment.ts). Real and generated images get their own draws.
 */
export interface AugmentDraws {
  policy: readonly Augmentation[];
  real: Tensor[];
  fake: Tensor[];
}

const seen = (tf: TF, x: Tensor, policy: readonly Augmentation[] | undefined, draw: Tensor[] | undefined) => (policy?.length && draw ? augment(tf, policy, x, draw) : x);

/** One discriminator update. real: [n, h, w, c]; z: [n, latent]. Returns scalars (tensors). */
export function trainDiscriminatorOneStep(tf: TF, gan: GanPair, real: Tensor, z: Tensor, realLabel: number, aug?: AugmentDraws) {
  let dReal: Tensor | undefined;
  let dFake: Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const fake = gan.g.apply(z, { training: true }) as Tensor; // [n, h, w, c]
    const logitsReal = gan.d.apply(seen(tf, real, aug?.policy, aug?.real), { training: true }) as Tensor; // [n, 1]
    const logitsFake = gan.d.apply(seen(tf, fake, aug?.policy, aug?.fake), { training: true }) as Tensor; // [n, 1]
    dReal = tf.keep(tf.mean(tf.sigmoid(logitsReal)));
    dFake = tf.keep(tf.mean(tf.sigmoid(logitsFake)));
    const lossReal = tf.losses.sigmoidCrossEntropy(tf.fill(logitsReal.shape, realLabel), logitsReal);
    const lossFake = tf.losses.sigmoidCrossEntropy(tf.zerosLike(logitsFake), logitsFake);
    return tf.add(lossReal, lossFake) as ReturnType<TF['scalar']>;
  }, vars(gan.d));
  gan.optD.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
  tf.dispose(Object.values(grads));
  return { dLoss: value, dReal: dReal!, dFake: dFake! };
}

/**
 * One discriminator update then one generator update on the same z, as the PyTorch DCGAN example
 * does (it reuses G(z) for the generator step). Eagerly G(z) is computed twice; compiled, the
 * second computation is the same ops on the same inputs and is merged with the first. With
 * augmentation both updates see G(z) through the same draw (so that is merged too).
 * real: [n, h, w, c]; z: [n, latent].
 */
export function trainGanOneStep(tf: TF, gan: GanPair, real: Tensor, z: Tensor, realLabel: number, aug?: AugmentDraws) {
  return { ...trainDiscriminatorOneStep(tf, gan, real, z, realLabel, aug), ...trainGeneratorOneStep(tf, gan, z, aug) };
}

/**
 * The training steps of a GAN pair through a compiler: both updates, or one of each kind. With an
 * augmentation policy a step takes its draws after its images and latents: the real images' draw
 * then the generated ones' (each `drawSize(policy)` tensors from drawAugmentation), or for the
 * generator step the generated ones' only.
 */
export function buildGanSteps(tf: TF, compiler: Compiler, gan: GanPair, realLabel: number, policy: readonly Augmentation[] = []) {
  const k = drawSize(policy);
  const draws = (d: Tensor[]): AugmentDraws | undefined => (k ? { policy, real: d.slice(0, k), fake: d.slice(k, 2 * k) } : undefined);
  return {
    both: compiler.step('GAN step', (real: Tensor, z: Tensor, ...d: Tensor[]) => trainGanOneStep(tf, gan, real, z, realLabel, draws(d)), optimizerHooks(gan.optD, gan.optG)),
    discriminator: compiler.step('discriminator step', (real: Tensor, z: Tensor, ...d: Tensor[]) => trainDiscriminatorOneStep(tf, gan, real, z, realLabel, draws(d)), optimizerHooks(gan.optD)),
    generator: compiler.step('generator step', (z: Tensor, ...d: Tensor[]) => trainGeneratorOneStep(tf, gan, z, k ? { policy, real: [], fake: d } : undefined), optimizerHooks(gan.optG)),
  };
}

/**
 * The mode-seeking term of MSGAN (Mao et al. 2019), unconditional: the batch's first half paired
 * with its second, 1 / (mean |G(z₁) − G(z₂)| / mean |z₁ − z₂| + 1e-5) as in the authors' code.
 * Small when different latents give different images; a collapsed generator (all images alike)
 * makes it large. fake: [n, h, w, c]; z: [n, latent]; n ≥ 2. Returns a scalar.
 */
export function modeSeekingLoss(tf: TF, fake: Tensor, z: Tensor): Tensor {
  const half = Math.floor(fake.shape[0]! / 2);
  const apart = (x: Tensor) => tf.mean(tf.abs(tf.sub(tf.slice(x, 0, half), tf.slice(x, half, half))));
  return tf.div(1, tf.add(tf.div(apart(fake), apart(z)), 1e-5));
}

/** One generator update: make D call G(z) real, then the weights' moving average. Returns the loss (tensor). */
export function trainGeneratorOneStep(tf: TF, gan: GanPair, z: Tensor, aug?: AugmentDraws): { gLoss: Tensor; modeSeeking?: Tensor } {
  let adversarial: Tensor | undefined;
  let modeSeeking: Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const fake = gan.g.apply(z, { training: true }) as Tensor; // [n, h, w, c]
    const logits = gan.d.apply(seen(tf, fake, aug?.policy, aug?.fake), { training: true }) as Tensor;
    const loss = tf.losses.sigmoidCrossEntropy(tf.onesLike(logits), logits) as ReturnType<TF['scalar']>;
    // A batch of one has no pair to compare (a class smaller than two images).
    if (!(gan.modeSeeking > 0) || z.shape[0]! < 2) return loss;
    // The two parts are reported apart: the adversarial one is what the loss warnings read.
    adversarial = tf.keep(loss);
    modeSeeking = tf.keep(modeSeekingLoss(tf, fake, z));
    return tf.add(loss, tf.mul(modeSeeking, gan.modeSeeking)) as ReturnType<TF['scalar']>;
  }, vars(gan.g));
  gan.optG.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
  tf.dispose(Object.values(grads));
  if (gan.ema) {
    const live = vars(gan.g);
    gan.ema.forEach((e, i) => e.assign(tf.tidy(() => tf.add(tf.mul(e, gan.emaDecay), tf.mul(live[i], 1 - gan.emaDecay)))));
  }
  if (!adversarial) return { gLoss: value };
  value.dispose();
  return { gLoss: adversarial, modeSeeking: modeSeeking! };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: every weight of both networks (incl. batch-norm statistics), both optimisers and
// the generator's moving average.

export async function saveCheckpoint(dir: string, gan: GanPair, state: object): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await saveTensors(path.join(dir, 'generator'), gan.g.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
  await saveTensors(path.join(dir, 'discriminator'), gan.d.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
  if (gan.ema) await saveTensors(path.join(dir, 'generator-average'), gan.ema.map((tensor, i) => ({ name: String(i), tensor })));
  for (const [opt, file] of [[gan.optG, 'opt-g'], [gan.optD, 'opt-d']] as const) {
    const weights = await optimizerState(opt);
    await saveTensors(path.join(dir, file), weights);
    // The iteration count and Adam's accumulators are copies; the rest are the live moments.
    ownedByOptimizerState(weights).forEach((t) => t.dispose());
  }
  // state.json is written last: a checkpoint without it is incomplete and ignored.
  writeJsonAtomic(path.join(dir, 'state.json'), state);
}

export async function loadCheckpoint<S>(tf: TF, dir: string, gan: GanPair, withOptimisers = true): Promise<S> {
  const restore = (m: Model, file: string) => {
    const t = loadTensors(tf, file).map((x) => x.tensor);
    m.setWeights(t);
    tf.dispose(t);
  };
  restore(gan.g, path.join(dir, 'generator'));
  restore(gan.d, path.join(dir, 'discriminator'));
  if (gan.ema) {
    // A checkpoint from before the average was turned on starts it from the generator's weights.
    const file = path.join(dir, 'generator-average');
    const saved = fs.existsSync(`${file}.json`) ? loadTensors(tf, file).map((x) => x.tensor) : undefined;
    gan.ema.forEach((e, i) => (saved ? e.assign(saved[i]) : assignOwnCopy(tf, e, vars(gan.g)[i])));
    if (saved) tf.dispose(saved);
  }
  if (withOptimisers) {
    // Adam creates its slots lazily; setWeights restores iterations and moments by name.
    for (const [opt, file] of [[gan.optG, 'opt-g'], [gan.optD, 'opt-d']] as const) {
      const saved = loadTensors(tf, path.join(dir, file));
      await restoreOptimizerState(opt, saved); // copies into new variables
      tf.dispose(saved.map((s) => s.tensor));
    }
  }
  return readJsonFile<S>(path.join(dir, 'state.json'));
}

/** The generator as `generate` loads it (with its moving average when it keeps one): snapshots and the final state. */
function saveGenerator(tf: TF, file: string, gan: GanPair): Promise<void> {
  return withGeneratorAverage(tf, gan, () => saveTensors(file, gan.g.getWeights().map((tensor, i) => ({ name: String(i), tensor }))));
}

interface TrainState {
  epoch: number;
  quietDiscriminatorEpochs: number;
}

/** An epoch's mean discriminator loss under this: it tells real from generated in nearly every batch. */
const QUIET_DISCRIMINATOR_LOSS = 0.05;
const QUIET_EPOCHS_TO_WARN = 5;

/**
 * The warning for a discriminator that has won for `quietEpochs` epochs in a row up to `epoch`,
 * once, when the streak reaches five; it names the epochs so a reader can find them on the loss
 * chart (a streak often ends by itself, and the warning alone cannot say whether it did).
 */
export function quietDiscriminatorWarning(quietEpochs: number, epoch: number): string | undefined {
  if (quietEpochs !== QUIET_EPOCHS_TO_WARN) return undefined;
  return `discriminator loss below ${QUIET_DISCRIMINATOR_LOSS} in epochs ${epoch - quietEpochs + 1}–${epoch}; the generator may have stopped learning (see the d_loss chart for whether it recovers)`;
}

/** Mean pairwise L2 distance between the first 32 images of a batch [n, h, w, c]. */
export function meanPairwiseDistance(tf: TF, images: Tensor): number {
  return tf.tidy(() => {
    const n = Math.min(32, images.shape[0]!);
    const flat = tf.reshape(tf.slice(images, 0, n), [n, -1]);
    const sq = tf.sum(tf.square(flat), 1, true);
    const d2 = tf.relu(tf.sub(tf.add(sq, tf.transpose(sq)), tf.mul(2, tf.matMul(flat, flat, false, true))));
    return (tf.sum(tf.sqrt(tf.add(d2, 1e-12))).dataSync()[0] - n * 1e-6) / (n * (n - 1));
  });
}

/**
 * G(z) with batch statistics in batch-norm, as the reference DCGAN samples (it never switches
 * the generator to inference mode); moving averages lag far behind a GAN's fast-moving layers.
 */
export function sampleImages(tf: TF, g: Model, z: Tensor): Tensor {
  return tf.tidy(() => g.apply(z, { training: true }) as Tensor);
}


/** Generator weights after `epoch`, kept for a GAN-epoch ablation. */
const snapshotFile = (classDir: string, epoch: number) => path.join(classDir, 'snapshots', `epoch-${String(epoch).padStart(4, '0')}`, 'generator');

async function trainClass(tf: TF, real: ImageSet, className: string, label: string, o: DcganOptions, ctx: PluginContext): Promise<void> {
  const dir = classFolder(ctx.workDir, className);
  const ckpt = path.join(dir, 'checkpoint');
  const arch: DcganArchitecture = { size: real.height, channels: real.channels, latentDim: o.latentDim, ngf: o.ngf, ndf: o.ndf, seed: deriveSeed(ctx.seed, 'dcgan', className) % 1_000_000 };
  const gan = buildGan(tf, arch, o);
  const compiler = new Compiler(tf, { mode: 'auto', ...ctx.compile, owner: 'synthmix:dcgan', warn: ctx.warn });
  const steps = buildGanSteps(tf, compiler, gan, o.realLabel, o.augment);
  let state: TrainState = { epoch: 0, quietDiscriminatorEpochs: 0 };
  try {
    if (fs.existsSync(path.join(ckpt, 'state.json'))) state = await loadCheckpoint<TrainState>(tf, ckpt, gan);
    // Batches are read from the set (its bytes when it keeps them): no float32 copy of the whole pool.
    const shape = [real.height, real.width, real.channels] as const;
    const fixedZ = latentBatch(tf, o.samplesPerGrid, o.latentDim, deriveSeed(ctx.seed, 'fixed-z', className));
    const first = Array.from({ length: Math.min(32, real.count) }, (_, i) => i);
    const realDiversity = tf.tidy(() => meanPairwiseDistance(tf, tf.tensor4d(imageRows(real, first), [first.length, ...shape])));
    const stepsPerEpoch = Math.max(1, Math.floor(real.count / o.batchSize));
    try {
      for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
        if (ctx.signal.aborted) break;
        const random = createRng(deriveSeed(ctx.seed, 'dcgan-epoch', className, epoch));
        // Augmentation draws from a stream of their own, so the batches and latents do not change with the policy.
        const augmentRandom = createRng(deriveSeed(ctx.seed, 'dcgan-augment', className, epoch));
        const draw = (n: number) => (o.augment.length ? drawAugmentation(tf, o.augment, n, real.height, real.width, augmentRandom, o.augmentProbability) : []);
        // A discriminator update's draws: the real images' then the generated ones'.
        const discriminatorDraws = (n: number) => [...draw(n), ...draw(n)];
        const order = shuffled(Array.from({ length: real.count }, (_, i) => i), random);
        const sums = { d: [] as Tensor[], g: [] as Tensor[], dx: [] as Tensor[], dgz: [] as Tensor[], ms: [] as Tensor[] };
        for (let step = 0; step < stepsPerEpoch; step++) {
          const rows = order.slice(step * o.batchSize, (step + 1) * o.batchSize);
          const batch = tf.tensor4d(imageRows(real, rows), [rows.length, ...shape]); // [b, h, w, c]
          // [b, latent]; with one D step per G step both use this z (G(z) computed once when compiled).
          const z = latentBatch(tf, batch.shape[0]!, o.latentDim, Math.floor(random() * 2 ** 32));
          if (o.dStepsPerGStep === 1) {
            const d = discriminatorDraws(batch.shape[0]!);
            const r = steps.both.run(batch, z, ...d);
            tf.dispose(d);
            sums.d.push(r.dLoss);
            sums.dx.push(r.dReal);
            sums.dgz.push(r.dFake);
            sums.g.push(r.gLoss);
            if (r.modeSeeking) sums.ms.push(r.modeSeeking);
          } else {
            for (let k = 0; k < o.dStepsPerGStep; k++) {
              const zD = k === 0 ? z : latentBatch(tf, batch.shape[0]!, o.latentDim, Math.floor(random() * 2 ** 32));
              const d = discriminatorDraws(batch.shape[0]!);
              const r = steps.discriminator.run(batch, zD, ...d);
              tf.dispose(d);
              if (zD !== z) zD.dispose();
              sums.d.push(r.dLoss);
              sums.dx.push(r.dReal);
              sums.dgz.push(r.dFake);
            }
            const d = draw(batch.shape[0]!);
            const r = steps.generator.run(z, ...d);
            sums.g.push(r.gLoss);
            if (r.modeSeeking) sums.ms.push(r.modeSeeking);
            tf.dispose(d);
          }
          tf.dispose([z, batch]);
          // Let the UI, the tracker and a stop request in between steps of a long epoch.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        // One device→host read per epoch, not per step: reads stall the pipeline.
        // Sample grids, checkpoints and snapshots below read the tfjs models.
        compiler.sync();
        const [dLoss, gLoss, dx, dgz, ms] = await Promise.all([sums.d, sums.g, sums.dx, sums.dgz, sums.ms].map(async (list) => {
          if (!list.length) return NaN;
          const m = tf.tidy(() => tf.mean(tf.stack(list)));
          const v = (await m.data())[0];
          tf.dispose([m, ...list]);
          return v;
        }));
        await ctx.progress({ step: epoch, total: o.epochs, unit: 'epoch', label, metrics: { [`${className}_d_loss`]: dLoss, [`${className}_g_loss`]: gLoss, [`${className}_d_x`]: dx, [`${className}_d_g_z`]: dgz, ...(sums.ms.length ? { [`${className}_mode_seeking`]: ms } : {}) } });
        state.quietDiscriminatorEpochs = dLoss < QUIET_DISCRIMINATOR_LOSS ? state.quietDiscriminatorEpochs + 1 : 0;
        const quiet = quietDiscriminatorWarning(state.quietDiscriminatorEpochs, epoch);
        if (quiet) ctx.warn(`${label}: ${quiet}`);
        if (!Number.isFinite(gLoss) || gLoss > 15) ctx.warn(`${label}: generator loss ${gLoss.toFixed(2)} at epoch ${epoch} (exploding)`);
        state.epoch = epoch;
        // A GAN-epoch ablation asked for the generator as it is now.
        if (ctx.snapshotEpochs?.includes(epoch)) await saveGenerator(tf, snapshotFile(dir, epoch), gan);
        if (epoch % o.checkpointEvery === 0 || epoch === o.epochs) {
          const samples = withGeneratorAverage(tf, gan, () => sampleImages(tf, gan.g, fixedZ)); // [s, h, w, c]
          const diversity = meanPairwiseDistance(tf, samples);
          if (diversity < 0.3 * realDiversity) ctx.warn(`${label}: sample diversity ${diversity.toFixed(2)} is under 30 % of the real images' ${realDiversity.toFixed(2)} at epoch ${epoch} (mode collapse?)`);
          ctx.metric(`${className}_diversity_ratio`, diversity / realDiversity, epoch);
          const grid = path.join(dir, 'samples', `epoch-${String(epoch).padStart(4, '0')}.png`);
          fs.mkdirSync(path.dirname(grid), { recursive: true });
          fs.writeFileSync(grid, await imageGridPng({ images: (await samples.data()) as Float32Array, height: real.height, width: real.width, channels: real.channels }, o.samplesPerGrid, 8));
          samples.dispose();
          ctx.artifact(grid, `${label}: samples from fixed latents at epoch ${epoch}`, `samples/${safeFileName(className)}`);
          await saveCheckpoint(ckpt, gan, state);
        }
      }
    } finally {
      fixedZ.dispose();
    }
    if (state.epoch === o.epochs) {
      fs.mkdirSync(path.join(dir, 'final'), { recursive: true });
      await saveGenerator(tf, path.join(dir, 'final', 'generator'), gan);
    }
  } finally {
    compiler.dispose();
    disposeGan(tf, gan);
  }
}

export default function dcgan(): GeneratorPlugin<DcganOptions> {
  return {
    kind: 'generator',
    name: 'synthmix:dcgan',
    version: VERSION,
    description: 'DCGAN (Radford et al.), one per class; Adam 2e-4 β1 0.5, label smoothing, checkpoints and sample grids.',
    optionsSchema: optionsSchema as unknown as Record<string, unknown>,
    logs: { losses: ['*_d_loss', '*_g_loss'], sampleGrids: 'samples/{class}' },
    snapshots: true,
    async train(real, options, ctx) {
      checkSnapshotEpochs(ctx, options.epochs);
      await trainPerClass(real, ctx, (images, className, label) => trainClass(ctx.tf, images, className, label, options, ctx));
    },
    async generate(request, options, ctx) {
      const { tf } = ctx;
      // The trained generator, or its snapshot after `request.epoch` (GAN-epoch ablation).
      const state = (className: string) => (request.epoch === undefined ? path.join(classFolder(ctx.workDir, className), 'final', 'generator') : snapshotFile(classFolder(ctx.workDir, className), request.epoch));
      const set = await generatePerClass(request, ctx, { name: 'synthmix:dcgan', version: VERSION, details: { epochs: request.epoch ?? options.epochs } },
        state,
        (className) => {
          const g = buildGenerator(tf, { size: request.height, channels: request.channels, latentDim: options.latentDim, ngf: options.ngf, ndf: options.ndf, seed: 0 });
          const weights = loadTensors(tf, state(className)).map((t) => t.tensor);
          g.setWeights(weights);
          tf.dispose(weights);
          return {
            async sample(start, n) {
              const z = latentBatch(tf, n, options.latentDim, deriveSeed(ctx.seed, 'generate', className, start));
              const out = sampleImages(tf, g, z); // [n, h, w, c] in [-1, 1] (tanh)
              const data = (await out.data()) as Float32Array;
              tf.dispose([z, out]);
              return data;
            },
            dispose: () => g.dispose(),
          };
        }, 128);
      if (options.writePngs) {
        for (let i = 0; i < set.count; i++) {
          const dir = path.join(classFolder(ctx.workDir, set.classNames[set.labels[i]]), 'generated');
          fs.mkdirSync(dir, { recursive: true });
          fs.writeFileSync(path.join(dir, `${String(i % request.countPerClass).padStart(5, '0')}.png`), await imagePng(set, i));
        }
        ctx.artifact(path.join(classFolder(ctx.workDir, set.classNames[0]), 'generated'), 'generated images as PNG');
      }
      return set;
    },
  };
}
