import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { ManifestError } from './errors.js';
import { cellsInWords, isComparison, loadComparison, loadManifest, type Manifest, type ResolvedPlan } from './manifest.js';
import { loadPlugin } from './plugins.js';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-manifest-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));
const fixtures = path.join(import.meta.dirname, '__fixtures__');

const base = `name: t
seeds: [1, 2]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 40
  imageSize: 8
  testPerClass: 10
generator:
  plugin: ${fixtures}/mean-generator.ts
  options:
    epochs: 3
classifier:
  plugin: ${fixtures}/nearest-mean.ts
ratios: [0, 0.5, 1]
trainingSetSize: 20
`;

function write(name: string, text: string): string {
  const file = path.join(dir, name);
  fs.writeFileSync(file, text);
  return file;
}

const pluginSchema = async (ref: string, kind: 'generator' | 'classifier', base: string) => (await loadPlugin(ref, kind, base)).optionsSchema;

async function errorsOf(text: string, overrides: string[] = []): Promise<string[]> {
  const file = write('bad.yaml', text);
  try {
    await loadManifest(file, { pluginSchema, overrides });
  } catch (err) {
    expect(err).toBeInstanceOf(ManifestError);
    return (err as ManifestError).message.split('\n').map((l) => l.replace(`${path.relative(process.cwd(), file)}`, 'bad.yaml'));
  }
  throw new Error('expected the manifest to be rejected');
}

describe('loadManifest', () => {
  it('resolves a valid manifest with defaults, expanded ratios and cells', async () => {
    const plan: ResolvedPlan = await loadManifest(write('ok.yaml', base), { pluginSchema, projectRoot: dir });
    expect(plan.ratios).toEqual([0, 0.5, 1]);
    expect(plan.cells.map((c) => c.id)).toEqual([
      'real20-synth0-seed1', 'real10-synth10-seed1', 'real0-synth20-seed1',
      'real20-synth0-seed2', 'real10-synth10-seed2', 'real0-synth20-seed2',
    ]);
    expect(plan.cells[1]).toMatchObject({ realPerClass: 5, syntheticPerClass: 5, trainPerClass: 8, valPerClass: 2 });
    expect(plan.dataset.leakageGuard).toEqual({ enabled: true, maxHammingDistance: 8 });
    expect(plan.dataset.channels).toBe(3);
    expect(plan.generator.options).toEqual({ epochs: 3, noise: 0.1 });
    expect(plan.syntheticPerClass).toBe(10);
    expect(plan.tracking).toEqual({ enabled: true, experiment: 't', uri: undefined });
    expect(plan.outputDir).toBe(path.join(dir, 'runs', 't'));
    expect(plan.backend).toBe('auto');
    const typed: Manifest = plan.manifest;
    expect(typed.seeds).toEqual([1, 2]);
  });

  it('adds cells per generator snapshot for a GAN-epoch ablation', async () => {
    const plan = await loadManifest(write('epochs.yaml', base.replace('    epochs: 3\n', '    epochs: 3\n  checkpoints: [2, 1]\n')), { pluginSchema, projectRoot: dir });
    expect(plan.generator.checkpoints).toEqual([1, 2]);
    expect(plan.cells.filter((c) => c.seed === 1).map((c) => `${c.id} ${c.generatorEpoch ?? ''}`.trim())).toEqual([
      'real20-synth0-seed1', 'real10-synth10-seed1', 'real0-synth20-seed1',
      'real10-synth10-seed1-gen1 1', 'real0-synth20-seed1-gen1 1', 'real10-synth10-seed1-gen2 2', 'real0-synth20-seed1-gen2 2',
    ]);
    expect(`${plan.cells.length} cells: ${cellsInWords(plan)}`).toBe('14 cells: 3 ratios × 2 seeds + 8 from generator epochs 1, 2');
    expect(await errorsOf(base.replace('    epochs: 3\n', '    epochs: 3\n  checkpoints: [0]\n'))).toEqual(['bad.yaml:13:17: generator.checkpoints.0: expected a number ≥ 1, found number 0']);
  });

  it('expands {from, to, step} without floating-point drift', async () => {
    const plan = await loadManifest(write('grid.yaml', base.replace('ratios: [0, 0.5, 1]', 'ratios: { from: 0, to: 1, step: 0.1 }')), { pluginSchema });
    expect(plan.ratios).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(plan.cells).toHaveLength(22);
  });

  it('reports every problem at once with file:line:col, path, expectation and finding', async () => {
    const text = base
      .replace('seeds: [1, 2]', 'seed: [1, 2]')
      .replace('imageSize: 8', 'imageSize: big')
      .replace('    epochs: 3', '    epochs: 0\n    epoch: 4')
      .replace('source: phantom', 'source: phantom\n  channels: 2');
    expect(await errorsOf(text)).toEqual([
      'bad.yaml:2:1: seed: unknown key "seed"; did you mean "seeds"?',
      'bad.yaml:5:13: dataset.channels: expected one of 1, 3, found number 2',
      'bad.yaml:8:14: dataset.imageSize: expected a whole number, found "big"',
      'bad.yaml:13:13: generator.options.epochs: expected a number ≥ 1, found number 0',
      'bad.yaml:14:5: generator.options.epoch: unknown key "epoch"; did you mean "epochs"?',
    ]);
  });

  it('checks plugin options against the plugin\'s own schema, at the option\'s line', async () => {
    const text = base.replace('    epochs: 3', '    epochs: 0\n    epoch: 4');
    expect(await errorsOf(text)).toEqual([
      'bad.yaml:12:13: generator.options.epochs: expected a number ≥ 1, found number 0',
      'bad.yaml:13:5: generator.options.epoch: unknown key "epoch"; did you mean "epochs"?',
    ]);
  });

  it('suggests a built-in plugin for a misspelled name', async () => {
    const text = base.replace(`plugin: ${fixtures}/mean-generator.ts`, 'plugin: dcgna');
    expect(await errorsOf(text)).toEqual([
      'bad.yaml:10:11: generator.plugin: plugin "dcgna" is not installed (no package dcgna); did you mean "dcgan"?',
    ]);
  });

  it('explains a bad ratio grid and a missing required key', async () => {
    const text = base.replace('ratios: [0, 0.5, 1]', 'ratios: 0.5').replace(/classifier:\n.*\n/, '');
    expect(await errorsOf(text)).toEqual([
      'bad.yaml:1:1: classifier: is required but missing',
      'bad.yaml:13:9: ratios: expected a list or {from, to, step}, found number 0.5',
    ]);
  });

  it('reports YAML syntax errors with their position', async () => {
    const lines = await errorsOf('name: t\ndataset: [\n');
    expect(lines[0]).toMatch(/^bad\.yaml:3:1: YAML syntax: /);
  });

  it('applies --set overrides and blames the override for its errors', async () => {
    const plan = await loadManifest(write('ok2.yaml', base), { pluginSchema, overrides: ['generator.options.epochs=5', 'ratios=[0, 1]'] });
    expect(plan.generator.options.epochs).toBe(5);
    expect(plan.ratios).toEqual([0, 1]);
    expect(await errorsOf(base, ['generator.options.epochs=five'])).toEqual([
      '--set generator.options.epochs=five: generator.options.epochs: expected a whole number, found "five"',
    ]);
  });

  it('checks semantic constraints: divisibility and dataset folders', async () => {
    const text = base.replace('trainingSetSize: 20', 'trainingSetSize: 21')
      .replace('source: phantom', `source: folder\n  path: ${dir}`);
    fs.mkdirSync(path.join(dir, 'tumour'), { recursive: true });
    expect(await errorsOf(text)).toEqual([
      `bad.yaml:6:21: dataset.classes.tumor: sub-folder "tumor" not found in ${dir}; did you mean "tumour"?`,
      `bad.yaml:6:37: dataset.classes.healthy: sub-folder "healthy" not found in ${dir}; it has tumour`,
      'bad.yaml:17:18: trainingSetSize: must divide evenly into 2 classes for a class-balanced set, found 21',
    ]);
  });

  it('accepts the shipped experiments', async () => {
    const experiments = path.resolve(import.meta.dirname, '../../../experiments');
    const br35h = path.resolve(experiments, '../../shared/datasets/br35h');
    if (!fs.existsSync(br35h)) console.warn(`BR35H not found at ${br35h}: the BR35H manifests are checked without their dataset folder.`);
    for (const file of fs.readdirSync(experiments).filter((f) => f.endsWith('.yaml'))) {
      const raw = fs.readFileSync(path.join(experiments, file), 'utf8');
      if (!fs.existsSync(br35h) && (raw.includes('shared/datasets/br35h') || (isComparison(raw) && raw.includes('br35h')))) {
        const load = isComparison(raw) ? loadComparison(path.join(experiments, file), { pluginSchema }) : loadManifest(path.join(experiments, file), { pluginSchema });
        await expect(load).rejects.toThrow(/dataset\.path: folder not found/);
        continue;
      }
      const text = fs.readFileSync(path.join(experiments, file), 'utf8');
      if (isComparison(text)) {
        const c = await loadComparison(path.join(experiments, file), { pluginSchema });
        expect(c.sweeps.length, file).toBeGreaterThan(1);
        expect(new Set(c.sweeps.map((sw) => sw.plan.generator.plugin)).size, file).toBe(c.sweeps.length);
        continue;
      }
      // A dataset a script writes into runs/ (digits-4class) may not be there yet: the manifest
      // is checked against a copy whose folder holds the same (empty) class folders.
      const dataset = (parse(text) as { dataset: { path?: string; classes?: Record<string, string> } }).dataset;
      let manifestFile = path.join(experiments, file);
      if (dataset.path?.startsWith('../runs/') && !fs.existsSync(path.resolve(experiments, dataset.path))) {
        const stand = path.join(dir, path.basename(dataset.path));
        for (const folder of Object.values(dataset.classes ?? {})) fs.mkdirSync(path.join(stand, folder), { recursive: true });
        manifestFile = write(file, text.replace(`path: ${dataset.path}`, `path: ${stand}`).replace(/\$schema: .*\n/, ''));
      }
      const plan = await loadManifest(manifestFile, { pluginSchema });
      expect(plan.cells.length, file).toBeGreaterThan(0);
    }
  });
});
