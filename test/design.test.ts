/**
 * The other forms of the question, end to end with the built CLI, the real DCGAN and CNN and a
 * real MLflow server: augment mode at two real-data sizes × three multiples, and replace mode at
 * two sizes; the counts each cell trained on, each size's own generator, and the answer stated in
 * the terminal, the report and on the MLflow parent run.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, startMlflowServer, type StartedServer } from '@synthmix/tracking';
import { runProcess } from './processes.js';
import { writeTinySweep } from './tiny-sweep.js';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-design-e2e-'));
let trackingUri = process.env.SYNTHMIX_TEST_MLFLOW_URI;
let server: StartedServer | undefined;
beforeAll(async () => {
  if (!trackingUri) {
    server = await startMlflowServer({ projectRoot: root, storeDir: path.join(tmp, 'mlflow') });
    trackingUri = server.url;
  }
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(tmp, { recursive: true, force: true });
});

/** The tiny sweep with its design lines replaced. */
function manifest(name: string, design: string): string {
  const file = writeTinySweep({ name, dir: tmp, experiment: `${name}-${Date.now()}` });
  fs.writeFileSync(file, fs.readFileSync(file, 'utf8').replace('ratios: [0, 0.5, 1]\ntrainingSetSize: 80\n', design));
  return file;
}

const run = (file: string) => runProcess('node', [bin, 'run', file, '--no-ui'], { cwd: tmp, env: { ...process.env, SYNTHMIX_HOME: path.join(tmp, 'home'), MLFLOW_TRACKING_URI: trackingUri!, NO_COLOR: '1' }, timeout: 400_000 });
const csvRows = (dir: string) => {
  const [header, ...lines] = fs.readFileSync(path.join(dir, 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
  return lines.map((l) => Object.fromEntries(header.map((h, i) => [h, l[i]])));
};

describe('augment mode at two real-data sizes', () => {
  it('trains every cell on the planned counts, a generator per size, and states the answer everywhere', async () => {
    const file = manifest('augment', 'mode: augment\ntrainingSetSize: [40, 80]\nsyntheticPerReal: [0, 0.5, 2]\n');
    const r = await run(file);
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('sweep augment: 6 cells (2 sizes × 3 multiples × 1 seed)');
    expect(r.stdout).toMatch(/generator-seed1-real40: training on 16 real images per class/);
    expect(r.stdout).toMatch(/generator-seed1-real80: training on 32 real images per class/);
    const out = path.join(tmp, 'runs', 'augment');
    // 40 real images: 20 a class, 4 of them for validation; synthetic = multiple × the 16 training ones.
    expect(csvRows(out).map((x) => [x.cell, x.mode, x.training_set_size, x.synthetic_per_real, x.real_per_class, x.synthetic_per_class])).toEqual([
      ['real40-x0-seed1', 'augment', '40', '0', '20', '0'], ['real40-x0.5-seed1', 'augment', '40', '0.5', '20', '8'], ['real40-x2-seed1', 'augment', '40', '2', '20', '32'],
      ['real80-x0-seed1', 'augment', '80', '0', '40', '0'], ['real80-x0.5-seed1', 'augment', '80', '0.5', '40', '16'], ['real80-x2-seed1', 'augment', '80', '2', '40', '64'],
    ]);
    const answer = r.stdout.split('Answer:\n')[1]?.split('\n\n')[0].trim().split('\n').map((l) => l.trim());
    expect(answer).toHaveLength(2);
    expect(answer[0]).toMatch(/^With 20 real images per class, (adding up to|no amount of added synthetic images)/);
    expect(answer[1]).toMatch(/^With 40 real images per class, /);
    expect(answer.every((l) => l.includes('Weak answer: one seed'))).toBe(true);
    const md = fs.readFileSync(path.join(out, 'report', 'results.md'), 'utf8');
    expect(md).toContain('## The answer');
    expect(md).toContain(answer[0]);
    expect(md).toMatch(/synthetic images added to the training split only \(0, 0\.5, 2 per real one\), so early stopping selects on real images; a generator per seed and size/);
    for (const f of ['sizes.png', 'metrics-20.png', 'metrics-40.png']) expect(fs.existsSync(path.join(out, 'report', f)), f).toBe(true);
    for (const size of [40, 80]) expect(JSON.parse(fs.readFileSync(path.join(out, `quality-seed1-real${size}.json`), 'utf8')).trainingSetSize).toBe(size);

    const client = new MlflowClient({ trackingUri: trackingUri! });
    const experiment = (await client.getExperimentByName(fs.readFileSync(file, 'utf8').match(/experiment: (.*)/)![1]))!;
    const runs = await client.searchRuns([experiment.experiment_id], '');
    expect(runs.map((x) => x.info.run_name).sort()).toEqual(['augment', 'generator-seed1-real40', 'generator-seed1-real80', 'real40-x0-seed1', 'real40-x0.5-seed1', 'real40-x2-seed1', 'real80-x0-seed1', 'real80-x0.5-seed1', 'real80-x2-seed1']);
    expect(runs.every((x) => x.info.status === 'FINISHED')).toBe(true);
    const parent = runs.find((x) => x.info.run_name === 'augment')!;
    expect(parent.data.tags?.find((t) => t.key === 'synthmix.answer')?.value.split('\n')).toEqual(answer);
    const cell = runs.find((x) => x.info.run_name === 'real80-x2-seed1')!;
    expect(Object.fromEntries((cell.data.params ?? []).map((p) => [p.key, p.value]))).toMatchObject({ mode: 'augment', training_set_size: '80', synthetic_per_real: '2', real_per_class: '40', synthetic_per_class: '64' });
  });
});

describe('replace mode at two sizes', () => {
  it('runs the ratio grid at each size with its own generator, and answers per size', async () => {
    const file = manifest('replace-sizes', 'trainingSetSize: [40, 80]\nratios: [0, 0.5]\n');
    const r = await run(file);
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    const out = path.join(tmp, 'runs', 'replace-sizes');
    expect(csvRows(out).map((x) => [x.cell, x.mode, x.training_set_size, x.real_per_class, x.synthetic_per_class])).toEqual([
      ['real40-synth0-seed1', 'replace', '40', '20', '0'], ['real20-synth20-seed1', 'replace', '40', '10', '10'],
      ['real80-synth0-seed1', 'replace', '80', '40', '0'], ['real40-synth40-seed1', 'replace', '80', '20', '20'],
    ]);
    expect(r.stdout).toMatch(/Answer:\n {2}With 20 images per class, .*\n {2}With 40 images per class, /);
  });
});
