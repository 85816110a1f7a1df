// The models the benchmarks time, built the same way for bench/run.mjs (speed against PyTorch) and
// bench/profile.mjs (where a step's time goes): synthmix's own training steps, and the PyTorch
// child (bench/torch_bench.py) that builds, times and profiles the same models on request.
import { spawn, spawnSync, execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import readline from 'node:readline';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const threads = os.availableParallelism?.() ?? os.cpus().length;
const log = (m) => process.stderr.write(`bench: ${m}\n`);

const { loadBackend } = await import(path.join(root, 'packages/core/dist/index.js'));
const { buildClassifier, buildTrainStep, dropoutMask } = await import(path.join(root, 'packages/cnn-tumor/dist/index.js'));
const { buildGan, buildGanSteps, latentBatch } = await import(path.join(root, 'packages/gan-dcgan/dist/index.js'));
const { alphasCumprod, buildDdpmStep, resolveOptions, trainDdpmOneStep, buildModel } = await import(path.join(root, 'packages/gen-ddpm/dist/index.js'));
const { Compiler } = await import(path.join(root, 'packages/compile/dist/index.js'));
const { createRng, normalArray } = await import(path.join(root, 'packages/data/dist/index.js'));
export const backend = await loadBackend('tensorflow');
const { tf } = backend;
export { threads };

// Each builder returns { step(), dispose() }; step() is one training step of one batch, its loss
// read back (the training loops read it per batch or epoch; the bench reads it per step).

export function buildCnn(compile) {
  const batch = 32;
  const model = buildClassifier(tf, { inputShape: [64, 64, 3], classes: 2, filters: [32, 64, 128], denseUnits: 128, dropout: 0.5, seed: 1 });
  const optimizer = tf.train.adam(1e-3);
  const compiler = new Compiler(tf, { ...compile, owner: 'bench' });
  const step = buildTrainStep(tf, compiler, model, optimizer, true);
  const x = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  const y = tf.randomUniform([batch, 1]).round();
  const mask = tf.tensor2d(dropoutMask(Math.random, batch * 128, 0.5), [batch, 128]);
  const weights = tf.ones([batch]);
  return {
    step: () => {
      const r = step.run(x, y, mask, weights);
      r.loss.dataSync();
      tf.dispose([r.loss, r.correct]);
    },
    dispose: () => {
      compiler.dispose();
      tf.dispose([x, y, mask, weights]);
      optimizer.dispose();
      model.dispose();
    },
  };
}

export function buildDcgan(compile) {
  const batch = 64;
  const gan = buildGan(tf, { size: 64, channels: 3, latentDim: 100, ngf: 64, ndf: 64, seed: 1 }, { learningRate: 2e-4, beta1: 0.5 });
  const compiler = new Compiler(tf, { ...compile, owner: 'bench' });
  const steps = buildGanSteps(tf, compiler, gan, 0.9);
  const real = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  let seed = 0;
  // A discriminator and a generator update on one z (as PyTorch's example); the loss read per step.
  return {
    step: () => {
      const z = latentBatch(tf, batch, 100, seed++);
      const r = steps.both.run(real, z);
      r.gLoss.dataSync();
      tf.dispose([z, ...Object.values(r)]);
    },
    dispose: () => {
      compiler.dispose();
      real.dispose();
      for (const t of [gan.g, gan.d, gan.optG, gan.optD]) t.dispose();
    },
  };
}

export function buildDdpm(compile) {
  const batch = 32;
  // The U-Net bench/torch_bench.py replicates layer for layer (the `cpu` preset before gen-ddpm 0.2.0).
  const o = resolveOptions({ widths: [16, 32, 64], timeDim: 32 });
  // The plugin's own builder: its average has buffers of its own (a clone shares the weight's, which a compiled step refuses).
  const model = buildModel(tf, { size: 64, channels: 3, widths: o.widths, timeDim: o.timeDim, seed: 1 }, o);
  const { unet } = model;
  const compiler = new Compiler(tf, { ...compile, owner: 'bench' });
  const step = buildDdpmStep(tf, compiler, model, o.emaDecay);
  const abar = alphasCumprod('linear', 1000);
  const x0 = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  const random = createRng(1);
  return {
    step: () => {
      const t = Int32Array.from({ length: batch }, () => Math.floor(random() * 1000));
      const loss = trainDdpmOneStep(tf, model, x0, t, normalArray(random, batch * 64 * 64 * 3), abar, o.emaDecay, step);
      loss.dataSync();
      loss.dispose();
    },
    dispose: () => {
      compiler.dispose();
      x0.dispose();
      unet.dispose();
      tf.dispose([...model.ema.values()]);
      model.optimizer.dispose();
    },
  };
}

export function torchVenv() {
  const venv = path.join(here, '.venv');
  const py = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(py)) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  if (spawnSync(py, ['-c', 'import torch']).status !== 0) {
    log('installing PyTorch into bench/.venv (once; several hundred MB)');
    execFileSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'torch'], { stdio: 'inherit' });
  }
  return py;
}

/** The PyTorch side: bench/torch_bench.py as a child that builds and times on request. */
export async function startTorch(py) {
  const env = { ...process.env };
  // An AVX2 emulation applies to PyTorch's own kernels too (its oneDNN honours ONEDNN_MAX_CPU_ISA).
  if (/^avx2$/i.test(env.ONEDNN_MAX_CPU_ISA ?? '')) env.ATEN_CPU_CAPABILITY ??= 'avx2';
  const child = spawn(py, [path.join(here, 'torch_bench.py'), String(threads)], { env, stdio: ['pipe', 'pipe', 'inherit'] });
  const lines = readline.createInterface({ input: child.stdout })[Symbol.asyncIterator]();
  const ask = async (msg) => {
    child.stdin.write(`${JSON.stringify(msg)}\n`);
    const { value, done } = await lines.next();
    if (done) throw new Error('torch_bench.py ended early (its error is above)');
    return JSON.parse(value);
  };
  return { ask, info: await ask({ info: true }), stop: () => child.stdin.end() };
}
