#!/usr/bin/env node
// Benchmarks (not tests): synthmix's models on libtensorflow against the same models in PyTorch
// on the same CPU, timed in the same run; plus dataset loading. Writes bench/results/latest.json
// and appends a dated table to bench/RESULTS.md. Usage: npm run bench [-- --quick]
import { execFileSync, spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const quick = process.argv.includes('--quick');
const repeats = quick ? 3 : 5;
const threads = os.availableParallelism?.() ?? os.cpus().length;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const log = (m) => process.stderr.write(`bench: ${m}\n`);

const { loadBackend } = await import(path.join(root, 'packages/core/dist/index.js'));
const { buildClassifier, buildTrainStep, dropoutMask } = await import(path.join(root, 'packages/cnn-tumor/dist/index.js'));
const { buildGan, buildGanSteps, latentBatch } = await import(path.join(root, 'packages/gan-dcgan/dist/index.js'));
const { alphasCumprod, buildDdpmStep, resolveOptions, trainDdpmOneStep, Unet } = await import(path.join(root, 'packages/gen-ddpm/dist/index.js'));
const { Compiler } = await import(path.join(root, 'packages/compile/dist/index.js'));
const { createRng, normalArray } = await import(path.join(root, 'packages/data/dist/index.js'));
const { loadDataset } = await import(path.join(root, 'packages/data/dist/index.js'));
const backend = await loadBackend('tensorflow');
const { tf } = backend;

// --- FLOP counts (multiply-adds × 2), per image -------------------------------------------
const conv = (h, w, cin, cout, k) => 2 * h * w * cin * cout * k * k;
const CNN_FWD = conv(64, 64, 3, 32, 3) + conv(32, 32, 32, 64, 3) + conv(16, 16, 64, 128, 3) + 2 * 8192 * 128 + 2 * 128;
// Transposed conv: each input pixel scatters a k×k×cout patch.
const G_FWD = 2 * 100 * 4 * 4 * 512 + conv(4, 4, 512, 256, 4) + conv(8, 8, 256, 128, 4) + conv(16, 16, 128, 64, 4) + conv(32, 32, 64, 3, 4);
const D_FWD = conv(32, 32, 3, 64, 4) + conv(16, 16, 64, 128, 4) + conv(8, 8, 128, 256, 4) + conv(4, 4, 256, 512, 4) + 2 * 8192;
// Training ≈ forward + backward (2× forward). A DCGAN step: D step = G fwd + D fwd/bwd on real and
// fake (G + 6D); G step = G fwd/bwd + D fwd + D input-gradients (3G + 2D).
const CNN_TRAIN = 3 * CNN_FWD;
const DCGAN_STEP = 4 * G_FWD + 8 * D_FWD;

// Each synthmix benchmark runs the plugin's own training step three ways: eager (op by op,
// compile: off), compiled (one TensorFlow graph per step, compile: on) and compiled with XLA.
const MODES = [
  { label: 'eager', mode: 'off', xla: false },
  { label: 'compiled', mode: 'on', xla: false },
  { label: 'compiled + XLA', mode: 'on', xla: true },
];

/** Median images/s of `step()` (one batch of `batch` images) after `warm` untimed calls. */
function timeSteps(step, batch, warm, perRepeat) {
  for (let i = 0; i < warm; i++) step();
  const times = [];
  for (let r = 0; r < repeats; r++) {
    const t = performance.now();
    for (let i = 0; i < perRepeat; i++) step();
    times.push((performance.now() - t) / 1000 / perRepeat);
  }
  return batch / median(times);
}

function timeCnn({ mode, xla }) {
  const batch = 32;
  const model = buildClassifier(tf, { inputShape: [64, 64, 3], classes: 2, filters: [32, 64, 128], denseUnits: 128, dropout: 0.5, seed: 1 });
  const optimizer = tf.train.adam(1e-3);
  const compiler = new Compiler(tf, { mode, xla, owner: 'bench' });
  const step = buildTrainStep(tf, compiler, model, optimizer, true);
  const x = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  const y = tf.randomUniform([batch, 1]).round();
  const mask = tf.tensor2d(dropoutMask(Math.random, batch * 128, 0.5), [batch, 128]);
  const weights = tf.ones([batch]);
  // The training loop reads the loss after every batch (for the epoch's mean); so does this.
  const rate = timeSteps(() => {
    const r = step.run(x, y, mask, weights);
    r.loss.dataSync();
    tf.dispose([r.loss, r.correct]);
  }, batch, 4, 16);
  compiler.dispose();
  tf.dispose([x, y, mask, weights]);
  optimizer.dispose();
  model.dispose();
  return rate;
}

function timeDcgan({ mode, xla }) {
  const batch = 64;
  const gan = buildGan(tf, { size: 64, channels: 3, latentDim: 100, ngf: 64, ndf: 64, seed: 1 }, { learningRate: 2e-4, beta1: 0.5 });
  const compiler = new Compiler(tf, { mode, xla, owner: 'bench' });
  const steps = buildGanSteps(tf, compiler, gan, 0.9);
  const real = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  let seed = 0;
  // A discriminator and a generator update on one z (as PyTorch's example); the loss read per step.
  const rate = timeSteps(() => {
    const z = latentBatch(tf, batch, 100, seed++);
    const r = steps.both.run(real, z);
    r.gLoss.dataSync();
    tf.dispose([z, ...Object.values(r)]);
  }, batch, 3, 5);
  compiler.dispose();
  real.dispose();
  for (const t of [gan.g, gan.d, gan.optG, gan.optD]) t.dispose();
  return rate;
}

function timeDdpm({ mode, xla }) {
  const batch = 32;
  // The U-Net bench/torch_bench.py replicates layer for layer (the `cpu` preset before gen-ddpm 0.2.0).
  const o = resolveOptions({ widths: [16, 32, 64], timeDim: 32 });
  const unet = new Unet(tf, { size: 64, channels: 3, widths: o.widths, timeDim: o.timeDim, seed: 1 });
  const model = { unet, ema: new Map([...unet.params].map(([k, v]) => [k, tf.variable(v.clone(), false)])), optimizer: tf.train.adam(o.learningRate) };
  const compiler = new Compiler(tf, { mode, xla, owner: 'bench' });
  const step = buildDdpmStep(tf, compiler, model, o.emaDecay);
  const abar = alphasCumprod('linear', 1000);
  const x0 = tf.randomUniform([batch, 64, 64, 3], -1, 1);
  const random = createRng(1);
  const rate = timeSteps(() => {
    const t = Int32Array.from({ length: batch }, () => Math.floor(random() * 1000));
    const loss = trainDdpmOneStep(tf, model, x0, t, normalArray(random, batch * 64 * 64 * 3), abar, o.emaDecay, step);
    loss.dataSync();
    loss.dispose();
  }, batch, 3, 5);
  compiler.dispose();
  x0.dispose();
  unet.dispose();
  tf.dispose([...model.ema.values()]);
  model.optimizer.dispose();
  return rate;
}

function torchVenv() {
  const venv = path.join(here, '.venv');
  const py = path.join(venv, 'bin', 'python');
  if (!fs.existsSync(py)) execFileSync('python3', ['-m', 'venv', venv], { stdio: 'inherit' });
  if (spawnSync(py, ['-c', 'import torch']).status !== 0) {
    log('installing PyTorch into bench/.venv (once; several hundred MB)');
    execFileSync(path.join(venv, 'bin', 'pip'), ['install', '-q', 'torch'], { stdio: 'inherit' });
  }
  return py;
}

async function timeData() {
  const br35h = path.resolve(root, '../shared/datasets/br35h');
  if (!fs.existsSync(br35h)) return undefined;
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-bench-data-'));
  const spec = { source: 'folder', path: br35h, classes: [{ name: 'tumor', folder: 'yes' }, { name: 'healthy', folder: 'no' }], phantomPerClass: 0, imageSize: 64, channels: 3, leakageGuard: { enabled: true, maxHammingDistance: 8 }, strict: false, maxPixels: 4e7 };
  let t = performance.now();
  await loadDataset(spec, { cacheDir });
  const cold = (performance.now() - t) / 1000;
  const warm = [];
  for (let i = 0; i < 3; i++) {
    t = performance.now();
    await loadDataset(spec, { cacheDir });
    warm.push((performance.now() - t) / 1000);
  }
  fs.rmSync(cacheDir, { recursive: true, force: true });
  return { cold, warm: median(warm) };
}

log(`libtensorflow ${backend.tensorflowVersion}, ${threads} threads`);
const MODELS = [
  { key: 'cnn', name: 'paper-cnn-train-64x64-b32', time: timeCnn, flop: () => CNN_TRAIN },
  { key: 'dcgan', name: 'dcgan-64-train-step-b64', time: timeDcgan, flop: () => DCGAN_STEP },
  { key: 'ddpm', name: 'ddpm-cpu-train-step-64x64-b32', time: timeDdpm, flop: () => undefined },
];
const measured = [];
for (const m of MODELS) {
  for (const mode of MODES) {
    const rate = m.time(mode);
    log(`${m.name} (synthmix, ${mode.label}): ${rate.toFixed(1)} img/s`);
    measured.push({ model: m, mode, rate });
  }
}
const py = torchVenv();
const torch = JSON.parse(execFileSync(py, [path.join(here, 'torch_bench.py'), String(threads), String(repeats)], { encoding: 'utf8' }).trim().split('\n').pop());
log(`PyTorch ${torch.torch}: CNN ${torch.cnn_img_per_s.toFixed(1)}, DCGAN ${torch.dcgan_img_per_s.toFixed(1)}, DDPM ${torch.ddpm_img_per_s.toFixed(1)} img/s`);
const data = await timeData();

const cpu = os.cpus()[0]?.model ?? 'unknown CPU';
const machine = `${cpu}, ${threads} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, Node ${process.version}`;
// ratio = synthmix time / PyTorch time for the same work = PyTorch throughput / synthmix throughput.
const entries = measured.map(({ model, mode, rate }) => {
  const torchRate = torch[`${model.key}_img_per_s`];
  const flop = model.flop();
  return { name: model.name, path: mode.label, synthmix_img_per_s: rate, pytorch_img_per_s: torchRate, ratio: torchRate / rate, ...(flop ? { synthmix_gflops: (rate * flop) / 1e9, pytorch_gflops: (torchRate * flop) / 1e9, flop_per_img: flop } : {}) };
});
const result = { date: new Date().toISOString(), machine, tensorflow: backend.tensorflowVersion, torch: torch.torch, threads, repeats, benchmarks: entries, data_br35h_64px: data };
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(path.join(here, 'results', 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
const rows = entries.map((e) => `| ${e.name} | ${e.path} | ${e.synthmix_img_per_s.toFixed(1)} | ${e.pytorch_img_per_s.toFixed(1)} | ${e.ratio.toFixed(2)} | ${e.synthmix_gflops?.toFixed(1) ?? '—'} | ${e.pytorch_gflops?.toFixed(1) ?? '—'} |`);
const md = [
  '', `## ${result.date.slice(0, 10)} — ${machine}`, '',
  `libtensorflow ${result.tensorflow} (tfjs-node 4.22), PyTorch ${result.torch}, ${threads} threads, median of ${repeats}.`, '',
  '| benchmark | synthmix path | synthmix img/s | PyTorch img/s | ratio (synthmix time / PyTorch time) | synthmix GFLOP/s | PyTorch GFLOP/s |', '|---|---|---:|---:|---:|---:|---:|', ...rows, '',
  data ? `BR35H load at 64×64 (3,000 files): cold ${data.cold.toFixed(1)} s (decode, hash, group), cached ${data.warm.toFixed(2)} s.` : 'BR35H not found beside the repository: data loading not measured.', '',
].join('\n');
const resultsMd = path.join(here, 'RESULTS.md');
if (!fs.existsSync(resultsMd)) fs.writeFileSync(resultsMd, '# Benchmark results\n\nAppended by `npm run bench`; newest last. See bench/README.md for what is measured.\n');
fs.appendFileSync(resultsMd, md);
process.stdout.write(`${md}\n`);
