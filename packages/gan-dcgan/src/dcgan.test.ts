import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { checkPluginShape, createRng, loadBackend, type LoadedBackend, type PluginContext, type Progress } from '@synthmix/core';
import { phantomDataset } from '@synthmix/data';
import { Compiler, pathDifference, readChoices, TOLERANCE, type CompileMode } from '@synthmix/compile';
import dcgan, { buildGan, buildGanSteps, buildDiscriminator, buildGenerator, disposeGan, latentBatch, loadCheckpoint, saveCheckpoint, modeSeekingLoss, optionsSchema, quietDiscriminatorWarning, trainDiscriminatorOneStep, trainGeneratorOneStep, withGeneratorAverage, type DcganOptions } from './index.js';
import { loadTensors } from '@synthmix/core';
import { drawAugmentation } from './augment.js';

let backend: LoadedBackend;
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-dcgan-'));
beforeAll(async () => {
  backend = await loadBackend('tensorflow');
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

const small: DcganOptions = { epochs: 2, batchSize: 16, latentDim: 16, ngf: 8, ndf: 8, learningRate: 2e-4, beta1: 0.5, realLabel: 0.9, dStepsPerGStep: 1, augment: [], augmentProbability: 1, emaDecay: 0, modeSeeking: 0, checkpointEvery: 1, samplesPerGrid: 8, writePngs: false };
const real = phantomDataset({ classNames: ['tumor'], perClass: 48, size: 16, channels: 1 });

function context(workDir: string, events: { progress: Progress[]; artifacts: string[]; warnings: string[] }, compile: CompileMode = 'auto'): PluginContext {
  return { compile: { mode: compile, xla: false }, tf: backend.tf, seed: 11, random: createRng(11), signal: new AbortController().signal, workDir, progress: async (p) => void events.progress.push(p), metric() {}, artifact: (f) => events.artifacts.push(f), warn: (w) => events.warnings.push(w) };
}
const newEvents = () => ({ progress: [] as Progress[], artifacts: [] as string[], warnings: [] as string[] });

describe('DCGAN networks', () => {
  it('have the paper\'s shapes at 64×64 and ngf = ndf = 64', () => {
    const { tf } = backend;
    const arch = { size: 64, channels: 3, latentDim: 100, ngf: 64, ndf: 64, seed: 1 };
    const g = buildGenerator(tf, arch);
    const d = buildDiscriminator(tf, arch);
    expect(g.layers.filter((l) => /conv2d_transpose|reshape/.test(l.name)).map((l) => JSON.stringify(l.outputShape))).toEqual([
      '[null,4,4,512]', '[null,8,8,256]', '[null,16,16,128]', '[null,32,32,64]', '[null,64,64,3]',
    ]);
    expect(d.layers.filter((l) => l.name.startsWith('conv2d')).map((l) => JSON.stringify(l.outputShape))).toEqual([
      '[null,32,32,64]', '[null,16,16,128]', '[null,8,8,256]', '[null,4,4,512]',
    ]);
    // G: 100·8192 + BN 4·512 + convT (4·4·512·256 + BN 4·256) + (4·4·256·128 + 4·128) + (4·4·128·64 + 4·64) + (4·4·64·3 + 3)
    expect(g.countParams()).toBe(819200 + 2048 + 2097152 + 1024 + 524288 + 512 + 131072 + 256 + 3072 + 3);
    // D: (4·4·3·64 + 64) + (4·4·64·128 + 4·128) + (4·4·128·256 + 4·256) + (4·4·256·512 + 4·512) + (8192 + 1)
    expect(d.countParams()).toBe(3136 + 131072 + 512 + 524288 + 1024 + 2097152 + 2048 + 8193);
    g.dispose();
    d.dispose();
  });

  it('refuses sizes that are not powers of two', () => {
    expect(() => buildGenerator(backend.tf, { size: 48, channels: 3, latentDim: 10, ngf: 4, ndf: 4, seed: 1 })).toThrow('DCGAN needs a power-of-two image size ≥ 8, found 48');
  });

  it('training steps move the losses and leave no tensors behind', () => {
    const { tf } = backend;
    const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, small);
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const step = (i: number) => {
      const z = latentBatch(tf, 16, 16, i);
      const d = trainDiscriminatorOneStep(tf, gan, x, z, 0.9);
      const g = trainGeneratorOneStep(tf, gan, z);
      const out = [d.dLoss.dataSync()[0], g.gLoss.dataSync()[0]];
      tf.dispose([z, d.dLoss, d.dReal, d.dFake, g.gLoss]);
      return out;
    };
    step(0); // creates the optimisers' slots
    const before = tf.memory().numTensors;
    const losses = Array.from({ length: 8 }, (_, i) => step(i + 1));
    expect(tf.memory().numTensors).toBe(before);
    expect(losses[7][0]).not.toBeCloseTo(losses[0][0], 3);
    expect(losses[7][1]).not.toBeCloseTo(losses[0][1], 3);
    x.dispose();
    gan.g.dispose();
    gan.d.dispose();
  });
});

describe('compiled DCGAN step', () => {
  it('20 compiled GAN steps give the eager losses and weights (within the stated tolerance)', () => {
    const { tf } = backend;
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const run = (mode: CompileMode) => {
      const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, small);
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const steps = buildGanSteps(tf, compiler, gan, 0.9);
      const losses: number[] = [];
      for (let i = 0; i < 20; i++) {
        const z = latentBatch(tf, 16, 16, i);
        const r = steps.both.run(x, z);
        losses.push(r.dLoss.dataSync()[0], r.gLoss.dataSync()[0]);
        tf.dispose([z, ...Object.values(r)]);
      }
      compiler.dispose();
      const out = { losses, weights: [...gan.g.getWeights(), ...gan.d.getWeights()].map((w) => w.dataSync().slice()), counts: steps.both.counts };
      for (const d of [gan.g, gan.d, gan.optG, gan.optD]) d.dispose();
      return out;
    };
    const eager = run('off');
    const compiled = run('on');
    expect(compiled.counts.compiled).toBe(19); // all but the Adam warm-up
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    x.dispose();
  });

  it('with a moving average of the generator: compiled steps give the eager average, which trails the weights, and no tensors pile up', () => {
    const { tf } = backend;
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const run = (mode: CompileMode) => {
      const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, { ...small, emaDecay: 0.9 });
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const steps = buildGanSteps(tf, compiler, gan, 0.9);
      let before = 0;
      for (let i = 0; i < 12; i++) {
        if (i === 2) before = tf.memory().numTensors;
        const z = latentBatch(tf, 16, 16, i);
        tf.dispose([z, ...Object.values(steps.both.run(x, z))]);
      }
      compiler.sync();
      const grew = tf.memory().numTensors - before;
      compiler.dispose();
      const out = { losses: [], weights: gan.ema!.map((w) => w.dataSync().slice()), live: gan.g.trainableWeights.map((w) => w.read().dataSync().slice()), grew };
      disposeGan(tf, gan);
      return out;
    };
    const eager = run('off');
    const compiled = run('on');
    expect([eager.grew, compiled.grew]).toEqual([0, 0]);
    expect(pathDifference(eager, compiled).weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    // The dense kernel's average is not its last value (12 steps of decay 0.9 keep 28 % of the start).
    const gap = Math.max(...compiled.weights[0].map((v, i) => Math.abs(v - compiled.live[0][i])));
    expect(gap).toBeGreaterThan(1e-4);
    x.dispose();
  });

  it('with the mode-seeking term: compiled steps give the eager losses and weights, and the term changes training', () => {
    const { tf } = backend;
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const run = (mode: CompileMode, modeSeeking: number) => {
      const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, { ...small, modeSeeking });
      const compiler = new Compiler(tf as never, { mode, owner: 'test' });
      const steps = buildGanSteps(tf, compiler, gan, 0.9);
      const losses: number[] = [];
      const terms: number[] = [];
      for (let i = 0; i < 10; i++) {
        const z = latentBatch(tf, 16, 16, i);
        const r = steps.both.run(x, z);
        losses.push(r.dLoss.dataSync()[0], r.gLoss.dataSync()[0]);
        if (r.modeSeeking) terms.push(r.modeSeeking.dataSync()[0]);
        tf.dispose([z, ...Object.values(r)]);
      }
      compiler.dispose();
      const out = { losses, terms, weights: gan.g.getWeights().map((w) => w.dataSync().slice()) };
      disposeGan(tf, gan);
      return out;
    };
    const eager = run('off', 1);
    const compiled = run('on', 1);
    const d = pathDifference(eager, compiled);
    expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    expect(d.weightAbsolute).toBeLessThanOrEqual(TOLERANCE.weightAbsolute);
    // The step reports the term beside the adversarial loss (gLoss), which at the first step,
    // before the term has moved any weight, is the plain GAN's; the term then changes training.
    const plain = run('off', 0);
    expect(plain.terms).toEqual([]);
    expect(eager.terms).toHaveLength(10);
    expect(Math.min(...eager.terms)).toBeGreaterThan(0.5); // 1 / (image gap / latent gap): images differ less than latents
    expect(compiled.terms.map((t, i) => Math.abs(t - eager.terms[i]) / eager.terms[i]).every((d) => d <= TOLERANCE.lossRelative)).toBe(true);
    expect(eager.losses[1]).toBeCloseTo(plain.losses[1], 6);
    expect(pathDifference(plain, eager).weightAbsolute).toBeGreaterThan(1e-5);
    x.dispose();
  });

  it('with two discriminator steps a generator step, augmentation and the moving average, every step after the warm-ups runs compiled', () => {
    // The average once shared its weights' buffers until the first generator update, and the
    // discriminator step, recorded before that, fell back to eager for good (4.7× slower).
    const { tf } = backend;
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const policy = ['translation', 'cutout'] as const;
    const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, { ...small, emaDecay: 0.99 });
    const warnings: string[] = [];
    const compiler = new Compiler(tf as never, { mode: 'auto', owner: 'test', warn: (w) => warnings.push(w) });
    const steps = buildGanSteps(tf, compiler, gan, 0.9, policy);
    const random = createRng(1);
    const draw = () => drawAugmentation(tf, policy, 16, 16, 16, random);
    for (let i = 0; i < 6; i++) {
      for (let k = 0; k < 2; k++) {
        const z = latentBatch(tf, 16, 16, 10 * i + k);
        const d = [...draw(), ...draw()];
        tf.dispose([z, ...d, ...Object.values(steps.discriminator.run(x, z, ...d))]);
      }
      const z = latentBatch(tf, 16, 16, 10 * i + 5);
      const d = draw();
      tf.dispose([z, ...d, ...Object.values(steps.generator.run(z, ...d))]);
    }
    expect(warnings).toEqual([]);
    // 12 discriminator calls: the first makes Adam's slots (kept eager), the rest compiled; 6 generator calls alike.
    expect([steps.discriminator.counts.eager, steps.discriminator.counts.compiled]).toEqual([0, 11]);
    expect([steps.generator.counts.eager, steps.generator.counts.compiled]).toEqual([0, 5]);
    compiler.dispose();
    disposeGan(tf, gan);
    x.dispose();
  });

  it('a checkpoint from before the moving average was turned on starts the average from the weights, on buffers of its own, and training goes on compiled', async () => {
    const { tf } = backend;
    const x = tf.tensor4d(real.images.subarray(0, 16 * 256), [16, 16, 16, 1]);
    const arch = { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 };
    const plain = buildGan(tf, arch, small);
    const first = new Compiler(tf as never, { mode: 'auto', owner: 'test' });
    const z0 = latentBatch(tf, 16, 16, 0);
    tf.dispose([z0, ...Object.values(buildGanSteps(tf, first, plain, 0.9).both.run(x, z0))]);
    first.dispose();
    const dir = path.join(tmp, 'no-average');
    await saveCheckpoint(dir, plain, { epoch: 1 });
    disposeGan(tf, plain);

    const gan = buildGan(tf, arch, { ...small, emaDecay: 0.9 });
    await loadCheckpoint(tf, dir, gan);
    const live = gan.g.trainableWeights.map((w) => w.read());
    expect(gan.ema!.map((e) => Array.from(e.dataSync()))).toEqual(live.map((w) => Array.from(w.dataSync())));
    expect(gan.ema!.every((e, i) => e.dataId !== live[i].dataId)).toBe(true);
    const warnings: string[] = [];
    const compiler = new Compiler(tf as never, { mode: 'auto', owner: 'test', warn: (w) => warnings.push(w) });
    const steps = buildGanSteps(tf, compiler, gan, 0.9);
    for (let i = 1; i <= 4; i++) {
      const z = latentBatch(tf, 16, 16, i);
      tf.dispose([z, ...Object.values(steps.both.run(x, z))]);
    }
    expect(warnings).toEqual([]);
    expect(steps.both.counts.compiled).toBe(4);
    compiler.dispose();
    disposeGan(tf, gan);
    x.dispose();
  });

  it('the mode-seeking term is 1 / (mean |G(z1) − G(z2)| / mean |z1 − z2| + 1e-5) over the batch halves, large when images collapse', () => {
    const { tf } = backend;
    const rng = createRng(5);
    const images = Array.from({ length: 4 * 3 * 3 * 2 }, () => rng() * 2 - 1);
    const latents = Array.from({ length: 4 * 5 }, () => rng() * 2 - 1);
    const gap = (v: number[], row: number) => {
      let sum = 0;
      for (let i = 0; i < 2 * row; i++) sum += Math.abs(v[i] - v[i + 2 * row]);
      return sum / (2 * row);
    };
    const expected = 1 / (gap(images, 18) / gap(latents, 5) + 1e-5);
    const got = tf.tidy(() => modeSeekingLoss(tf, tf.tensor4d(images, [4, 3, 3, 2]), tf.tensor2d(latents, [4, 5])).dataSync()[0]);
    expect(got).toBeCloseTo(expected, 4);
    // A batch of one has no pair: the step trains on the adversarial loss alone (finite, no term reported).
    const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, { ...small, modeSeeking: 2 });
    const z = latentBatch(tf, 1, 16, 1);
    const single = trainGeneratorOneStep(tf, gan, z);
    expect(Number.isFinite(single.gLoss.dataSync()[0])).toBe(true);
    expect(single.modeSeeking).toBeUndefined();
    tf.dispose([z, single.gLoss]);
    disposeGan(tf, gan);
    // Identical images whatever the latent: the term is 1e5.
    const collapsed = tf.tidy(() => modeSeekingLoss(tf, tf.zeros([4, 3, 3, 2]), tf.tensor2d(latents, [4, 5])).dataSync()[0]);
    expect(collapsed).toBeCloseTo(1e5, 0);
  });

  it('withGeneratorAverage swaps the average in while a function runs, and the weights back after it returns, throws or settles', async () => {
    const { tf } = backend;
    const gan = buildGan(tf, { size: 16, channels: 1, latentDim: 16, ngf: 8, ndf: 8, seed: 3 }, { ...small, emaDecay: 0.99 });
    gan.ema!.forEach((e) => e.assign(tf.zerosLike(e)));
    const first = () => gan.g.trainableWeights[0].read().dataSync().slice();
    const weights = first();
    expect(withGeneratorAverage(tf, gan, () => Math.max(...first().map(Math.abs)))).toBe(0);
    expect(first()).toEqual(weights);
    expect(() => withGeneratorAverage(tf, gan, () => { throw new Error('inside'); })).toThrow('inside');
    expect(first()).toEqual(weights);
    await expect(withGeneratorAverage(tf, gan, async () => first()[0])).resolves.toBe(0);
    expect(first()).toEqual(weights);
    disposeGan(tf, gan);
  });

  it('a checkpoint written by one path resumes in the other', async () => {
    // Eager for 2 epochs, then compiled for 2 more, against compiled throughout (and the reverse):
    // the same epochs within the tolerance, and the resumed run continues from the checkpoint.
    const opts = { ...small, epochs: 4, batchSize: 8 };
    const lossesOf = (e: ReturnType<typeof newEvents>) => e.progress.flatMap((p) => [p.metrics!.tumor_d_loss, p.metrics!.tumor_g_loss]);
    for (const [first, second] of [['off', 'on'], ['on', 'off']] as const) {
      const straight = newEvents();
      await dcgan().train(real, opts, context(path.join(tmp, `straight-${second}`), straight, second));
      const crossed = newEvents();
      const dir = path.join(tmp, `crossed-${first}-${second}`);
      await dcgan().train(real, { ...opts, epochs: 2 }, context(dir, crossed, first));
      await dcgan().train(real, opts, context(dir, crossed, second));
      expect(crossed.progress.map((p) => p.step)).toEqual([1, 2, 3, 4]);
      const d = pathDifference({ losses: lossesOf(straight), weights: [] }, { losses: lossesOf(crossed), weights: [] });
      expect(d.lossRelative).toBeLessThanOrEqual(TOLERANCE.lossRelative);
    }
  });
});

describe('dcgan plugin', () => {
  it('passes the contract check with documented defaults', () => {
    expect(checkPluginShape(dcgan(), 'generator')).toEqual([]);
    expect(optionsSchema.properties.learningRate.default).toBe(0.0002);
    expect(optionsSchema.properties.beta1.default).toBe(0.5);
  });

  it('warns once of a discriminator that wins five epochs running, naming them', () => {
    expect([1, 2, 3, 4].map((n) => quietDiscriminatorWarning(n, 8 + n))).toEqual([undefined, undefined, undefined, undefined]);
    expect(quietDiscriminatorWarning(5, 13)).toBe('discriminator loss below 0.05 in epochs 9–13; the generator may have stopped learning (see the d_loss chart for whether it recovers)');
    expect(quietDiscriminatorWarning(6, 14)).toBeUndefined();
  });

  it('with the mode-seeking term, each epoch reports it beside the adversarial generator loss, which the loss warnings read', async () => {
    const plain = newEvents();
    await dcgan().train(real, { ...small, epochs: 1 }, context(path.join(tmp, 'ms-plain'), plain));
    const seeking = newEvents();
    await dcgan().train(real, { ...small, epochs: 1, modeSeeking: 2 }, context(path.join(tmp, 'ms-on'), seeking));
    expect(Object.keys(plain.progress[0].metrics!)).not.toContain('tumor_mode_seeking');
    const m = seeking.progress[0].metrics!;
    expect(m.tumor_mode_seeking).toBeGreaterThan(0.5);
    // An untrained generator's adversarial loss is near log 2 ≈ 0.7; with the term added (× 2) it would read above 1.7.
    expect(m.tumor_g_loss).toBeLessThan(1.7);
    expect(seeking.warnings.filter((w) => /exploding/.test(w))).toEqual([]);
  });

  it('same seed → same losses; resume from a checkpoint → same next epoch as an uninterrupted run', async () => {
    const full = newEvents();
    await dcgan().train(real, small, context(path.join(tmp, 'full'), full));
    const again = newEvents();
    await dcgan().train(real, small, context(path.join(tmp, 'again'), again));
    expect(again.progress.map((p) => p.metrics)).toEqual(full.progress.map((p) => p.metrics));

    const resumed = newEvents();
    await dcgan().train(real, { ...small, epochs: 1 }, context(path.join(tmp, 'resumed'), resumed));
    const before = backend.tf.memory().numTensors;
    await dcgan().train(real, small, context(path.join(tmp, 'resumed'), resumed));
    expect(resumed.progress.map((p) => p.step)).toEqual([1, 2]);
    expect(resumed.progress[1].metrics).toEqual(full.progress[1].metrics);
    expect(backend.tf.memory().numTensors).toBe(before);
    expect(full.artifacts.map((a) => path.basename(a))).toEqual(['epoch-0001.png', 'epoch-0002.png']);
  });

  it('hands ctx.compile to its compiler: auto with a choice file times the GAN step once, and a resumed run recalls the path with the clean run\'s losses', async () => {
    const file = path.join(tmp, 'choices', 'compile-choices.json');
    const told: { path: string; remembered: boolean }[] = [];
    const auto = (workDir: string, events: ReturnType<typeof newEvents>): PluginContext => ({ ...context(workDir, events), compile: { mode: 'auto', choices: file, trialFromMs: 0, chosen: (c) => told.push({ path: c.path, remembered: c.remembered }) } });
    const full = newEvents();
    await dcgan().train(real, small, auto(path.join(tmp, 'auto-full'), full));
    const choices = [...readChoices(file).values()];
    expect(choices.map((c) => [c.owner, c.step, c.shape])).toEqual([['synthmix:dcgan', 'GAN step', 'float32[16,16,16,1] float32[16,16]']]);
    expect(told).toEqual([{ path: choices[0].path, remembered: false }]);
    const resumed = newEvents();
    await dcgan().train(real, { ...small, epochs: 1 }, auto(path.join(tmp, 'auto-resumed'), resumed));
    await dcgan().train(real, small, auto(path.join(tmp, 'auto-resumed'), resumed));
    expect(told.slice(1)).toEqual([{ path: choices[0].path, remembered: true }, { path: choices[0].path, remembered: true }]);
    expect(resumed.progress.map((p) => p.metrics)).toEqual(full.progress.map((p) => p.metrics));
  });

  it('resumes exactly after a stop at any epoch: every later epoch has the clean run\'s losses, bit for bit', async () => {
    // Long enough for Adam's bias-correction products (beta^t, accumulated by multiplication
    // while training) to round differently from pow(beta, t) if a resume recomputed them.
    const long = { ...small, epochs: 6, batchSize: 8 };
    const clean = newEvents();
    await dcgan().train(real, long, context(path.join(tmp, 'clean-long'), clean));
    for (const stopAt of [1, 3, 5]) {
      const resumed = newEvents();
      const dir = path.join(tmp, `resumed-at-${stopAt}`);
      await dcgan().train(real, { ...long, epochs: stopAt }, context(dir, resumed));
      await dcgan().train(real, long, context(dir, resumed));
      expect(resumed.progress.map((p) => p.step)).toEqual([1, 2, 3, 4, 5, 6]);
      expect(resumed.progress.map((p) => p.metrics)).toEqual(clean.progress.map((p) => p.metrics));
    }
  });

  it('with a moving average: resumes exactly (the average is in the checkpoint), and saves the average as the generator', async () => {
    const opts = { ...small, epochs: 3, batchSize: 8, emaDecay: 0.9 };
    const clean = newEvents();
    await dcgan().train(real, opts, context(path.join(tmp, 'ema-clean'), clean));
    const resumed = newEvents();
    const dir = path.join(tmp, 'ema-resumed');
    await dcgan().train(real, { ...opts, epochs: 1 }, context(dir, resumed));
    expect(fs.existsSync(path.join(dir, 'tumor', 'checkpoint', 'generator-average.json'))).toBe(true);
    await dcgan().train(real, opts, context(dir, resumed));
    expect(resumed.progress.map((p) => p.metrics)).toEqual(clean.progress.map((p) => p.metrics));
    const { tf } = backend;
    const read = (file: string) => loadTensors(tf, file).map((t) => { const v = t.tensor.dataSync().slice(); t.tensor.dispose(); return v; });
    const final = read(path.join(tmp, 'ema-clean', 'tumor', 'final', 'generator'));
    const average = read(path.join(tmp, 'ema-clean', 'tumor', 'checkpoint', 'generator-average'));
    const live = read(path.join(tmp, 'ema-clean', 'tumor', 'checkpoint', 'generator'));
    expect(final[0]).toEqual(average[0]); // the dense kernel: the first trainable weight
    expect(final[0]).not.toEqual(live[0]);
    expect(read(path.join(dir, 'tumor', 'final', 'generator'))).toEqual(final);
  });

  it('with augmentation: the same seed gives the same losses, which differ from training without it; resume stays exact', async () => {
    const opts = { ...small, epochs: 2, batchSize: 8, augment: ['translation', 'cutout'] as DcganOptions['augment'] };
    const runs = await Promise.all([0, 1].map(async (i) => {
      const e = newEvents();
      await dcgan().train(real, opts, context(path.join(tmp, `augmented-${i}`), e));
      return e.progress.map((p) => p.metrics);
    }));
    expect(runs[1]).toEqual(runs[0]);
    const plain = newEvents();
    await dcgan().train(real, { ...opts, augment: [] }, context(path.join(tmp, 'not-augmented'), plain));
    expect(plain.progress[1].metrics).not.toEqual(runs[0][1]);
    const resumed = newEvents();
    await dcgan().train(real, { ...opts, epochs: 1 }, context(path.join(tmp, 'augmented-resumed'), resumed));
    await dcgan().train(real, opts, context(path.join(tmp, 'augmented-resumed'), resumed));
    expect(resumed.progress.map((p) => p.metrics)).toEqual(runs[0]);
  });

  it('generates images of the real shape and range, with provenance, deterministically', async () => {
    const dir = path.join(tmp, 'full');
    const request = { countPerClass: 5, classNames: ['tumor'], height: 16, width: 16, channels: 1 };
    const a = await dcgan().generate(request, small, context(dir, newEvents()));
    const b = await dcgan().generate(request, small, context(dir, newEvents()));
    expect(a.count).toBe(5);
    expect(a.images.length).toBe(5 * 256);
    expect(Math.max(...a.images)).toBeLessThanOrEqual(1);
    expect(Math.min(...a.images)).toBeGreaterThanOrEqual(-1);
    expect(a.images).toEqual(b.images);
    expect(a.provenance).toMatchObject({ plugin: 'synthmix:dcgan', seed: 11 });
    expect(a.provenance.stateHash).toMatch(/^[0-9a-f]{16}$/);
    await expect(dcgan().generate(request, small, context(path.join(tmp, 'nothing'), newEvents()))).rejects.toThrow(/no trained model for class "tumor"/);
    await dcgan().generate(request, { ...small, writePngs: true }, context(dir, newEvents()));
    expect(fs.readdirSync(path.join(dir, 'tumor', 'generated'))).toEqual(['00000.png', '00001.png', '00002.png', '00003.png', '00004.png']);
  });
});
