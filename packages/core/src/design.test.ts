/**
 * The design: augment mode and a real-data-size axis planned into cells and generators, the real
 * subsets nested, each size's generator trained on that size's real training images only.
 */
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cacheLayout } from './layout.js';
import { ManifestError } from './index.js';
import { runSweep } from './runner.js';
import { loadSweepData, nestedRealSubset, sampleCell } from './jobs.js';
import { sweepFixture } from './__fixtures__/sweep-fixture.js';

const fixture = sweepFixture('design');
const root = fixture.root;

const base = `name: design-test
seeds: [1, 2]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 60
  imageSize: 16
  testPerClass: 10
generator:
  plugin: ./mean-generator.ts
classifier:
  plugin: ./nearest-mean.ts
`;

const plan = (name: string, design: string) => fixture.plan(name, `${base}${design}`);

async function refusal(design: string): Promise<string[]> {
  try {
    await plan('bad', design);
  } catch (err) {
    if (err instanceof ManifestError) return err.diagnostics.map((d) => `${d.path}: ${d.message}`);
    throw err;
  }
  return [];
}

describe('planning', () => {
  it('augment: size × multiple × seed cells, synthetic images on the training split only, one generator per seed and size', async () => {
    const p = await plan('aug', 'mode: augment\ntrainingSetSize: [20, 40]\nsyntheticPerReal: [0, 0.5, 2]\n');
    expect(p.cells.filter((c) => c.seed === 1).map((c) => [c.id, c.realPerClass, c.valPerClass, c.syntheticPerClass, c.trainPerClass])).toEqual([
      ['real20-x0-seed1', 10, 2, 0, 8], ['real20-x0.5-seed1', 10, 2, 4, 12], ['real20-x2-seed1', 10, 2, 16, 24],
      ['real40-x0-seed1', 20, 4, 0, 16], ['real40-x0.5-seed1', 20, 4, 8, 24], ['real40-x2-seed1', 20, 4, 32, 48],
    ]);
    // Equal optimizer steps: the 20-image generator learns from half the images, for twice the epochs (2 → 4).
    expect(p.generators).toEqual([
      { id: 'generator-seed1-real20', seed: 1, realPerClass: 8, poolPerClass: 16, options: { epochs: 4 } }, { id: 'generator-seed1-real40', seed: 1, realPerClass: 16, poolPerClass: 32 },
      { id: 'generator-seed2-real20', seed: 2, realPerClass: 8, poolPerClass: 16, options: { epochs: 4 } }, { id: 'generator-seed2-real40', seed: 2, realPerClass: 16, poolPerClass: 32 },
    ]);
    const epochs = await plan('aug-epochs', 'mode: augment\ntrainingSetSize: [20, 40]\nsyntheticPerReal: [0, 1]\ngeneratorBudget: epochs\n');
    expect(epochs.generators.every((g) => g.options === undefined)).toBe(true);
  });

  it('replace at several sizes: the ratio grid at each, a generator per size; one size keeps one generator per seed on the whole pool', async () => {
    const p = await plan('rep', 'trainingSetSize: [20, 40]\nratios: [0, 0.5]\n');
    expect(p.cells.filter((c) => c.seed === 1).map((c) => [c.id, c.generator])).toEqual([
      ['real20-synth0-seed1', 'generator-seed1-real20'], ['real10-synth10-seed1', 'generator-seed1-real20'], ['real40-synth0-seed1', 'generator-seed1-real40'], ['real20-synth20-seed1', 'generator-seed1-real40'],
    ]);
    const one = await plan('one', 'trainingSetSize: 20\nratios: [0, 0.5]\n');
    expect(one.cells.every((c) => c.generator === undefined)).toBe(true);
    expect(one.generators.map((g) => g.id)).toEqual(['generator-seed1', 'generator-seed2']);
    const all = await plan('all', 'mode: augment\ntrainingSetSize: [20, 40]\nsyntheticPerReal: [0, 1]\ngeneratorData: all\n');
    expect(all.generators.map((g) => [g.id, g.poolPerClass])).toEqual([['generator-seed1', 16], ['generator-seed2', 16]]);
  });

  it('refuses the keys of the other design and sizes the data cannot fill, saying where', async () => {
    expect(await refusal('mode: augment\ntrainingSetSize: 20\nratios: [0, 0.5]\n')).toEqual([
      'mode: mode augment needs syntheticPerReal: synthetic images added per real training image, e.g. [0, 0.5, 1, 2, 4]',
      'ratios: ratios are the synthetic fractions of mode replace; in mode augment give syntheticPerReal (synthetic images added per real one)',
    ]);
    expect(await refusal('trainingSetSize: 20\nsyntheticPerReal: [0, 1]\n')).toEqual(['syntheticPerReal: syntheticPerReal is for mode augment (synthetic images added to the real ones); mode is replace by default, where ratios say what share of the real images is replaced']);
    expect(await refusal('mode: augment\ntrainingSetSize: [20, 120]\nsyntheticPerReal: [0, 1]\n')).toEqual(['trainingSetSize.1: 120 images need 60 real images per class, but each class has 50 outside the test set (10 per class); the largest size is 100']);
  });
});

describe('sampling', () => {
  it('real subsets are nested across sizes; augment cells of one size share their real validation set', async () => {
    const p = await plan('nested', 'mode: augment\ntrainingSetSize: [20, 40]\nsyntheticPerReal: [0, 2]\n');
    const sweep = await loadSweepData(p, path.join(root, 'cache-nested'));
    const small = nestedRealSubset(sweep.realPool, 1, 10, 2);
    const large = nestedRealSubset(sweep.realPool, 1, 20, 4);
    const all = (s: { train: number[]; val: number[] }) => new Set([...s.train, ...s.val]);
    expect([...all(small)].every((i) => all(large).has(i))).toBe(true);
    const fake = { ...sweep.realPool, ids: sweep.realPool.ids?.map((id) => `synthetic:${id}`) };
    const [x0, x2] = p.cells.filter((c) => c.seed === 1 && c.trainingSetSize === 20);
    const a = sampleCell(x0, sweep.realPool, undefined);
    const b = sampleCell(x2, sweep.realPool, fake);
    expect(b.val.ids).toEqual(a.val.ids);
    expect(b.val.ids!.every((id) => !String(id).startsWith('synthetic:'))).toBe(true);
    expect([a.train.count, b.train.count]).toEqual([16, 16 + 32]);
    expect(b.train.ids!.filter((id) => String(id).startsWith('synthetic:'))).toHaveLength(32);
  });

  it('each size generator learned from its own real training images only (which and how many)', async () => {
    const p = await plan('seen', 'mode: augment\ntrainingSetSize: [20, 40]\nsyntheticPerReal: [0, 1]\n');
    const cacheDir = path.join(root, 'cache-seen');
    const events: { type: string; stateKey?: string; generator?: string }[] = [];
    const summary = await runSweep(p, { cacheDir, backend: fixture.backend, bootstrapResamples: 20, onEvent: (e) => events.push(e) });
    expect(summary.status).toBe('finished');
    const sweep = await loadSweepData(p, cacheDir);
    const starts = events.filter((e) => e.type === 'generator:start');
    expect(starts.map((e) => e.generator).sort()).toEqual(['generator-seed1-real20', 'generator-seed1-real40', 'generator-seed2-real20', 'generator-seed2-real40']);
    for (const start of starts) {
      const g = p.generators.find((x) => x.id === start.generator)!;
      const seen = JSON.parse(fs.readFileSync(path.join(cacheLayout(cacheDir).generatorDir(start.stateKey!), 'seen.json'), 'utf8')) as string[];
      const size = Number(g.id.split('-real')[1]) / 2;
      const expected = nestedRealSubset(sweep.realPool, g.seed, size, size - g.realPerClass!).train.map((i) => String(sweep.realPool.ids![i]));
      expect(seen.length).toBe(2 * g.realPerClass!);
      expect([...seen].sort()).toEqual([...expected].sort());
    }
    const csv = fs.readFileSync(path.join(p.outputDir, 'results.csv'), 'utf8').trim().split('\n');
    expect(csv[0].split(',').slice(-3)).toEqual(['mode', 'training_set_size', 'synthetic_per_real']);
    expect(csv.slice(1).filter((l) => l.includes('seed1')).map((l) => l.split(',').slice(-3).join(' '))).toEqual(['augment 20 0', 'augment 20 1', 'augment 40 0', 'augment 40 1']);
    expect(summary.answer?.sizes.map((s) => [s.mode, s.perClass])).toEqual([['augment', 10], ['augment', 20]]);
  });
});
