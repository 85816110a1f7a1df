#!/usr/bin/env node
// What the generators cost on this machine: training throughput and sampling throughput of the
// DCGAN and DDPM presets at 32×32 and 64×64, for the README's "what it costs" statements. Steps
// run as the plugins run them by default: compiled (@synthmix/compile, compile: auto).
// Usage: npm run bench:generators   (appends a dated table to bench/RESULTS.md)
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const { loadBackend, createRng, normalArray } = await import(path.join(root, 'packages/core/dist/index.js'));
const { buildGan, buildGanSteps, latentBatch } = await import(path.join(root, 'packages/gan-dcgan/dist/index.js'));
const { Unet, PRESETS, alphasCumprod, buildDdimStep, buildDdpmStep, ddimSample, trainDdpmOneStep } = await import(path.join(root, 'packages/gen-ddpm/dist/index.js'));
const { Compiler } = await import(path.join(root, 'packages/compile/dist/index.js'));
const { tf, tensorflowVersion } = await loadBackend('tensorflow');
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
// Three untimed calls: a compiled step's first calls are a warm-up and two recordings.
const time = async (fn, reps = 3, warm = 3) => {
  for (let i = 0; i < warm; i++) await fn();
  const ts = [];
  for (let i = 0; i < reps; i++) {
    const t = performance.now();
    await fn();
    ts.push((performance.now() - t) / 1000);
  }
  return median(ts);
};

const rows = [];
for (const size of [32, 64]) {
  // DCGAN as br35h-quick uses it (ngf = ndf = 16) and as the paper does (64).
  for (const width of [16, 64]) {
    const gan = buildGan(tf, { size, channels: 3, latentDim: 100, ngf: width, ndf: width, seed: 1 }, { learningRate: 2e-4, beta1: 0.5 });
    const real = tf.randomUniform([64, size, size, 3], -1, 1);
    const compiler = new Compiler(tf, { mode: 'auto', owner: 'bench' });
    const steps = buildGanSteps(tf, compiler, gan, 0.9);
    const s = await time(async () => {
      const z = latentBatch(tf, 64, 100, 1);
      const r = steps.both.run(real, z);
      await r.gLoss.data();
      tf.dispose([z, ...Object.values(r)]);
    });
    compiler.dispose();
    rows.push({ generator: `dcgan ngf=ndf=${width}`, size, train_img_per_s: 64 / s, sample_img_per_s: undefined });
    tf.dispose(real);
  }
  for (const preset of ['cpu', 'gpu']) {
    const p = PRESETS[preset];
    const unet = new Unet(tf, { size, channels: 3, widths: p.widths, timeDim: p.timeDim, seed: 1 });
    const model = { unet, ema: new Map([...unet.params].map(([k, v]) => [k, tf.variable(v.clone(), false)])), optimizer: tf.train.adam(2e-4) };
    const abar = alphasCumprod('linear', 1000);
    const batch = 32;
    const x0 = tf.randomUniform([batch, size, size, 3], -1, 1);
    const random = createRng(1);
    const compiler = new Compiler(tf, { mode: 'auto', owner: 'bench' });
    const step = buildDdpmStep(tf, compiler, model, 0.995);
    const sampler = buildDdimStep(tf, compiler, unet);
    const s = await time(async () => {
      const loss = trainDdpmOneStep(tf, model, x0, Int32Array.from({ length: batch }, () => Math.floor(random() * 1000)), normalArray(random, batch * size * size * 3), abar, 0.995, step);
      await loss.data();
      loss.dispose();
    });
    const n = 16;
    const sample = await time(async () => {
      const out = ddimSample(tf, unet, n, abar, p.samplingSteps, 1, sampler);
      await out.data();
      out.dispose();
    }, 1, 1);
    compiler.dispose();
    rows.push({ generator: `ddpm preset ${preset} (widths ${p.widths.join('/')}, ${p.samplingSteps} DDIM steps)`, size, train_img_per_s: batch / s, sample_img_per_s: n / sample });
    tf.dispose([x0, ...model.ema.values()]);
    model.optimizer.dispose();
    unet.dispose();
  }
}
const machine = `${os.cpus()[0]?.model ?? 'CPU'}, ${os.availableParallelism?.() ?? os.cpus().length} cores, Node ${process.version}, libtensorflow ${tensorflowVersion}`;
const per1000 = (r) => `${(1000 / r.train_img_per_s / 60).toFixed(1)} min`;
const md = ['', `## Generators (compiled steps) — ${new Date().toISOString().slice(0, 10)} — ${machine}`, '',
  '| generator | size | train img/s | one epoch of 1,000 images | sampling img/s | 500 samples |', '|---|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.generator} | ${r.size} | ${r.train_img_per_s.toFixed(1)} | ${per1000(r)} | ${r.sample_img_per_s ? r.sample_img_per_s.toFixed(1) : '(one forward pass)'} | ${r.sample_img_per_s ? `${(500 / r.sample_img_per_s / 60).toFixed(1)} min` : '—'} |`), ''].join('\n');
fs.appendFileSync(path.join(here, 'RESULTS.md'), md);
fs.writeFileSync(path.join(here, 'results', 'generators.json'), `${JSON.stringify({ date: new Date().toISOString(), machine, rows }, null, 2)}\n`);
process.stdout.write(`${md}\n`);
