#!/usr/bin/env node
// Dataset loading at scale (not a test): cold and cached load time and peak resident memory of
// loadDataset on generated folders of 20,000 and 100,000 64×64 PNGs, beside BR35H (3,000 files
// of 150–1920 px). Each load runs in a fresh process, so its peak memory is its own.
// A third process loads from the cache and trains one DCGAN epoch on every image (tiny widths):
// the peak memory of handing a large real pool to a generator plugin.
// Usage: npm run bench:data [-- --sizes 20000,100000]   (appends a dated table to bench/RESULTS.md)
// SYNTHMIX_BENCH_ROOT=<another checkout> measures that checkout's packages (a before/after).
// The generated folders are kept in bench/.data (about 0.5 KB… 10 KB a file) for the next run.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(process.env.SYNTHMIX_BENCH_ROOT ?? path.join(here, '..'));
const data = await import(path.join(root, 'packages/data/dist/index.js'));
const log = (m) => process.stderr.write(`bench:data: ${m}\n`);
const spec = (dir, classes) => ({ source: 'folder', path: dir, classes, phantomPerClass: 0, imageSize: 64, channels: 3, leakageGuard: { enabled: true, maxHammingDistance: 8 }, strict: false, maxPixels: 4e7 });

if (process.argv[2] === '--child') {
  // One load in this process: {seconds, maxRssMiB, count, groups, cached}.
  const [dir, classesJson, cacheDir] = process.argv.slice(3);
  const t = performance.now();
  const d = await data.loadDataset(spec(dir, JSON.parse(classesJson)), cacheDir ? { cacheDir } : {});
  const seconds = (performance.now() - t) / 1000;
  process.stdout.write(`${JSON.stringify({ seconds, maxRssMiB: process.resourceUsage().maxRSS / 1024, count: d.set.count, groups: d.report.groups.count, cached: d.cached })}\n`);
  process.exit(0);
}

if (process.argv[2] === '--child-train') {
  // A cached load, then one DCGAN epoch on all of it: {seconds, maxRssMiB, count}.
  const [dir, classesJson, cacheDir] = process.argv.slice(3);
  const { loadBackend, createRng } = await import(path.join(root, 'packages/core/dist/index.js'));
  const { default: dcgan } = await import(path.join(root, 'packages/gan-dcgan/dist/index.js'));
  const backend = await loadBackend('tensorflow');
  const d = await data.loadDataset(spec(dir, JSON.parse(classesJson)), { cacheDir });
  const t = performance.now();
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-bench-train-'));
  const options = { epochs: 1, batchSize: 500, latentDim: 8, ngf: 4, ndf: 4, learningRate: 2e-4, beta1: 0.5, realLabel: 0.9, dStepsPerGStep: 1, augment: [], emaDecay: 0, checkpointEvery: 1, samplesPerGrid: 8, writePngs: false };
  await dcgan().train(d.set, options, { compile: { mode: 'on', xla: false }, tf: backend.tf, seed: 1, random: createRng(1), signal: new AbortController().signal, workDir, progress: async () => {}, metric() {}, artifact() {}, warn() {} });
  fs.rmSync(workDir, { recursive: true, force: true });
  process.stdout.write(`${JSON.stringify({ seconds: (performance.now() - t) / 1000, maxRssMiB: process.resourceUsage().maxRSS / 1024, count: d.set.count })}\n`);
  process.exit(0);
}

const sizes = process.argv.includes('--sizes') ? process.argv[process.argv.indexOf('--sizes') + 1].split(',').map(Number) : [20_000, 100_000];

/** A folder of `count` 64×64 RGB PNGs, two classes of phantoms with per-image noise (generated once). */
async function generated(count) {
  const dir = path.join(here, '.data', `phantoms-${count}`);
  if (fs.existsSync(path.join(dir, '.complete'))) return dir;
  fs.rmSync(dir, { recursive: true, force: true });
  const { default: sharp } = await import(path.join(root, 'node_modules/sharp/lib/index.js'));
  const perClass = count / 2;
  const batch = 1000;
  for (const name of ['tumor', 'healthy']) {
    fs.mkdirSync(path.join(dir, name), { recursive: true });
    for (let start = 0; start < perClass; start += batch) {
      const n = Math.min(batch, perClass - start);
      const set = data.phantomDataset({ classNames: [name], perClass: n, size: 64, channels: 3, seed: start + 1 });
      await Promise.all(Array.from({ length: n }, (_, i) => {
        const bytes = Buffer.alloc(64 * 64 * 3);
        for (let p = 0; p < bytes.length; p++) bytes[p] = Math.round((set.images[i * bytes.length + p] + 1) * 127.5);
        return sharp(bytes, { raw: { width: 64, height: 64, channels: 3 } }).png().toFile(path.join(dir, name, `${String(start + i).padStart(6, '0')}.png`));
      }));
      log(`generating ${count}: ${name} ${start + n}/${perClass}`);
    }
  }
  fs.writeFileSync(path.join(dir, '.complete'), '');
  return dir;
}

function load(dir, classes, cacheDir, mode = '--child') {
  const out = execFileSync(process.execPath, [fileURLToPath(import.meta.url), mode, dir, JSON.stringify(classes), ...(cacheDir ? [cacheDir] : [])], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'], maxBuffer: 1 << 20 });
  return JSON.parse(out.trim().split('\n').pop());
}

const { cpuFactsWithIsa, cpuLine } = await import(path.join(root, 'scripts/cpu-facts.mjs'));
const facts = await cpuFactsWithIsa();
log(cpuLine(facts));
const cases = [];
const br35h = path.resolve(root, '../shared/datasets/br35h');
if (fs.existsSync(br35h)) cases.push({ name: 'BR35H (3,000 files, 150–1920 px)', dir: br35h, classes: [{ name: 'tumor', folder: 'yes' }, { name: 'healthy', folder: 'no' }] });
for (const n of sizes) cases.push({ name: `${n.toLocaleString('en')} generated 64×64 PNGs`, dir: await generated(n), classes: [{ name: 'tumor', folder: 'tumor' }, { name: 'healthy', folder: 'healthy' }], n });
const rows = [];
for (const c of cases) {
  const cacheDir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-bench-data-'));
  const cold = load(c.dir, c.classes, cacheDir);
  const cached = load(c.dir, c.classes, cacheDir);
  const train = load(c.dir, c.classes, cacheDir, '--child-train');
  fs.rmSync(cacheDir, { recursive: true, force: true });
  // What the pixels take as bytes, and as the float32 the models read.
  const uint8MiB = (cold.count * 64 * 64 * 3) / 2 ** 20;
  rows.push({ ...c, cold, cached, train, uint8MiB });
  log(`${c.name}: cold ${cold.seconds.toFixed(1)} s, ${cold.maxRssMiB.toFixed(0)} MiB peak; cached ${cached.seconds.toFixed(1)} s, ${cached.maxRssMiB.toFixed(0)} MiB; one DCGAN epoch after a cached load ${train.maxRssMiB.toFixed(0)} MiB; ${cold.groups} groups`);
}
const machine = `${facts.model} (family ${facts.family} model ${facts.cpuModel}), ${facts.cores} cores, ${Math.round(os.totalmem() / 2 ** 30)} GiB, Node ${process.version}`;
const md = [
  '', `## Data loading (\`npm run bench:data\`) — ${new Date().toISOString().slice(0, 10)} — ${machine}`, '',
  'loadDataset at 64×64×3 with the leakage guard (dHash ≤ 8 bits), each load in a fresh process; the cached load reads the preprocessed bytes back; "+ DCGAN epoch" is a cached load then one epoch of the dcgan plugin on every image (widths 4, batch 500), in its own process.', '',
  '| dataset | images | cold s | cold peak MiB | cached s | cached peak MiB | + DCGAN epoch peak MiB | pixels as uint8 / float32 MiB | near-duplicate groups |', '|---|---:|---:|---:|---:|---:|---:|---:|---:|',
  ...rows.map((r) => `| ${r.name} | ${r.cold.count} | ${r.cold.seconds.toFixed(1)} | ${r.cold.maxRssMiB.toFixed(0)} | ${r.cached.seconds.toFixed(2)} | ${r.cached.maxRssMiB.toFixed(0)} | ${r.train.maxRssMiB.toFixed(0)} | ${r.uint8MiB.toFixed(0)} / ${(4 * r.uint8MiB).toFixed(0)} | ${r.cold.groups} |`), '',
].join('\n');
fs.appendFileSync(path.join(here, 'RESULTS.md'), md);
process.stdout.write(`${md}\n`);
