/**
 * Generator plugin `dcgan`: one DCGAN per class, trained on that class's real images, with
 * exact resume from checkpoints, fixed-latent sample grids and failure warnings.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GeneratorPlugin, ImageSet, PluginContext, TF } from '@synthmix/core';
import { packageVersion, readJsonFile, safeFileName, writeJsonAtomic, checkSnapshotEpochs, classFolder, createRng, deriveSeed, generatePerClass, loadTensors, optimizerState, ownedByOptimizerState, restoreOptimizerState, saveTensors, shuffled, trainPerClass } from '@synthmix/core';
import { imageGridPng, imagePng, normalArray } from '@synthmix/data';
import { Compiler, optimizerHooks } from '@synthmix/compile';
import { buildDiscriminator, buildGenerator, type DcganArchitecture } from './model.js';

const VERSION = packageVersion(import.meta.url);

export { buildDiscriminator, buildGenerator, stages } from './model.js';

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
    checkpointEvery: { type: 'integer', minimum: 1, default: 5, description: 'Epochs between checkpoints and sample grids.' },
    samplesPerGrid: { type: 'integer', minimum: 1, maximum: 256, default: 32 },
    writePngs: { type: 'boolean', default: false, description: 'Write every generated image as a PNG in the state folder (<class>/generated/).' },
  },
} as const;

type Model = ReturnType<typeof buildGenerator>;
type Tensor = ReturnType<TF['tensor']>;

export interface GanPair {
  g: Model;
  d: Model;
  optG: ReturnType<TF['train']['adam']>;
  optD: ReturnType<TF['train']['adam']>;
  arch: DcganArchitecture;
}

export function buildGan(tf: TF, arch: DcganArchitecture, o: Pick<DcganOptions, 'learningRate' | 'beta1'>): GanPair {
  return { g: buildGenerator(tf, arch), d: buildDiscriminator(tf, arch), optG: tf.train.adam(o.learningRate, o.beta1), optD: tf.train.adam(o.learningRate, o.beta1), arch };
}

/** Standard-normal latent vectors from a seeded stream (Box–Muller), so z is reproducible. */
export function latentBatch(tf: TF, n: number, dim: number, seed: number): Tensor {
  return tf.tensor2d(normalArray(createRng(seed), n * dim), [n, dim]);
}

const vars = (m: Model) => m.trainableWeights.map((w) => w.read() as unknown as ReturnType<TF['variable']>);

/** One discriminator update. real: [n, h, w, c]; z: [n, latent]. Returns scalars (tensors). */
export function trainDiscriminatorOneStep(tf: TF, gan: GanPair, real: Tensor, z: Tensor, realLabel: number) {
  let dReal: Tensor | undefined;
  let dFake: Tensor | undefined;
  const { value, grads } = tf.variableGrads(() => {
    const fake = gan.g.apply(z, { training: true }) as Tensor; // [n, h, w, c]
    const logitsReal = gan.d.apply(real, { training: true }) as Tensor; // [n, 1]
    const logitsFake = gan.d.apply(fake, { training: true }) as Tensor; // [n, 1]
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
 * second computation is the same ops on the same inputs and is merged with the first.
 * real: [n, h, w, c]; z: [n, latent].
 */
export function trainGanOneStep(tf: TF, gan: GanPair, real: Tensor, z: Tensor, realLabel: number) {
  return { ...trainDiscriminatorOneStep(tf, gan, real, z, realLabel), ...trainGeneratorOneStep(tf, gan, z) };
}

/** The training steps of a GAN pair through a compiler: both updates, or one of each kind. */
export function buildGanSteps(tf: TF, compiler: Compiler, gan: GanPair, realLabel: number) {
  return {
    both: compiler.step('GAN step', (real: Tensor, z: Tensor) => trainGanOneStep(tf, gan, real, z, realLabel), optimizerHooks(gan.optD, gan.optG)),
    discriminator: compiler.step('discriminator step', (real: Tensor, z: Tensor) => trainDiscriminatorOneStep(tf, gan, real, z, realLabel), optimizerHooks(gan.optD)),
    generator: compiler.step('generator step', (z: Tensor) => trainGeneratorOneStep(tf, gan, z), optimizerHooks(gan.optG)),
  };
}

/** One generator update: make D call G(z) real. Returns the loss (tensor). */
export function trainGeneratorOneStep(tf: TF, gan: GanPair, z: Tensor) {
  const { value, grads } = tf.variableGrads(() => {
    const logits = gan.d.apply(gan.g.apply(z, { training: true }) as Tensor, { training: true }) as Tensor;
    return tf.losses.sigmoidCrossEntropy(tf.onesLike(logits), logits) as ReturnType<TF['scalar']>;
  }, vars(gan.g));
  gan.optG.applyGradients(Object.entries(grads).map(([name, tensor]) => ({ name, tensor })));
  tf.dispose(Object.values(grads));
  return { gLoss: value };
}

// ---------------------------------------------------------------------------------------------
// Checkpoints: every weight of both networks (incl. batch-norm statistics) and both optimisers.

export async function saveCheckpoint(dir: string, gan: GanPair, state: object): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await saveTensors(path.join(dir, 'generator'), gan.g.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
  await saveTensors(path.join(dir, 'discriminator'), gan.d.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
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

interface TrainState {
  epoch: number;
  quietDiscriminatorEpochs: number;
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
  const steps = buildGanSteps(tf, compiler, gan, o.realLabel);
  let state: TrainState = { epoch: 0, quietDiscriminatorEpochs: 0 };
  try {
    if (fs.existsSync(path.join(ckpt, 'state.json'))) state = await loadCheckpoint<TrainState>(tf, ckpt, gan);
    const x = tf.tensor4d(real.images, [real.count, real.height, real.width, real.channels]);
    const fixedZ = latentBatch(tf, o.samplesPerGrid, o.latentDim, deriveSeed(ctx.seed, 'fixed-z', className));
    const realDiversity = meanPairwiseDistance(tf, x);
    const stepsPerEpoch = Math.max(1, Math.floor(real.count / o.batchSize));
    try {
      for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
        if (ctx.signal.aborted) break;
        const random = createRng(deriveSeed(ctx.seed, 'dcgan-epoch', className, epoch));
        const order = shuffled(Array.from({ length: real.count }, (_, i) => i), random);
        const sums = { d: [] as Tensor[], g: [] as Tensor[], dx: [] as Tensor[], dgz: [] as Tensor[] };
        for (let step = 0; step < stepsPerEpoch; step++) {
          const idx = tf.tensor1d(order.slice(step * o.batchSize, (step + 1) * o.batchSize), 'int32');
          const batch = tf.gather(x, idx); // [b, h, w, c]
          // [b, latent]; with one D step per G step both use this z (G(z) computed once when compiled).
          const z = latentBatch(tf, batch.shape[0]!, o.latentDim, Math.floor(random() * 2 ** 32));
          if (o.dStepsPerGStep === 1) {
            const r = steps.both.run(batch, z);
            sums.d.push(r.dLoss);
            sums.dx.push(r.dReal);
            sums.dgz.push(r.dFake);
            sums.g.push(r.gLoss);
          } else {
            for (let k = 0; k < o.dStepsPerGStep; k++) {
              const zD = k === 0 ? z : latentBatch(tf, batch.shape[0]!, o.latentDim, Math.floor(random() * 2 ** 32));
              const r = steps.discriminator.run(batch, zD);
              if (zD !== z) zD.dispose();
              sums.d.push(r.dLoss);
              sums.dx.push(r.dReal);
              sums.dgz.push(r.dFake);
            }
            sums.g.push(steps.generator.run(z).gLoss);
          }
          tf.dispose([z, idx, batch]);
          // Let the UI, the tracker and a stop request in between steps of a long epoch.
          await new Promise<void>((resolve) => setImmediate(resolve));
        }
        // One device→host read per epoch, not per step: reads stall the pipeline.
        // Sample grids, checkpoints and snapshots below read the tfjs models.
        compiler.sync();
        const [dLoss, gLoss, dx, dgz] = await Promise.all([sums.d, sums.g, sums.dx, sums.dgz].map(async (list) => {
          const m = tf.tidy(() => tf.mean(tf.stack(list)));
          const v = (await m.data())[0];
          tf.dispose([m, ...list]);
          return v;
        }));
        await ctx.progress({ step: epoch, total: o.epochs, unit: 'epoch', label, metrics: { [`${className}_d_loss`]: dLoss, [`${className}_g_loss`]: gLoss, [`${className}_d_x`]: dx, [`${className}_d_g_z`]: dgz } });
        state.quietDiscriminatorEpochs = dLoss < 0.05 ? state.quietDiscriminatorEpochs + 1 : 0;
        if (state.quietDiscriminatorEpochs === 5) ctx.warn(`${label}: discriminator loss below 0.05 for 5 epochs; the generator may have stopped learning`);
        if (!Number.isFinite(gLoss) || gLoss > 15) ctx.warn(`${label}: generator loss ${gLoss.toFixed(2)} at epoch ${epoch} (exploding)`);
        state.epoch = epoch;
        // A GAN-epoch ablation asked for the generator as it is now.
        if (ctx.snapshotEpochs?.includes(epoch)) await saveTensors(snapshotFile(dir, epoch), gan.g.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
        if (epoch % o.checkpointEvery === 0 || epoch === o.epochs) {
          const samples = sampleImages(tf, gan.g, fixedZ); // [s, h, w, c]
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
      tf.dispose([x, fixedZ]);
    }
    if (state.epoch === o.epochs) {
      fs.mkdirSync(path.join(dir, 'final'), { recursive: true });
      await saveTensors(path.join(dir, 'final', 'generator'), gan.g.getWeights().map((tensor, i) => ({ name: String(i), tensor })));
    }
  } finally {
    compiler.dispose();
    gan.g.dispose();
    gan.d.dispose();
    gan.optG.dispose();
    gan.optD.dispose();
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
