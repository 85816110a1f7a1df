/**
 * End to end on a real dataset with four classes: scikit-learn's handwritten digits 3, 5, 8 and 9
 * (exported by python/export_digits.py with the project's Python environment), one DCGAN per
 * class with a snapshot for the generator-epoch ablation, the CNN with a softmax, macro metrics,
 * one-vs-rest AUC and per-class quality in the report. Tiny sizes: the study itself is
 * experiments/digits-4class.yaml.
 */
import { execFileSync } from 'node:child_process';
import { runProcess } from './processes.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const python = path.join(root, '.venv/bin/python');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-multiclass-'));
const classes = ['three', 'five', 'eight', 'nine'];

beforeAll(() => {
  if (!fs.existsSync(path.join(root, 'packages/cli/dist/cli.js'))) throw new Error('the CLI is not built: run `npm run build` (npm run setup does) before the end-to-end tests');
  if (!fs.existsSync(python)) throw new Error('the project\'s Python environment (.venv) is missing: run `npm run setup`');
  execFileSync(python, [path.join(root, 'python/export_digits.py'), path.join(tmp, 'digits'), '--digits', '3', '5', '8', '9']);
});
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** The probability that a positive scores above a negative (ties count half): the ROC AUC. */
function oneVsRestAuc(scores: number[], positive: boolean[]): number {
  let wins = 0;
  let pairs = 0;
  scores.forEach((s, i) => {
    if (!positive[i]) return;
    scores.forEach((t, j) => {
      if (positive[j]) return;
      pairs++;
      wins += s > t ? 1 : s === t ? 0.5 : 0;
    });
  });
  return wins / pairs;
}

describe('a four-class study on real images (handwritten digits)', () => {
  it('trains a generator per class, a softmax classifier, and reports macro metrics, one-vs-rest AUC and per-class quality', async () => {
    const manifest = path.join(tmp, 'digits.yaml');
    fs.writeFileSync(manifest, `name: digits
seeds: [1]
backend: tensorflow
dataset:
  source: folder
  path: digits
  classes: { three: three, five: five, eight: eight, nine: nine }
  imageSize: 16
  channels: 1
  testPerClass: 20
generator:
  plugin: dcgan
  options: { epochs: 2, ngf: 8, ndf: 8, batchSize: 16, latentDim: 16, checkpointEvery: 1 }
  checkpoints: [1]
classifier:
  plugin: cnn-tumor
  options: { epochs: 2, filters: [8, 16], denseUnits: 16 }
ratios: [0, 0.5, 1]
trainingSetSize: 80
`);
    const finished = await runProcess('node', [bin, 'run', manifest, '--no-ui', '--no-tracking'], { cwd: tmp, env: { ...process.env, SYNTHMIX_HOME: path.join(tmp, 'home') } });
    expect(finished.stderr).not.toContain('failed:');
    expect(finished.status).toBe(0);
    const out = finished.stdout;
    expect(out).toContain('sweep digits: 5 cells (3 ratios × 1 seed + 2 from generator epochs 1)');
    expect(out).toMatch(/data three=183 five=182 eight=174 nine=180, 0 skipped, \d+ groups, test 20\/class/);
    expect(out).toContain('Metrics: macro averages over 4 classes (three, five, eight, nine); AUC one-vs-rest.');
    const sweep = path.join(tmp, 'runs', 'digits');

    // A generator per class: the synthetic pool has 10 images of each class (80 / 4 at 50:50).
    const quality = JSON.parse(fs.readFileSync(path.join(sweep, 'quality-seed1.json'), 'utf8'));
    expect(Object.keys(quality.perClass)).toEqual(classes);
    for (const name of classes) expect(quality.perClass[name].slicedWassersteinRatio, name).toBeGreaterThan(0);

    for (const id of ['real80-synth0-seed1', 'real40-synth40-seed1', 'real0-synth80-seed1', 'real40-synth40-seed1-gen1']) {
      const result = JSON.parse(fs.readFileSync(path.join(sweep, 'cells', id, 'result.json'), 'utf8'));
      expect(result.task, id).toEqual({ kind: 'multiclass', average: 'macro', classes });
      expect(result.confusion, id).toHaveLength(4);
      expect(result.confusion.flat().reduce((a: number, b: number) => a + b, 0), id).toBe(80);
      // Softmax: one probability per class, each row summing to 1.
      const [header, ...lines] = fs.readFileSync(path.join(sweep, 'cells', id, 'predictions.csv'), 'utf8').trim().split('\n');
      expect(header).toBe('id,label,p_three,p_five,p_eight,p_nine');
      const rows = lines.map((line) => line.split(',')).map((cells) => ({ label: cells[1], p: cells.slice(2).map(Number) }));
      expect(rows).toHaveLength(80);
      for (const row of rows) expect(row.p.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 4);
      // AUC one-vs-rest per class, and the macro AUC their mean.
      const perClass = classes.map((name, k) => oneVsRestAuc(rows.map((r) => r.p[k]), rows.map((r) => r.label === name)));
      classes.forEach((name, k) => expect(result.metrics[`auc_${name}`], `${id} auc_${name}`).toBeCloseTo(perClass[k], 4));
      expect(result.metrics.auc, id).toBeCloseTo(perClass.reduce((a, b) => a + b, 0) / 4, 4);
    }

    const md = fs.readFileSync(path.join(sweep, 'report', 'results.md'), 'utf8');
    expect(md).toContain('Metrics: macro averages over 4 classes (three, five, eight, nine); AUC one-vs-rest.');
    expect(md).not.toContain('Against the paper');
    for (const name of classes) {
      expect(md).toMatch(new RegExp(`\\| 1 \\| ${name} \\| [0-9.]+ / [0-9.]+ \\|`));
      expect(fs.existsSync(path.join(sweep, 'report', `samples-synthetic-${name}-seed1.png`)), name).toBe(true);
    }
    // One ROC panel per class against the rest, labelled with that class's AUC.
    const roc = fs.readFileSync(path.join(sweep, 'report', 'roc.svg'), 'utf8');
    const base = JSON.parse(fs.readFileSync(path.join(sweep, 'cells', 'real80-synth0-seed1', 'result.json'), 'utf8'));
    for (const name of classes) expect(roc).toContain(`${name} against the rest, seed 1`);
    expect(roc).toContain(`100:0 (${base.metrics.auc_nine.toFixed(3)})`);
    expect(md).toContain('## Generator epochs');
    for (const f of ['metrics.png', 'roc.png', 'confusion.png', 'generator-epochs.png']) expect(fs.existsSync(path.join(sweep, 'report', f)), f).toBe(true);
  });
});
