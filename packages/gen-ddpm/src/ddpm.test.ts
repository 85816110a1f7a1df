import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPluginShape, createRng, loadBackend, normalArray, type LoadedBackend, type PluginContext, type Progress } from '@synthmix/core';
import { phantomDataset } from '@synthmix/data';
import { Compiler, optimizerHooks, pathDifference, TOLERANCE, type CompileMode } from '@synthmix/compile';
import { swish } from './unet.js';
import ddpm, { alphasCumprod, buildDdimStep, buildDdpmStep, buildModel, ddimSample, PRESETS, resolveOptions, trainDdpmOneStep, Unet, type DdpmOptions } from './index.js';

let backend: LoadedBackend;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-ddpm-'));
beforeAll(async () => {
  backend = await loadBackend('tensorflow');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const small: DdpmOptions = { preset: 'cpu', epochs: 6, batchSize: 16, learningRate: 1e-3, widths: [8, 16, 16], timeDim: 16, timesteps: 100, schedule: 'linear', emaDecay: 0.9, samplingSteps: 10, checkpointEvery: 3, samplesPerGrid: 4 };
const real = phantomDataset({ classNames: ['tumor'], perClass: 64, size: 16, channels: 1 });

function context(workDir: string, progress: Progress[] = [], compile: CompileMode = 'auto'): PluginContext {
  return { compile: { mode: compile, xla: false }, tf: backend.tf, seed: 5, random: createRng(5), signal: new AbortController().signal, workDir, progress: async (p) => void progress.push(p), metric() {}, artifact() {}, warn() {} };
}

describe('swish with TensorFlow\'s sigmoid gradient', () => {
  it('gives tfjs\'s values and, within float32 rounding, its gradient; a compiled step runs SigmoidGrad', () => {
    const { tf } = backend;
    const x = tf.tensor4d(Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) => Math.sin(i * 1.7) * (i % 7)), [2, 5, 5, 3]);
    const dy = tf.tensor4d(Float32Array.from({ length: 2 * 5 * 5 * 3 }, (_, i) => Math.cos(i)), [2, 5, 5, 3]);
    const ours = tf.grad((input) => swish(tf as never, input as never) as never)(x as never, dy as never);
    const theirs = tf.grad((input) => tf.mul(input, tf.sigmoid(input)))(x, dy);
    expect(Array.from(swish(tf as never, x as never).dataSync())).toEqual(Array.from(tf.mul(x, tf.sigmoid(x)).dataSync()));
    const [a, b] = [ours.dataSync(), theirs.dataSync()];
    a.forEach((v, i) => expect(Math.abs(v - b[i])).toBeLessThanOrEqual(1e-6 * Math.max(1, Math.abs(b[i]))));

    // Inside a compiled step: the gradient is SigmoidGrad, and no tensors are left behind.
    const w = tf.variable(tf.ones([3]));
    const optimizer = tf.train.adam(0.01);
    const ops: string[] = [];
    const compiler = new Compiler(tf as never, { mode: 'on', owner: 'test', opTimings: (timings) => ops.push(...timings.map((t) => t.op)) });
    const step = compiler.step('swish step', (input: typeof x) => ({ loss: optimizer.minimize(() => tf.sum(swish(tf as never, tf.mul(input, w) as never) as never), true, [w])! }), optimizerHooks(optimizer));
    const run = () => tf.dispose(step.run(x).loss);
    for (let i = 0; i < 3; i++) run();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) run();
    compiler.sync();
    expect(tf.memory().numTensors).toBe(before);
    expect(ops).toContain('SigmoidGrad');
    compiler.dispose();
    optimizer.dispose();
    tf.dispose([x, dy, ours, theirs, w]);
  });
});

describe('DDPM pieces', () => {
  it('schedules fall from 1 towards 0', () => {
    for (const kind of ['linear', 'cosine'] as const) {
      const a = alphasCumprod(kind, 1000);
      expect(a[0]).toBeGreaterThan(0.99);
      expect(a[999]).toBeLessThan(0.01);
      for (let t = 1; t < 1000; t++) expect(a[t]).toBeLessThanOrEqual(a[t - 1]);
    }
  });

  it('the U-Net maps [n, s, s, c] to the same shape', () => {
    const { tf } = backend;
    const unet = new Unet(tf, { size: 16, channels: 3, widths: [8, 16, 32], timeDim: 16, seed: 1 });
    const out = tf.tidy(() => unet.apply(tf.zeros([2, 16, 16, 3]), [0, 999]));
    expect(out.shape).toEqual([2, 16, 16, 3]);
    expect(unet.countParams()).toBeGreaterThan(10_000);
    out.dispose();
    unet.dispose();
  });

  it('training steps leave no tensors behind', () => {
    const { tf } = backend;
    const unet = new Unet(tf, { size: 16, channels: 1, widths: [8, 8, 8], timeDim: 8, seed: 2 });
    const model = { unet, ema: new Map([...unet.params].map(([k, v]) => [k, tf.variable(v.clone(), false)])), optimizer: tf.train.adam(1e-3) };
    const x0 = tf.tensor4d(real.images.subarray(0, 8 * 256), [8, 16, 16, 1]);
    const abar = alphasCumprod('linear', 100);
    const random = createRng(1);
    const step = () => trainDdpmOneStep(tf, model, x0, Int32Array.from({ length: 8 }, () => Math.floor(random() * 100)), normalArray(random, 8 * 256), abar, 0.9).dispose();
    step();
    const before = tf.memory().numTensors;
    for (let i = 0; i < 5; i++) step();
    expect(tf.memory().numTensors).toBe(before);
    tf.dispose([x0, ...model.ema.values()]);
    model.optimizer.dispose();
    unet.dispose();
  });
});

describe('compiled DDPM steps', () => {
  it('20 compiled diffusion steps give the eager losses, weights and EMA (within the stated tolerance); DDIM sampling too', () => {
    const { tf } = backend;
    const x0 = tf.tensor4d(real.images.subarray(0, 8 * 256), [8, 16, 16, 1]);
    const abar = alphasCumprod('linear', 100);
    const run = (mode: CompileMode) => {
      const model = buildModel(tf, { size: 16, channels: 1, widths: [8, 16, 16], timeDim: 8, seed: 2 }, { learningRate: 1e-3 });
      const { unet } = model;
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const step = buildDdpmStep(tf, compiler, model, 0.9);
      const random = createRng(1);
      const losses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const loss = trainDdpmOneStep(tf, model, x0, Int32Array.from({ length: 8 }, () => Math.floor(random() * 100)), normalArray(random, 8 * 256), abar, 0.9, step);
        losses.push(loss.dataSync()[0]);
        loss.dispose();
      }
      const sampler = buildDdimStep(tf, compiler, unet);
      const samples = ddimSample(tf, unet, 4, abar, 6, 3, sampler);
      compiler.sync();
      const out = { losses, weights: [...unet.variables, ...model.ema.values(), samples].map((w) => w.dataSync().slice()), counts: [step.counts, sampler.counts] };
      compiler.dispose();
      tf.dispose([samples, ...model.ema.values()]);
      model.optimizer.dispose();
      unet.dispose();
      return out;
    };
    const eager = run('off');
    const compiled = run('on');
    expect(compiled.counts).toEqual([{ eager: 0, recorded: 3, compiled: 19 }, { eager: 0, recorded: 2, compiled: 6 }]);
    // Weights and EMA within the weight tolerance.
    const d = pathDifference({ ...eager, weights: eager.weights.slice(0, -1) }, { ...compiled, weights: compiled.weights.slice(0, -1) });
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    // DDIM's first step predicts x0 = (x_T − √(1−ᾱ_T)·ε̂)/√ᾱ_T: a difference in ε̂ (from weights
    // within their tolerance) reaches the samples divided by √ᾱ_T (≈ 0.007 here; the fused Adam
    // update rounds differently from tfjs's ops, weights ≈ 4·10⁻⁷ apart, samples ≈ 4·10⁻⁴).
    const samples = pathDifference({ losses: [], weights: eager.weights.slice(-1) }, { losses: [], weights: compiled.weights.slice(-1) });
    expect(samples.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute / Math.sqrt(abar[abar.length - 1]));
    x0.dispose();
  });
});

describe('ddpm plugin', () => {
  it('passes the contract check', () => {
    expect(checkPluginShape(ddpm(), 'generator')).toEqual([]);
  });

  it('fills what the manifest leaves out from the preset', () => {
    expect(resolveOptions({ preset: 'gpu', epochs: 7 })).toMatchObject({ ...PRESETS.gpu, epochs: 7, preset: 'gpu', timesteps: 1000 });
    expect(resolveOptions({})).toMatchObject({ ...PRESETS.cpu, preset: 'cpu' });
  });

  it('the loss falls on phantom data, resumes exactly, and DDIM sampling is deterministic', async () => {
    const progress: Progress[] = [];
    await ddpm().train(real, small, context(path.join(tmp, 'full'), progress));
    const losses = progress.map((p) => p.metrics!.tumor_loss);
    expect(losses).toHaveLength(6);
    expect(losses[5]).toBeLessThan(losses[0] * 0.8);

    const resumed: Progress[] = [];
    await ddpm().train(real, { ...small, epochs: 3 }, context(path.join(tmp, 'resumed'), resumed));
    await ddpm().train(real, small, context(path.join(tmp, 'resumed'), resumed));
    expect(resumed.map((p) => p.metrics!.tumor_loss)).toEqual(losses);

    const request = { countPerClass: 3, classNames: ['tumor'], height: 16, width: 16, channels: 1 };
    const a = await ddpm().generate(request, small, context(path.join(tmp, 'full')));
    const b = await ddpm().generate(request, small, context(path.join(tmp, 'full')));
    expect(a.images).toEqual(b.images);
    expect(a.count).toBe(3);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(-1);
    expect(a.provenance).toMatchObject({ plugin: 'synthmix:ddpm', seed: 5 });
    expect(fs.readdirSync(path.join(tmp, 'full', 'tumor', 'samples'))).toEqual(['epoch-0003.png', 'epoch-0006.png']);
  });

  it('keeps the EMA weights of the snapshot epochs and generates from them (generator-epoch ablation)', async () => {
    const dir = path.join(tmp, 'snapshots');
    const withSnapshots = (workDir: string) => ({ ...context(workDir), snapshotEpochs: [2, 4] });
    await expect(ddpm().train(real, { ...small, epochs: 3 }, withSnapshots(path.join(tmp, 'late')))).rejects.toThrow('generator.checkpoints 4: after the last epoch (3); snapshots must be within training');
    expect(fs.existsSync(path.join(tmp, 'late'))).toBe(false);
    await ddpm().train(real, small, withSnapshots(dir));
    expect(fs.readdirSync(path.join(dir, 'tumor', 'snapshots'))).toEqual(['epoch-0002', 'epoch-0004']);
    const request = { countPerClass: 2, classNames: ['tumor'], height: 16, width: 16, channels: 1 };
    const final = await ddpm().generate(request, small, context(dir));
    const early = await ddpm().generate({ ...request, epoch: 2 }, small, context(dir));
    expect(early.images).toHaveLength(final.images.length);
    expect(early.images).not.toEqual(final.images);
    expect(early.provenance.details).toMatchObject({ epochs: 2 });
    // Keeping snapshots does not change the training run: without them, the same final model.
    await ddpm().train(real, small, context(path.join(tmp, 'no-snapshots')));
    expect((await ddpm().generate(request, small, context(path.join(tmp, 'no-snapshots')))).images).toEqual(final.images);
  });

  it('a checkpoint written eagerly resumes compiled (and the reverse) within the stated tolerance', async () => {
    const lossesOf = (p: Progress[]) => p.map((x) => x.metrics!.tumor_loss);
    for (const [first, second] of [['off', 'on'], ['on', 'off']] as const) {
      const straight: Progress[] = [];
      await ddpm().train(real, small, context(path.join(tmp, `straight-${second}`), straight, second));
      const crossed: Progress[] = [];
      const dir = path.join(tmp, `crossed-${first}-${second}`);
      await ddpm().train(real, { ...small, epochs: 3 }, context(dir, crossed, first));
      await ddpm().train(real, small, context(dir, crossed, second));
      expect(crossed.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(pathDifference({ losses: lossesOf(straight), weights: [] }, { losses: lossesOf(crossed), weights: [] }).lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    }
  });

  it('DDIM with a seed is deterministic and another seed differs', () => {
    const { tf } = backend;
    const unet = new Unet(tf, { size: 8, channels: 1, widths: [4, 4, 4], timeDim: 8, seed: 3 });
    const abar = alphasCumprod('cosine', 50);
    const one = ddimSample(tf, unet, 2, abar, 5, 1);
    const two = ddimSample(tf, unet, 2, abar, 5, 1);
    const other = ddimSample(tf, unet, 2, abar, 5, 2);
    expect(one.dataSync()).toEqual(two.dataSync());
    expect(one.dataSync()).not.toEqual(other.dataSync());
    tf.dispose([one, two, other]);
    unet.dispose();
  });
});
