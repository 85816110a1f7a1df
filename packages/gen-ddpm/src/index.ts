/**
 * Generator plugin `ddpm`: a denoising diffusion model (Ho et al. 2020) per class — a small U-Net
 * predicting the noise, a linear or cosine schedule over T steps, EMA weights — sampled with DDIM
 * (Song et al. 2021) in a configurable number of steps, so 500 images per class stay practical.
 * Same contract and outputs as the DCGAN: checkpoints with exact resume, sample grids from fixed
 * noise, loss per epoch, provenance.
 */
import fs from 'node:fs';
import path from 'node:path';
import type { GeneratorPlugin, ImageSet, PluginContext, TF } from '@synthmix/core';
import { packageVersion, readJsonFile, safeFileName, writeJsonAtomic, checkSnapshotEpochs, classFolder, createRng, deriveSeed, generatePerClass, loadTensors, optimizerState, ownedByOptimizerState, restoreOptimizerState, normalArray, saveTensors, shuffled, trainPerClass } from '@synthmix/core';
import { imageGridPng, imageRows } from '@synthmix/data';
import { Unet, type UnetArchitecture } from './unet.js';
import { assignOwnCopy, Compiler, optimizerHooks, ownVariable, type CompiledStep } from '@synthmix/compile';

export { Unet } from './unet.js';

type Tensor = ReturnType<TF['tensor']>;

export interface DdpmOptions {
  preset: 'cpu' | 'gpu';
  epochs: number;
  batchSize: number;
  learningRate: number;
  widths: [number, number, number];
  timeDim: number;
  timesteps: number;
  schedule: 'linear' | 'cosine';
  emaDecay: number;
  samplingSteps: number;
  checkpointEvery: number;
  samplesPerGrid: number;
}

/**
 * Presets fill every option the manifest leaves out. `cpu`: the quality ladder's best rung at
 * 32×32 on 2 CPU cores (docs/results/quality-ladder.md: U-Net 32/64/128, 200 epochs, 50 DDIM
 * steps, ≈ 23 min per seed for two classes with compiled steps; tumour slices pass the quality
 * check, healthy ones are still warned). The earlier `cpu` (16/32/64, 30 epochs) made no anatomy.
 * `gpu`: the width and length a GPU affords for the paper's 64×64 images.
 */
export const PRESETS: Record<DdpmOptions['preset'], Omit<DdpmOptions, 'preset' | 'learningRate' | 'schedule' | 'emaDecay' | 'checkpointEvery' | 'samplesPerGrid' | 'timesteps'>> = {
  cpu: { epochs: 200, batchSize: 32, widths: [32, 64, 128], timeDim: 64, samplingSteps: 50 },
  gpu: { epochs: 500, batchSize: 64, widths: [64, 128, 256], timeDim: 128, samplingSteps: 100 },
};

const VERSION = packageVersion(import.meta.url);

export const optionsSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    preset: { enum: ['cpu', 'gpu'], default: 'cpu', description: 'Fills epochs, batchSize, widths, timeDim and samplingSteps when they are not given.' },
    epochs: { type: 'integer', minimum: 1, description: 'Training epochs per class (default: from the preset).' },
    batchSize: { type: 'integer', minimum: 1, description: 'Images per step (default: from the preset).' },
    learningRate: { type: 'number', exclusiveMinimum: 0, default: 0.0002 },
    widths: { type: 'array', items: { type: 'integer', minimum: 1 }, minItems: 3, maxItems: 3, description: 'U-Net widths at full, half and quarter resolution (default: from the preset).' },
    timeDim: { type: 'integer', minimum: 2, multipleOf: 2, description: 'Size of the sinusoidal time embedding (default: from the preset).' },
    timesteps: { type: 'integer', minimum: 2, default: 1000, description: 'T, the length of the noise schedule.' },
    schedule: { enum: ['linear', 'cosine'], default: 'linear' },
    emaDecay: { type: 'number', minimum: 0, exclusiveMaximum: 1, default: 0.995 },
    samplingSteps: { type: 'integer', minimum: 1, description: 'DDIM steps when generating (default: from the preset).' },
    checkpointEvery: { type: 'integer', minimum: 1, default: 5 },
    samplesPerGrid: { type: 'integer', minimum: 1, maximum: 256, default: 16 },
  },
} as const;

/** The preset's values under the ones given. */
export function resolveOptions(options: Partial<DdpmOptions>): DdpmOptions {
  const preset = options.preset ?? 'cpu';
  const given = Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined));
  return { learningRate: 2e-4, timesteps: 1000, schedule: 'linear', emaDecay: 0.995, checkpointEvery: 5, samplesPerGrid: 16, ...PRESETS[preset], ...given, preset } as DdpmOptions;
}

/** ᾱ_t for t = 0…T−1. */
export function alphasCumprod(schedule: 'linear' | 'cosine', T: number): Float64Array {
  const out = new Float64Array(T);
  if (schedule === 'linear') {
    let prod = 1;
    for (let t = 0; t < T; t++) {
      // Ho et al.'s 1e-4 … 0.02 at T = 1000, scaled so shorter schedules end as noisy.
      const beta = (1e-4 + ((0.02 - 1e-4) * t) / Math.max(1, T - 1)) * (1000 / T);
      prod *= 1 - Math.min(beta, 0.999);
      out[t] = prod;
    }
  } else {
    const f = (t: number) => Math.cos((((t / T) + 0.008) / 1.008) * (Math.PI / 2)) ** 2;
    for (let t = 0; t < T; t++) out[t] = Math.max(1e-5, f(t + 1) / f(0));
  }
  return out;
}

interface Model {
  unet: Unet;
  ema: Map<string, ReturnType<TF['variable']>>;
  optimizer: ReturnType<TF['train']['adam']>;
}

/** The U-Net, its weights' moving average and Adam: what one diffusion model trains. */
export function buildModel(tf: TF, arch: UnetArchitecture, o: Pick<DdpmOptions, 'learningRate'>): Model {
  const unet = new Unet(tf, arch);
  const ema = new Map([...unet.params].map(([k, v]) => [k, ownVariable(tf, v)]));
  return { unet, ema, optimizer: tf.train.adam(o.learningRate) };
}

/**
 * One noise-prediction step as a step function of tensors (compiled by @synthmix/compile):
 * x0 [n, s, s, c], a = √ᾱ_t and b = √(1−ᾱ_t) [n, 1, 1, 1], ε [n, s, s, c], the embedding of t
 * [n, timeDim] → x_t = a·x0 + b·ε → loss ‖ε − ε̂(x_t, t)‖², one Adam step, then the EMA update.
 */
export function ddpmStepFunction(tf: TF, model: Model, emaDecay: number) {
  return (x0: Tensor, a: Tensor, b: Tensor, eps: Tensor, tEmbedding: Tensor) => {
    const loss = model.optimizer.minimize(() => {
      const xt = tf.add(tf.mul(a, x0), tf.mul(b, eps));
      return tf.mean(tf.square(tf.sub(eps, model.unet.applyEmbedded(xt, tEmbedding)))) as ReturnType<TF['scalar']>;
    }, true, model.unet.variables)!;
    // EMA of the weights, which is what sampling uses.
    for (const [k, v] of model.unet.params) {
      const e = model.ema.get(k)!;
      e.assign(tf.add(tf.mul(e, emaDecay), tf.mul(v, 1 - emaDecay)));
    }
    return { loss };
  };
}

export type DdpmStep = CompiledStep<Tensor[], { loss: Tensor }>;

export function buildDdpmStep(tf: TF, compiler: Compiler, model: Model, emaDecay: number): DdpmStep {
  return compiler.step('diffusion step', ddpmStepFunction(tf, model, emaDecay) as (...t: Tensor[]) => { loss: Tensor }, optimizerHooks(model.optimizer));
}

/**
 * One noise-prediction step: x0 [n, s, s, c] → x_t = √ᾱ x0 + √(1−ᾱ) ε → ‖ε − ε̂(x_t, t)‖².
 * `t` and `noise` come from the caller's seeded stream, so a step is reproducible. With `step`
 * (from {@link buildDdpmStep}) it runs compiled; without, eagerly.
 */
export function trainDdpmOneStep(tf: TF, model: Model, x0: Tensor, t: Int32Array, noise: Float32Array, abar: Float64Array, emaDecay: number, step?: DdpmStep): Tensor {
  const n = x0.shape[0]!;
  const inputs = [
    x0,
    tf.tensor4d(Float32Array.from(t, (ti) => Math.sqrt(abar[ti])), [n, 1, 1, 1]),
    tf.tensor4d(Float32Array.from(t, (ti) => Math.sqrt(1 - abar[ti])), [n, 1, 1, 1]),
    tf.tensor(noise, x0.shape),
    model.unet.timeEmbedding(t),
  ];
  const { loss } = step ? step.run(...inputs) : tf.tidy(() => ddpmStepFunction(tf, model, emaDecay)(...(inputs as [Tensor, Tensor, Tensor, Tensor, Tensor])));
  tf.dispose(inputs.slice(1));
  return loss;
}

/** Swaps the U-Net's weights for their EMA while `fn` runs. */
async function withEma<T>(tf: TF, model: Model, fn: () => Promise<T>): Promise<T> {
  const saved = new Map([...model.unet.params].map(([k, v]) => [k, v.clone()]));
  for (const [k, v] of model.unet.params) assignOwnCopy(tf, v, model.ema.get(k)!);
  try {
    return await fn();
  } finally {
    for (const [k, v] of model.unet.params) v.assign(saved.get(k)!);
    tf.dispose([...saved.values()]);
  }
}

/**
 * One DDIM update as a step function of tensors: x_t [n, s, s, c], the embedding of t
 * [n, timeDim], c = [√(1−ᾱ_t), √ᾱ_t, √ᾱ_prev, √(1−ᾱ_prev)] → x_prev (x̂0 itself at the last
 * update, where c ends in [1, 0]). x̂0 is clipped to the image range and ε recomputed from the
 * clipped x̂0, so the step's two halves agree (as diffusers' DDIM does); with the raw ε, a sample
 * whose ε̂ is off early keeps that error in every later step and ends as coloured noise.
 */
export function ddimStepFunction(tf: TF, unet: Unet) {
  return (x: Tensor, tEmbedding: Tensor, c: Tensor) => {
    const [c0, c1, c2, c3] = tf.split(c, 4);
    const eps = unet.applyEmbedded(x, tEmbedding);
    const x0 = tf.clipByValue(tf.div(tf.sub(x, tf.mul(c0, eps)), c1), -1, 1);
    const epsOfX0 = tf.div(tf.sub(x, tf.mul(c1, x0)), c0);
    return { x: tf.add(tf.mul(c2, x0), tf.mul(c3, epsOfX0)) };
  };
}

export type DdimStep = CompiledStep<Tensor[], { x: Tensor }>;

export function buildDdimStep(tf: TF, compiler: Compiler, unet: Unet): DdimStep {
  return compiler.step('DDIM sampling step', ddimStepFunction(tf, unet) as (...t: Tensor[]) => { x: Tensor });
}

/**
 * Deterministic DDIM (η = 0) from seeded noise: returns [n, s, s, c] in [-1, 1]. With `step`
 * (from {@link buildDdimStep}) each update runs compiled.
 */
export function ddimSample(tf: TF, unet: Unet, n: number, abar: Float64Array, steps: number, seed: number, step?: DdimStep): Tensor {
  const { size, channels } = unet.arch;
  const T = abar.length;
  const taus = Array.from({ length: Math.min(steps, T) }, (_, i) => Math.round(((T - 1) * i) / Math.max(1, Math.min(steps, T) - 1)));
  const update = step ? (...t: Tensor[]) => step.run(...t) : (...t: Tensor[]) => tf.tidy(() => ddimStepFunction(tf, unet)(t[0], t[1], t[2]));
  let x: Tensor = tf.tensor4d(normalArray(createRng(seed), n * size * size * channels), [n, size, size, channels]);
  for (let i = taus.length - 1; i >= 0; i--) {
    const t = taus[i];
    const prev = i > 0 ? abar[taus[i - 1]] : 1;
    const tEmbedding = unet.timeEmbedding(new Int32Array(n).fill(t));
    const c = tf.tensor1d([Math.sqrt(1 - abar[t]), Math.sqrt(abar[t]), Math.sqrt(prev), Math.sqrt(1 - prev)]);
    const next = update(x, tEmbedding, c).x;
    tf.dispose([x, tEmbedding, c]);
    x = next;
  }
  return x;
}

// --- checkpoints -------------------------------------------------------------------------------

/** The EMA weights (what sampling uses) as a tensor file: checkpoint, snapshot and final state. */
function saveEma(file: string, model: Model): Promise<void> {
  return saveTensors(file, [...model.ema].map(([name, tensor]) => ({ name, tensor })));
}

async function saveCheckpoint(dir: string, model: Model, state: object): Promise<void> {
  fs.mkdirSync(dir, { recursive: true });
  await saveTensors(path.join(dir, 'weights'), [...model.unet.params].map(([name, tensor]) => ({ name, tensor })));
  await saveEma(path.join(dir, 'ema'), model);
  const opt = await optimizerState(model.optimizer);
  await saveTensors(path.join(dir, 'adam'), opt);
  ownedByOptimizerState(opt).forEach((t) => t.dispose());
  // state.json is written last: a checkpoint without it is incomplete and ignored.
  writeJsonAtomic(path.join(dir, 'state.json'), state);
}

function restore(tf: TF, target: Map<string, ReturnType<TF['variable']>>, file: string): void {
  const loaded = loadTensors(tf, file);
  for (const { name, tensor } of loaded) target.get(name)!.assign(tensor);
  tf.dispose(loaded.map((l) => l.tensor));
}

async function loadCheckpoint<S>(tf: TF, dir: string, model: Model): Promise<S> {
  restore(tf, model.unet.params, path.join(dir, 'weights'));
  restore(tf, model.ema, path.join(dir, 'ema'));
  const opt = loadTensors(tf, path.join(dir, 'adam'));
  await restoreOptimizerState(model.optimizer, opt);
  tf.dispose(opt.map((o) => o.tensor));
  return readJsonFile<S>(path.join(dir, 'state.json'));
}


/** EMA weights after `epoch`, kept for a generator-epoch ablation (`generator.checkpoints`). */
const snapshotFile = (classDir: string, epoch: number) => path.join(classDir, 'snapshots', `epoch-${String(epoch).padStart(4, '0')}`, 'ema');

function architecture(real: { height: number; channels: number }, o: DdpmOptions, seed: number): UnetArchitecture {
  return { size: real.height, channels: real.channels, widths: o.widths, timeDim: o.timeDim, seed };
}

async function trainClass(tf: TF, real: ImageSet, className: string, label: string, o: DdpmOptions, ctx: PluginContext): Promise<void> {
  const dir = classFolder(ctx.workDir, className);
  const ckpt = path.join(dir, 'checkpoint');
  const abar = alphasCumprod(o.schedule, o.timesteps);
  const model = buildModel(tf, architecture(real, o, deriveSeed(ctx.seed, 'ddpm', className) % 1_000_000), o);
  const compiler = new Compiler(tf, { mode: 'auto', ...ctx.compile, owner: 'synthmix:ddpm', warn: ctx.warn });
  const trainStep = buildDdpmStep(tf, compiler, model, o.emaDecay);
  const sampleStep = buildDdimStep(tf, compiler, model.unet);
  let state = { epoch: 0 };
  try {
    if (fs.existsSync(path.join(ckpt, 'state.json'))) state = await loadCheckpoint(tf, ckpt, model);
    // Batches are read from the set (its bytes when it keeps them): no float32 copy of the whole pool.
    const pixels = real.height * real.width * real.channels;
    const steps = Math.max(1, Math.floor(real.count / o.batchSize));
    for (let epoch = state.epoch + 1; epoch <= o.epochs; epoch++) {
      if (ctx.signal.aborted) break;
      const random = createRng(deriveSeed(ctx.seed, 'ddpm-epoch', className, epoch));
      const order = shuffled(Array.from({ length: real.count }, (_, i) => i), random);
      const losses: Tensor[] = [];
      for (let s = 0; s < steps; s++) {
        const idx = order.slice(s * o.batchSize, (s + 1) * o.batchSize);
        const batch = tf.tensor4d(imageRows(real, idx), [idx.length, real.height, real.width, real.channels]); // [b, s, s, c]
        const t = Int32Array.from(idx, () => Math.floor(random() * o.timesteps));
        losses.push(trainDdpmOneStep(tf, model, batch, t, normalArray(random, idx.length * pixels), abar, o.emaDecay, trainStep));
        batch.dispose();
        await new Promise<void>((resolve) => setImmediate(resolve));
      }
      // The grid (EMA weights swapped in) and the checkpoint read the tfjs variables.
      compiler.sync();
      const mean = tf.tidy(() => tf.mean(tf.stack(losses)));
      const loss = (await mean.data())[0];
      tf.dispose([mean, ...losses]);
      await ctx.progress({ step: epoch, total: o.epochs, unit: 'epoch', label, metrics: { [`${className}_loss`]: loss } });
      if (!Number.isFinite(loss)) ctx.warn(`${label}: diffusion loss is ${loss} at epoch ${epoch}`);
      state.epoch = epoch;
      // A generator-epoch ablation asked for the model as it is now (its EMA weights, which sampling uses).
      if (ctx.snapshotEpochs?.includes(epoch)) await saveEma(snapshotFile(dir, epoch), model);
      if (epoch % o.checkpointEvery === 0 || epoch === o.epochs) {
        const grid = await withEma(tf, model, async () => {
          const samples = ddimSample(tf, model.unet, o.samplesPerGrid, abar, Math.min(o.samplingSteps, 20), deriveSeed(ctx.seed, 'fixed-noise', className), sampleStep);
          const png = await imageGridPng({ images: (await samples.data()) as Float32Array, height: real.height, width: real.width, channels: real.channels }, o.samplesPerGrid, 8);
          samples.dispose();
          return png;
        });
        const file = path.join(dir, 'samples', `epoch-${String(epoch).padStart(4, '0')}.png`);
        fs.mkdirSync(path.dirname(file), { recursive: true });
        fs.writeFileSync(file, grid);
        ctx.artifact(file, `${label}: DDIM samples from fixed noise at epoch ${epoch}`, `samples/${safeFileName(className)}`);
        await saveCheckpoint(ckpt, model, state);
      }
    }
    if (state.epoch === o.epochs) {
      fs.mkdirSync(path.join(dir, 'final'), { recursive: true });
      await saveEma(path.join(dir, 'final', 'ema'), model);
    }
  } finally {
    compiler.dispose();
    model.unet.dispose();
    tf.dispose([...model.ema.values()]);
    model.optimizer.dispose();
  }
}

export default function ddpm(): GeneratorPlugin<Partial<DdpmOptions>> {
  return {
    kind: 'generator',
    name: 'synthmix:ddpm',
    version: VERSION,
    description: 'Denoising diffusion (U-Net, noise prediction, EMA), one per class; DDIM sampling.',
    optionsSchema: optionsSchema as unknown as Record<string, unknown>,
    logs: { losses: ['*_loss'], sampleGrids: 'samples/{class}' },
    snapshots: true,
    async train(real, given, ctx) {
      const options = resolveOptions(given);
      checkSnapshotEpochs(ctx, options.epochs);
      await trainPerClass(real, ctx, (images, className, label) => trainClass(ctx.tf, images, className, label, options, ctx));
    },
    async generate(request, given, ctx) {
      const options = resolveOptions(given);
      const { tf } = ctx;
      const abar = alphasCumprod(options.schedule, options.timesteps);
      // The trained model's EMA weights, or their snapshot after `request.epoch` (generator-epoch ablation).
      const emaFile = (className: string) => (request.epoch === undefined ? path.join(classFolder(ctx.workDir, className), 'final', 'ema') : snapshotFile(classFolder(ctx.workDir, className), request.epoch));
      return generatePerClass(request, ctx, { name: 'synthmix:ddpm', version: VERSION, details: { epochs: request.epoch ?? options.epochs, samplingSteps: options.samplingSteps, schedule: options.schedule } }, emaFile, (className) => {
        const unet = new Unet(tf, architecture(request, options, 0));
        restore(tf, unet.params, emaFile(className));
        const compiler = new Compiler(tf, { mode: 'auto', ...ctx.compile, owner: 'synthmix:ddpm', warn: ctx.warn });
        const step = buildDdimStep(tf, compiler, unet);
        return {
          async sample(start, n) {
            const out = ddimSample(tf, unet, n, abar, options.samplingSteps, deriveSeed(ctx.seed, 'generate', className, start), step); // [n, s, s, c]
            const data = (await out.data()) as Float32Array;
            out.dispose();
            return data;
          },
          dispose: () => {
            compiler.dispose();
            unet.dispose();
          },
        };
      });
    },
  };
}
