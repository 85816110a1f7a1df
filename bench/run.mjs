#!/usr/bin/env node
// Benchmarks (not tests): synthmix's models on libtensorflow against the same models in PyTorch
// (as written, as a user would tune them, and torch.compile) on the same CPU, with repetitions
// interleaved (ours, theirs, ours, …) so that a CPU's turbo, a neighbour or thermal drift hits
// both sides alike; plus the synthetic-image quality measures and dataset loading. Writes
// bench/results/latest.json (min/median/max of every row, the CPU facts) and appends a dated
// table to bench/RESULTS.md.
// Usage: npm run bench [-- --quick] [-- --models cnn,dcgan,ddpm]
//   ONEDNN_MAX_CPU_ISA=AVX2 npm run bench   emulates an AVX2-only host (both sides; oneDNN's
//   verbose ISA line is recorded so it is visible whether it took effect).
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(here, '..');
const quick = process.argv.includes('--quick');
const repeats = quick ? 3 : 7;
const only = process.argv.includes('--models') ? process.argv[process.argv.indexOf('--models') + 1].split(',') : undefined;
const sorted = (xs) => [...xs].sort((a, b) => a - b);
const median = (xs) => sorted(xs)[Math.floor(xs.length / 2)];
const log = (m) => process.stderr.write(`bench: ${m}\n`);
const pause = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

const { cpuFactsWithIsa, cpuLine } = await import(path.join(root, 'scripts/cpu-facts.mjs'));
const { nearestRealSsimTensors, slicedWassersteinTensors } = await import(path.join(root, 'packages/core/dist/quality-tensors.js'));
const { nearestRealSsim, slicedWasserstein } = await import(path.join(root, 'packages/metrics/dist/index.js'));
const { choiceInWords, readChoices } = await import(path.join(root, 'packages/compile/dist/index.js'));
const { loadDataset, phantomDataset, subset } = await import(path.join(root, 'packages/data/dist/index.js'));
const { backend, buildCnn, buildDcgan, buildDdpm, startTorch, threads, torchVenv } = await import(path.join(here, 'models.mjs'));
const { tf } = backend;

// --- FLOP counts (multiply-adds × 2), per image: the work each step needs --------------------
// Backward = input gradients + weight gradients, each as costly as the layer's forward pass; the
// first layer needs no input gradient (nothing upstream learns from it).
const conv = (h, w, cin, cout, k) => 2 * h * w * cin * cout * k * k;
const CNN_LAYERS = [conv(64, 64, 3, 32, 3), conv(32, 32, 32, 64, 3), conv(16, 16, 64, 128, 3), 2 * 8192 * 128, 2 * 128];
const CNN_FWD = CNN_LAYERS.reduce((a, b) => a + b, 0);
// Transposed conv: each input pixel scatters a k×k×cout patch.
const G_LAYERS = [2 * 100 * 4 * 4 * 512, conv(4, 4, 512, 256, 4), conv(8, 8, 256, 128, 4), conv(16, 16, 128, 64, 4), conv(32, 32, 64, 3, 4)];
const D_LAYERS = [conv(32, 32, 3, 64, 4), conv(16, 16, 64, 128, 4), conv(8, 8, 128, 256, 4), conv(4, 4, 256, 512, 4), 2 * 8192];
const G_FWD = G_LAYERS.reduce((a, b) => a + b, 0);
const D_FWD = D_LAYERS.reduce((a, b) => a + b, 0);
const CNN_TRAIN = 3 * CNN_FWD - CNN_LAYERS[0];
// A DCGAN step with G(z) reused. Discriminator update: G forward, D forward on real and fake, D
// weight and input gradients (conv1's input gradient not needed; fake is detached) on both:
// G + 6D − 2·d1. Generator update: D forward on fake, D input gradients only (its weights are
// frozen), G weight and input gradients (none for its first layer): 2D + 2G − g1.
const DCGAN_STEP = 3 * G_FWD - G_LAYERS[0] + 8 * D_FWD - 2 * D_LAYERS[0];

// Each synthmix benchmark runs the plugin's own training step four ways: eager (op by op,
// compile: off), compiled (one TensorFlow graph per step, compile: on), compiled with XLA, and
// the default, compile: auto, which times those three on its first steps and takes the fastest
// (with a fresh choice file, so it measures here and now; the row says what it took).
const choicesDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-bench-choices-'));
const MODES = [
  { label: 'eager', mode: 'off', xla: false },
  { label: 'compiled', mode: 'on', xla: false },
  { label: 'compiled + XLA', mode: 'on', xla: true },
  { label: 'auto', mode: 'auto', trialFromMs: 0 },
];


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



/** Interleaved repetitions: each repetition times every contender once, in turn. */
async function race(contenders, perRepeat) {
  const times = new Map(contenders.map((c) => [c.label, []]));
  for (let r = 0; r < repeats; r++) {
    for (const c of contenders) {
      // A quarter second idle first: neither side's thread pool is still spinning when the other starts.
      await pause(250);
      times.get(c.label).push(await c.time(perRepeat));
    }
  }
  return times;
}

const MODELS = [
  { key: 'cnn', name: 'paper-cnn-train-64x64-b32', batch: 32, build: buildCnn, perRepeat: 16, flop: CNN_TRAIN },
  { key: 'dcgan', name: 'dcgan-64-train-step-b64', batch: 64, build: buildDcgan, perRepeat: 4, flop: DCGAN_STEP },
  { key: 'ddpm', name: 'ddpm-cpu-train-step-64x64-b32', batch: 32, build: buildDdpm, perRepeat: 6 },
].filter((m) => !only || only.includes(m.key));

const facts = await cpuFactsWithIsa();
log(cpuLine(facts));
log(`libtensorflow ${backend.tensorflowVersion}, ${threads} threads, ${repeats} interleaved repetitions`);
const torch = await startTorch(torchVenv());
log(`PyTorch ${torch.info.torch} (ATen CPU capability ${torch.info.capability}), variants ${torch.info.variants.join(', ')}`);
const entries = [];
const failedVariants = [];
for (const m of MODELS) {
  const ours = MODES.map(({ label, ...compile }) => {
    const choices = path.join(choicesDir, `${m.key}.json`);
    const run = m.build({ ...compile, ...(compile.mode === 'auto' ? { choices } : {}) });
    for (let i = 0; i < 4; i++) run.step(); // warm-up; a compiled step's first calls record and verify (auto: and time the paths)
    if (compile.mode === 'auto') {
      const [choice] = readChoices(choices).values();
      label = `auto → ${choice ? choiceInWords(choice) : 'compiled (not measured)'}`;
      log(`${m.name}: ${label}`);
    }
    return { side: 'synthmix', label, run, time: async (n) => { const t = performance.now(); for (let i = 0; i < n; i++) run.step(); return (performance.now() - t) / 1000 / n; } };
  });
  const theirs = [];
  for (const variant of torch.info.variants) {
    const ready = await torch.ask({ build: m.key, variant });
    if (!ready.ready) {
      log(`${m.name}: PyTorch ${variant} failed, left out: ${ready.error}`);
      failedVariants.push({ name: m.name, variant, error: ready.error });
      continue;
    }
    log(`${m.name}: PyTorch ${variant} ready (warm-up ${ready.warmup_s.toFixed(1)} s)`);
    theirs.push({ side: 'pytorch', label: variant, time: async (n) => (await torch.ask({ time: m.key, variant, steps: n })).seconds_per_step });
  }
  const times = await race([...ours, ...theirs], m.perRepeat);
  for (const o of ours) o.run.dispose();
  const stats = (label) => {
    const ts = sorted(times.get(label));
    return { min: m.batch / ts[ts.length - 1], median: m.batch / median(ts), max: m.batch / ts[0] };
  };
  const pytorch = Object.fromEntries(theirs.map((t) => [t.label, stats(t.label)]));
  const best = Object.entries(pytorch).reduce((a, b) => (b[1].median > a[1].median ? b : a));
  for (const o of ours) {
    const s = stats(o.label);
    const entry = { name: m.name, path: o.label, synthmix_img_per_s: s, pytorch_img_per_s: pytorch, best_pytorch: best[0], ratio_to_default: pytorch.default ? pytorch.default.median / s.median : undefined, ratio_to_best: best[1].median / s.median, ...(m.flop ? { flop_per_img: m.flop, synthmix_gflops: (s.median * m.flop) / 1e9, best_pytorch_gflops: (best[1].median * m.flop) / 1e9 } : {}) };
    entries.push(entry);
    log(`${m.name} (${o.label}): ${s.median.toFixed(1)} img/s [${s.min.toFixed(1)}–${s.max.toFixed(1)}]; PyTorch best ${best[0]} ${best[1].median.toFixed(1)}; ratio ${entry.ratio_to_best.toFixed(2)}`);
  }
}
torch.stop();

/** The quality measures of one class at the demo's sizes and at 64 px: float64 JavaScript against TensorFlow. */
function timeQuality() {
  const rows = [];
  for (const { size, side } of [{ size: 32, side: 150 }, { size: 64, side: 256 }]) {
    const set = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 2 * side, size, channels: 3, seed: 1 });
    const images = (indices) => { const s = subset(set, indices); return { data: s.images, count: s.count, height: size, width: size, channels: 3 }; };
    const range = (from, n) => Array.from({ length: n }, (_, i) => from + i);
    const real = images(range(0, 192));
    const synthetic = images(range(2 * side, 48));
    const [a, b] = [images(range(0, side)), images(range(2 * side, side))];
    // One class as a sweep measures it: SSIM of 48 synthetic against 192 real, 4 draws × 2 patch distances.
    const javascript = () => { nearestRealSsim(synthetic, real); for (let k = 0; k < 8; k++) slicedWasserstein(a, b, { seed: k }); };
    const tensors = () => { nearestRealSsimTensors(tf, synthetic, real); for (let k = 0; k < 8; k++) slicedWassersteinTensors(tf, a, b, { seed: k }); };
    tensors();
    const timed = (fn) => { const ts = []; for (let r = 0; r < 3; r++) { const t = performance.now(); fn(); ts.push((performance.now() - t) / 1000); } return median(ts); };
    const js = timed(javascript);
    const tfTime = timed(tensors);
    rows.push({ size, side, javascript_s: js, tensorflow_s: tfTime });
    log(`quality of one class at ${size} px, ${side} a side: JavaScript ${js.toFixed(2)} s, TensorFlow ${tfTime.toFixed(2)} s`);
  }
  return rows;
}
const quality = timeQuality();
const data = await timeData();

const machine = `${facts.model} (family ${facts.family} model ${facts.cpuModel}), ${threads} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, ${os.platform()} ${os.arch()}, Node ${process.version}`;
const result = { date: new Date().toISOString(), machine, cpu: facts, tensorflow: backend.tensorflowVersion, torch: torch.info.torch, torch_cpu_capability: torch.info.capability, threads, repeats, benchmarks: entries, failed_variants: failedVariants, quality_one_class: quality, data_br35h_64px: data };
fs.mkdirSync(path.join(here, 'results'), { recursive: true });
fs.writeFileSync(path.join(here, 'results', 'latest.json'), `${JSON.stringify(result, null, 2)}\n`);
const rate = (s) => (s ? `${s.median.toFixed(1)} (${s.min.toFixed(0)}–${s.max.toFixed(0)})` : 'failed');
const rows = entries.map((e) => `| ${e.name} | ${e.path} | ${rate(e.synthmix_img_per_s)} | ${rate(e.pytorch_img_per_s.default)} | ${rate(e.pytorch_img_per_s.tuned)} | ${rate(e.pytorch_img_per_s.compile)} | ${e.ratio_to_default?.toFixed(2) ?? '—'} | **${e.ratio_to_best.toFixed(2)}** (${e.best_pytorch}) | ${e.synthmix_gflops?.toFixed(0) ?? '—'} / ${e.best_pytorch_gflops?.toFixed(0) ?? '—'} |`);
const md = [
  '', `## ${result.date.slice(0, 10)} — ${machine}${facts.maxIsa !== 'unset' ? ` — ONEDNN_MAX_CPU_ISA=${facts.maxIsa}` : ''}`, '',
  `CPU flags: ${facts.flags.join(' ')}. oneDNN ISA (verbose): ${facts.onednnIsa}; PyTorch ATen capability: ${torch.info.capability}.`,
  `libtensorflow ${result.tensorflow} (tfjs-node 4.22), PyTorch ${result.torch}, ${threads} threads; img/s median (min–max) of ${repeats} interleaved repetitions.`, '',
  '| benchmark | synthmix path | synthmix | PyTorch default | PyTorch channels_last + fused Adam | torch.compile | ratio to default | ratio to best PyTorch | GFLOP/s ours / best |', '|---|---|---:|---:|---:|---:|---:|---:|---:|', ...rows, '',
  ...failedVariants.map((f) => `${f.name}: PyTorch ${f.variant} failed and is left out (${f.error}).`), ...(failedVariants.length ? [''] : []),
  `Quality measures of one class (SSIM 48 × 192, 8 patch distances): ${quality.map((q) => `${q.size} px, ${q.side} a side: JavaScript ${q.javascript_s.toFixed(2)} s, TensorFlow ${q.tensorflow_s.toFixed(2)} s`).join('; ')}.`, '',
  data ? `BR35H load at 64×64 (3,000 files): cold ${data.cold.toFixed(1)} s (decode, hash, group), cached ${data.warm.toFixed(2)} s.` : 'BR35H not found beside the repository: data loading not measured.', '',
].join('\n');
const resultsMd = path.join(here, 'RESULTS.md');
if (!fs.existsSync(resultsMd)) fs.writeFileSync(resultsMd, '# Benchmark results\n\nAppended by `npm run bench`; newest last. See bench/README.md for what is measured.\n');
fs.appendFileSync(resultsMd, md);
process.stdout.write(`${md}\n`);
