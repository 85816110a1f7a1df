import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { phantomDataset } from '@synthmix/data';
import { loadBackend, type LoadedBackend } from './backend.js';
import type { SweepEvent } from './events.js';
import { loadManifest, type ResolvedPlan } from './manifest.js';
import { loadPlugin } from './plugins.js';
import { runSweep, sampleCell } from './runner.js';
import { calls } from './__fixtures__/fake-plugins.js';

const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-runner-'));
const fixtures = path.join(import.meta.dirname, '__fixtures__');
let backend: LoadedBackend;
beforeAll(async () => {
  backend = await loadBackend('cpu');
});
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));
beforeEach(() => Object.assign(calls, { train: 0, generate: 0, fit: 0 }));

const manifest = (options: string) => `name: runner-test
seeds: [1, 2]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 40
  imageSize: 32
  testPerClass: 10
generator:
  plugin: ./mean-generator.ts
  options: { ${options} }
classifier:
  plugin: ./nearest-mean.ts
ratios: [0, 0.5, 1]
trainingSetSize: 20
`;

/** A plan whose output folder is runs/<name>, so tests do not resume each other's sweeps. */
async function plan(name: string, options = 'epochs: 2', overrides: string[] = []): Promise<ResolvedPlan> {
  const file = path.join(fixtures, `.${name}.yaml`);
  fs.writeFileSync(file, manifest(options));
  overrides = [`output=runs/${name}`, ...overrides];
  try {
    return await loadManifest(file, { projectRoot: root, overrides, pluginSchema: async (ref, kind, dir) => (await loadPlugin(ref, kind, dir)).optionsSchema });
  } finally {
    fs.rmSync(file);
  }
}

async function run(p: ResolvedPlan, cacheDir = path.join(root, 'cache'), signal?: AbortSignal) {
  const events: SweepEvent[] = [];
  const summary = await runSweep(p, { cacheDir, backend, onEvent: (e) => events.push(e), bootstrapResamples: 50, signal });
  return { summary, events };
}

describe('runSweep', () => {
  it('runs every ratio × seed cell, emits typed events and writes the output folder', async () => {
    const p = await plan('full');
    const { summary, events } = await run(p, path.join(root, 'cache-full'));
    expect(summary.status).toBe('finished');
    expect(summary.results.map((r) => r.cell.id).sort()).toEqual(p.cells.map((c) => c.id).sort());
    const types = events.map((e) => e.type);
    expect(types[0]).toBe('sweep:start');
    expect(types.at(-1)).toBe('sweep:done');
    expect(types.filter((t) => t === 'generator:start')).toHaveLength(2);
    expect(types.filter((t) => t === 'cell:done')).toHaveLength(6);
    expect(calls).toEqual({ train: 2, generate: 2, fit: 6 });
    // The bright-fraction classifier separates real phantom classes (the mean-image "generator"
    // does not make useful data, so mixed cells are near chance, as bad synthetic data should be).
    for (const r of summary.results.filter((x) => x.cell.ratio === 0)) expect(r.metrics.accuracy).toBeGreaterThan(0.8);
    const out = p.outputDir;
    for (const f of ['manifest.yaml', 'plan.json', 'data-report.json', 'test-set.json', 'results.csv', 'events.jsonl']) expect(fs.existsSync(path.join(out, f)), f).toBe(true);
    const csv = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv).toHaveLength(7);
    expect(csv[0].split(',').slice(0, 7)).toEqual(['cell', 'ratio', 'seed', 'real_per_class', 'synthetic_per_class', 'generator_epoch', 'averaging']);
    expect(JSON.parse(fs.readFileSync(path.join(out, 'test-set.json'), 'utf8')).ids).toHaveLength(20);
    // Generative quality per class: the mean-image "generator" makes near-identical images.
    const quality = JSON.parse(fs.readFileSync(path.join(out, 'quality-seed1.json'), 'utf8'));
    expect(Object.keys(quality.perClass)).toEqual(['tumor', 'healthy']);
    expect(quality.perClass.tumor.ssimNearestMean).toBeGreaterThan(-1);
    expect(quality.perClass.tumor.ssimNearestMean).toBeLessThanOrEqual(1);
    expect(quality.perClass.tumor.diversity).toBeLessThan(quality.perClass.tumor.realDiversity);
    expect(events.some((e) => e.type === 'metric' && e.name === 'quality_tumor_ssimNearestMean')).toBe(true);
  });

  it('reuses a cached generator state and pool in a later sweep', async () => {
    const cache = path.join(root, 'cache-reuse');
    await run(await plan('reuse-a'), cache);
    expect(calls.train).toBe(2);
    const second = await plan('reuse-b');
    const { events } = await run(second, cache);
    expect(calls.train).toBe(2);
    expect(calls.generate).toBe(2);
    expect(events.filter((e) => e.type === 'generator:start').map((e) => (e as { cached: boolean }).cached)).toEqual([true, true]);
    // Another option is another key: trained again.
    await run(await plan('reuse-c', 'epochs: 2, noise: 0.2'), cache);
    expect(calls.train).toBe(4);
  });

  it('resumes: completed cells are skipped, an interrupted cell restarts', async () => {
    const p = await plan('resume');
    const cache = path.join(root, 'cache-resume');
    const controller = new AbortController();
    const events: SweepEvent[] = [];
    const summary = await runSweep(p, {
      cacheDir: cache, backend, bootstrapResamples: 50, signal: controller.signal,
      onEvent: (e) => {
        events.push(e);
        if (e.type === 'cell:done' && events.filter((x) => x.type === 'cell:done').length === 2) controller.abort();
      },
    });
    expect(summary.status).toBe('interrupted');
    expect(summary.results).toHaveLength(2);
    expect(events.at(-1)).toMatchObject({ type: 'sweep:done', status: 'interrupted' });
    Object.assign(calls, { train: 0, generate: 0, fit: 0 });
    const again = await run(p, cache);
    expect(again.summary.status).toBe('finished');
    expect((again.events[0] as { resumed: string[] }).resumed).toEqual(['real20-synth0-seed1', 'real10-synth10-seed1']);
    expect(calls.fit).toBe(4);
    expect(again.summary.results).toHaveLength(6);
  });

  it('records a failed cell and goes on with the others', async () => {
    const p = await plan('failing', 'epochs: 2', ['classifier.options.failOn=real10-synth10-seed2']);
    const { summary, events } = await run(p, path.join(root, 'cache-fail'));
    expect(summary.status).toBe('failed');
    expect(summary.failed).toEqual([{ cellId: 'real10-synth10-seed2', error: 'planned classifier failure' }]);
    expect(summary.results).toHaveLength(5);
    expect(events.at(-1)).toMatchObject({ type: 'sweep:done', status: 'failed', error: '1 cell(s) failed' });
  });

  it('retries a failed generator job from its checkpoint, then records its cells failed and runs the rest', async () => {
    const cache = path.join(root, 'cache-gen-fail');
    const failing = await plan('gen-fail', 'epochs: 3, failAtEpoch: 3');
    const { summary, events } = await run(failing, cache);
    expect(summary.status).toBe('failed');
    // Attempt 2 resumed at epoch 3 from the checkpoint of attempt 1: epochs 1-2 ran once per seed.
    const progress = events.filter((e) => e.type === 'generator:progress' && e.seed === 1).map((e) => (e as { progress: { step: number } }).progress.step);
    expect(progress).toEqual([1, 2]);
    expect(events.filter((e) => e.type === 'job:retry').map((e) => (e as { jobId: string }).jobId)).toEqual(['generator-seed1', 'generator-seed2']);
    expect(events.filter((e) => e.type === 'generator:failed')).toHaveLength(2);
    // The 100:0 cells need no synthetic image and still run; the others say why they did not.
    expect(summary.results.map((r) => r.cell.id).sort()).toEqual(['real20-synth0-seed1', 'real20-synth0-seed2']);
    expect(summary.failed.map((f) => f.error)).toEqual(Array(4).fill('not run: job generator-seed1 failed: planned failure at epoch 3').map((e, i) => (i < 2 ? e : e.replace('seed1', 'seed2'))));
    const logged = fs.readFileSync(path.join(failing.outputDir, 'events.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l));
    expect(logged.at(-1)).toMatchObject({ type: 'sweep:done', status: 'failed', error: '4 cell(s) failed' });
  });
});

describe('GAN-epoch ablation', () => {
  it('refuses a generator that keeps no snapshots, before any work', async () => {
    const p = await plan('no-snapshots', 'epochs: 2', ['generator.checkpoints=[1]']);
    await expect(run(p, path.join(root, 'cache-snap'))).rejects.toThrow('generator.checkpoints: the generator "test:mean-generator" cannot generate from earlier epochs');
  });
});

describe('resume keeps every result', () => {
  it('the Fréchet distance of the 100:0 cell survives a rerun after a kill during later cells', async () => {
    const p = await plan('frechet-resume');
    const cache = path.join(root, 'cache-frechet');
    await run(p, cache);
    const qualityFile = path.join(p.outputDir, 'quality-seed1.json');
    const before = JSON.parse(fs.readFileSync(qualityFile, 'utf8')).perClass;
    expect(before.tumor.frechetRealClassifier).toBeGreaterThan(0);
    // As after a kill while a synthetic cell of seed 1 trained: its result is missing.
    fs.rmSync(path.join(p.outputDir, 'cells', 'real10-synth10-seed1'), { recursive: true });
    const { summary } = await run(p, cache);
    expect(summary.status).toBe('finished');
    const after = JSON.parse(fs.readFileSync(qualityFile, 'utf8')).perClass;
    expect(after.tumor.frechetRealClassifier).toBe(before.tumor.frechetRealClassifier);
    expect(after.healthy.frechetRealClassifier).toBe(before.healthy.frechetRealClassifier);
  });
});

describe('sampleCell', () => {
  const pool = phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 30, size: 8, channels: 1 });
  const synthetic = { ...phantomDataset({ classNames: ['tumor', 'healthy'], perClass: 20, size: 8, channels: 1, seed: 9 }) };
  synthetic.ids = synthetic.ids!.map((id) => `synthetic:${id}`);
  const cell = { id: 'c', ratio: 0.4, seed: 3, realPerClass: 12, syntheticPerClass: 8, trainPerClass: 16, valPerClass: 4 };

  it('is class-balanced with the planned real/synthetic mix', () => {
    const { train, val } = sampleCell(cell, pool, synthetic);
    expect(train.count).toBe(32);
    expect(val.count).toBe(8);
    for (const set of [train, val]) expect([0, 1].map((c) => set.labels.filter((l) => l === c).length)).toEqual([set.count / 2, set.count / 2]);
    const all = [...train.ids!, ...val.ids!];
    expect(all.filter((id) => id.startsWith('synthetic:')).length).toBe(16);
    expect(new Set(all).size).toBe(40);
  });

  it('is deterministic for a seed and differs for another', () => {
    const a = sampleCell(cell, pool, synthetic);
    const b = sampleCell(cell, pool, synthetic);
    const c = sampleCell({ ...cell, seed: 4 }, pool, synthetic);
    expect(a.train.ids).toEqual(b.train.ids);
    expect(a.train.ids).not.toEqual(c.train.ids);
  });
});
