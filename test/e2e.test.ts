/**
 * End to end: the built CLI (`packages/cli/bin/synthmix.js`, as `npx synthmix` runs it) on a tiny
 * phantom sweep with the real DCGAN and CNN on libtensorflow, in a real terminal (tmux), logging
 * to a real MLflow server; and a plugin kept outside the monorepo, loaded by path.
 */
import { execFileSync, spawnSync } from 'node:child_process';
import { runProcess } from './processes.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, startMlflowServer, type StartedServer } from '@synthmix/tracking';
import { writeTinySweep } from './tiny-sweep.js';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-e2e-'));
let trackingUri = process.env.SYNTHMIX_TEST_MLFLOW_URI;
let server: StartedServer | undefined;

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'packages/cli/dist/cli.js'))) throw new Error('the CLI is not built: run `npm run build` (npm run setup does) before the end-to-end tests');
  if (!trackingUri) {
    server = await startMlflowServer({ projectRoot: root, storeDir: path.join(tmp, 'mlflow'), detached: true });
    trackingUri = server.url;
  }
});
afterAll(async () => {
  await server?.stop();
  spawnSync('tmux', ['kill-session', '-t', 'synthmix-e2e']);
  fs.rmSync(tmp, { recursive: true, force: true });
});

function writeManifest(name: string, classifier: string, classifierOptions: string): string {
  return writeTinySweep({ name, dir: tmp, description: 'end-to-end test', classifier: `  plugin: ${classifier}\n  options: ${classifierOptions}`, generatorEpochs: name === 'tty' ? 6 : 2, checkpointEvery: name === 'tty' ? 3 : 1, experiment: `e2e-${name}-${Date.now()}` });
}

/** The environment of a user at a terminal: no CI variables (Ink draws only the last frame under CI). */
function env(): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, MLFLOW_TRACKING_URI: trackingUri!, SYNTHMIX_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  for (const key of Object.keys(e)) if (key === 'CI' || key.startsWith('CI_') || key === 'CONTINUOUS_INTEGRATION') delete e[key];
  return e;
}

/** Starts `synthmix run <manifest>` in a detached tmux session; the exit code lands in `exitFile`. */
function runInTmux(session: string, manifest: string, exitFile: string): () => string {
  // A script, so the session gets our environment even when a tmux server is already running.
  const script = path.join(tmp, `${session}.sh`);
  const exports = Object.entries(env()).filter(([k]) => ['PATH', 'HOME', 'MLFLOW_TRACKING_URI', 'SYNTHMIX_HOME', 'NO_COLOR'].includes(k)).map(([k, v]) => `export ${k}='${v}'`);
  fs.writeFileSync(script, ['unset CI', ...exports, `cd ${tmp}`, `node ${bin} run ${manifest}`, `echo $? > ${exitFile}`, 'sleep 60', ''].join('\n'));
  execFileSync('tmux', ['new-session', '-d', '-s', session, '-x', '100', '-y', '45', `sh ${script}`]);
  return () => execFileSync('tmux', ['capture-pane', '-p', '-t', session], { encoding: 'utf8' });
}

describe.skipIf(spawnSync('tmux', ['-V']).status !== 0)('synthmix run in a terminal', () => {
  it('shows the live table, finishes with the results table, and logs to MLflow', async () => {
    const manifest = writeManifest('tty', 'cnn-tumor', '{ epochs: 2, filters: [8, 16], denseUnits: 16 }');
    const exitFile = path.join(tmp, 'exit-code');
    const screen = runInTmux('synthmix-e2e', manifest, exitFile);
    const seen = new Set<string>();
    const deadline = Date.now() + 300_000;
    while (!fs.existsSync(exitFile) && Date.now() < deadline) {
      const s = screen();
      if (s.includes('cell') && s.includes('status')) seen.add('table');
      if (/training|queued/.test(s)) seen.add('live');
      await new Promise((r) => setTimeout(r, 100));
    }
    const last = screen();
    expect(fs.readFileSync(exitFile, 'utf8').trim()).toBe('0');
    expect(seen).toEqual(new Set(['table', 'live']));
    expect(last).toContain('synthmix tty · backend tensorflow');
    expect(last).toContain('Sweep finished');
    expect(last).toMatch(/real:syn +accuracy % +precision % +recall % +F1 % +AUC/);
    expect(last).toMatch(/^100:0 /m);
    expect(last).toMatch(/^0:100 /m);
    expect(last).toContain(`Report: ${path.join(tmp, 'runs', 'tty', 'report', 'report.html')}`);
    for (const line of last.split('\n')) expect(line.length).toBeLessThanOrEqual(100);

    const client = new MlflowClient({ trackingUri: trackingUri! });
    const experimentName = fs.readFileSync(manifest, 'utf8').match(/experiment: (.*)/)![1];
    const experiment = (await client.getExperimentByName(experimentName))!;
    const runs = await client.searchRuns([experiment.experiment_id], '');
    expect(runs.map((r) => r.info.run_name).sort()).toEqual(['generator-seed1', 'real0-synth80-seed1', 'real40-synth40-seed1', 'real80-synth0-seed1', 'tty']);
    expect(runs.every((r) => r.info.status === 'FINISHED')).toBe(true);
    const generator = runs.find((r) => r.info.run_name === 'generator-seed1')!;
    expect((await client.getMetricHistory(generator.info.run_id, 'tumor_d_loss')).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect((await client.listArtifacts(generator.info, 'samples/tumor')).map((f) => f.path)).toEqual(['samples/tumor/epoch-0003.png', 'samples/tumor/epoch-0006.png']);
    const parent = runs.find((r) => r.info.run_name === 'tty')!;
    expect((await client.listArtifacts(parent.info)).map((f) => f.path)).toContain('report');
    expect((await client.listArtifacts(parent.info, 'report')).map((f) => f.path)).toEqual(expect.arrayContaining(['report/report.html', 'report/metrics.png', 'report/gan-losses-seed1.png', 'report/samples-synthetic-tumor-seed1.png']));
    const cell = runs.find((r) => r.info.run_name === 'real40-synth40-seed1')!;
    expect((await client.listArtifacts(cell.info)).map((f) => f.path).sort()).toEqual(['confusion.png', 'model', 'predictions.csv', 'result.json', 'roc.png']);
    expect((await client.listArtifacts(generator.info)).map((f) => f.path)).toContain('gan-losses-seed1.png');
  });
});

describe.skipIf(spawnSync('tmux', ['-V']).status !== 0)('stopping from the keyboard', () => {
  it('q stops after the current epoch with exit code 130, and the next run resumes', async () => {
    const manifest = writeManifest('keys', 'cnn-tumor', '{ epochs: 40, filters: [8, 16], denseUnits: 16, earlyStopping: { enabled: false } }');
    const exitFile = path.join(tmp, 'keys-exit');
    const screen = runInTmux('synthmix-keys', manifest, exitFile);
    const deadline = Date.now() + 300_000;
    while (!/real80-synth0-seed1 +training +\d+\/40/.test(screen()) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    execFileSync('tmux', ['send-keys', '-t', 'synthmix-keys', 'q']);
    while (!fs.existsSync(exitFile) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
    const last = screen();
    spawnSync('tmux', ['kill-session', '-t', 'synthmix-keys']);
    expect(fs.readFileSync(exitFile, 'utf8').trim()).toBe('130');
    expect(last).toContain('Sweep interrupted');
    expect(fs.existsSync(path.join(tmp, 'runs', 'keys', 'cells', 'real80-synth0-seed1', 'result.json'))).toBe(false);
    const again = await runProcess('node', [bin, 'run', manifest, '--no-ui', '--set', 'classifier.options.epochs=2'], { cwd: tmp, env: env(), timeout: 300_000 });
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(/generator seed 1: cached state/);
  });
});

describe('a plugin outside the monorepo', () => {
  it('runs in a sweep by path', async () => {
    const manifest = writeManifest('external', '../../test/fixtures/external-classifier/index.mjs'.replace('../../test', path.join(root, 'test')), '{ epochs: 20 }');
    const r = await runProcess('node', [bin, 'run', manifest, '--no-ui'], { cwd: tmp, env: env(), timeout: 300_000 });
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cell real80-synth0-seed1: done acc=\d/);
    const result = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'external', 'cells', 'real80-synth0-seed1', 'result.json'), 'utf8'));
    // Logistic regression on pooled pixels still beats chance on phantom tumours.
    expect(result.metrics.accuracy).toBeGreaterThan(0.6);
  });
});

describe('a GAN-epoch ablation', () => {
  it('runs the synthetic cells again from the generator\'s snapshots and plots accuracy against epochs', async () => {
    const manifest = writeManifest('epochs', 'cnn-tumor', '{ epochs: 2, filters: [8, 16], denseUnits: 16 }');
    const r = await runProcess('node', [bin, 'run', manifest, '--no-ui', '--no-tracking', '--set', 'generator.checkpoints=[1]'], { cwd: tmp, env: env(), timeout: 300_000 });
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/cell real40-synth40-seed1-gen1: done acc=/);
    const csv = fs.readFileSync(path.join(tmp, 'runs', 'epochs', 'results.csv'), 'utf8').trim().split('\n').map((l) => l.split(','));
    expect(csv.map((row) => `${row[0]} ${row[5]}`)).toEqual(['cell generator_epoch', 'real80-synth0-seed1 ', 'real40-synth40-seed1 ', 'real0-synth80-seed1 ', 'real40-synth40-seed1-gen1 1', 'real0-synth80-seed1-gen1 1']);
    // The snapshot's images differ from the trained generator's.
    const a = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'epochs', 'cells', 'real0-synth80-seed1', 'result.json'), 'utf8'));
    const b = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'epochs', 'cells', 'real0-synth80-seed1-gen1', 'result.json'), 'utf8'));
    expect(b.cell.generatorEpoch).toBe(1);
    expect(a.metrics.auc).not.toBe(b.metrics.auc);
    expect(fs.existsSync(path.join(tmp, 'runs', 'epochs', 'report', 'generator-epochs.png'))).toBe(true);
    const md = fs.readFileSync(path.join(tmp, 'runs', 'epochs', 'report', 'results.md'), 'utf8');
    expect(md).toContain('## Generator epochs');
    // Each snapshot's images measured like the trained generator's.
    const early = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'epochs', 'quality-seed1-epoch1.json'), 'utf8'));
    expect(Object.keys(early.perClass)).toEqual(['tumor', 'healthy']);
    expect(md).toMatch(/\| 1 \| 1 \| tumor \d+\.\d\d, healthy \d+\.\d\d \|/);
  });
});

describe('the diffusion generator', () => {
  it('runs in a sweep through the same contract', async () => {
    const manifest = writeManifest('ddpm', 'cnn-tumor', '{ epochs: 2, filters: [8, 16], denseUnits: 16 }');
    const r = await runProcess('node', [bin, 'run', manifest, '--no-ui', '--no-tracking', '--set', 'generator.plugin=ddpm', '--set', 'generator.options={epochs: 2, widths: [4, 8, 8], timeDim: 8, timesteps: 50, samplingSteps: 5, checkpointEvery: 1}'], { cwd: tmp, env: env(), timeout: 300_000 });
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/generator seed 1: training \(synthmix:ddpm, /);
    expect(r.stdout).toMatch(/cell real0-synth80-seed1: done acc=/);
    const quality = JSON.parse(fs.readFileSync(path.join(tmp, 'runs', 'ddpm', 'quality-seed1.json'), 'utf8'));
    expect(quality.perClass.tumor.frechetRealClassifier).toBeGreaterThan(0);
    // Precision, recall, density and coverage in the same features, each a share (density may pass 1).
    for (const k of ['precision', 'recall', 'coverage'] as const) {
      expect(quality.perClass.tumor.prdcRealClassifier[k]).toBeGreaterThanOrEqual(0);
      expect(quality.perClass.tumor.prdcRealClassifier[k]).toBeLessThanOrEqual(1);
    }
    expect(quality.perClass.tumor.prdcRealClassifier.density).toBeGreaterThanOrEqual(0);
    // The plugin declares its losses (`tumor_loss`, …), so the report draws them: no DCGAN names needed.
    expect(fs.existsSync(path.join(tmp, 'runs', 'ddpm', 'report', 'gan-losses-seed1.png'))).toBe(true);
  });
});

