/**
 * End to end: the same sweep through the inline, local and ray executors (the built CLI, real
 * worker processes, a real Ray head on 127.0.0.1 and its Jobs API, a real MLflow server), and
 * what happens when jobs die, cells throw and the cluster goes away.
 */
import { spawn, spawnSync } from 'node:child_process';
import { runProcess } from './processes.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, startMlflowServer, type StartedServer } from '@synthmix/tracking';
import { CNN, writeTinySweep } from './tiny-sweep.js';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-executors-'));
const rayHead = path.join(root, 'scripts/ray-head.sh');
const hasRay = fs.existsSync(path.join(root, '.venv/bin/ray'));
let trackingUri = process.env.SYNTHMIX_TEST_MLFLOW_URI;
let server: StartedServer | undefined;
let rayAddress = '';
let startedRay = false;

function head(action: 'start' | 'stop'): string {
  const r = spawnSync('bash', [rayHead, action], { encoding: 'utf8', timeout: 120_000 });
  if (r.status !== 0) throw new Error(`ray-head.sh ${action} failed: ${r.stderr}`);
  return r.stdout.trim();
}

beforeAll(async () => {
  if (!fs.existsSync(path.join(root, 'packages/cli/dist/cli.js'))) throw new Error('the CLI is not built: run `npm run build` (npm run setup does) before the end-to-end tests');
  if (!trackingUri) {
    server = await startMlflowServer({ projectRoot: root, storeDir: path.join(tmp, 'mlflow'), detached: true });
    trackingUri = server.url;
  }
  if (hasRay) {
    startedRay = !process.env.SYNTHMIX_TEST_RAY_ADDRESS;
    rayAddress = process.env.SYNTHMIX_TEST_RAY_ADDRESS ?? head('start');
  }
});
afterAll(async () => {
  await server?.stop();
  if (startedRay) head('stop');
  fs.rmSync(tmp, { recursive: true, force: true });
});

function manifest(name: string, classifier: string): string {
  return writeTinySweep({ name, dir: tmp, classifier, experiment: `executors-${name}-${Date.now()}` });
}
const cnn = CNN;
const faulty = (options: string) => `  plugin: ${path.join(root, 'test/fixtures/faulty-classifier/index.mjs')}\n  options: { epochs: 20, ${options} }`;

/** A user's environment, one TensorFlow thread per process so every executor computes alike. */
function env(home: string): NodeJS.ProcessEnv {
  const e: NodeJS.ProcessEnv = { ...process.env, MLFLOW_TRACKING_URI: trackingUri!, SYNTHMIX_HOME: path.join(tmp, home), NO_COLOR: '1', TF_NUM_INTRAOP_THREADS: '1', TF_NUM_INTEROP_THREADS: '1', OMP_NUM_THREADS: '1' };
  delete e.RAY_ADDRESS;
  return e;
}

function run(file: string, home: string, args: string[]) {
  return runProcess('node', [bin, 'run', file, '--no-ui', ...args], { cwd: tmp, env: env(home), timeout: 400_000 });
}

async function runsByName(file: string) {
  const client = new MlflowClient({ trackingUri: trackingUri! });
  const name = fs.readFileSync(file, 'utf8').match(/experiment: (.*)/)![1];
  const experiment = (await client.getExperimentByName(name))!;
  return client.searchRuns([experiment.experiment_id], '');
}

describe('executors give the same results', () => {
  const file = manifest('same', cnn);
  let inline = '';

  it('inline (the reference)', async () => {
    const r = await run(file, 'home-inline', ['--no-tracking', '--set', 'output=runs/same-inline']);
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    inline = fs.readFileSync(path.join(tmp, 'runs/same-inline/results.csv'), 'utf8');
    expect(inline.trim().split('\n')).toHaveLength(4);
  });

  it('local with 2 worker processes matches inline, generator included', async () => {
    const r = await run(file, 'home-local', ['--no-tracking', '--set', 'output=runs/same-local', '--executor', 'local', '--workers', '2']);
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toContain('jobs run on local (2 worker processes)');
    expect(r.stdout).toMatch(/generator seed 1: training/);
    expect(fs.readFileSync(path.join(tmp, 'runs/same-local/results.csv'), 'utf8')).toBe(inline);
  });

  it.skipIf(!hasRay)('ray matches inline, with one MLflow run per generator and cell', async () => {
    const r = await run(file, 'home-ray', ['--set', 'output=runs/same-ray', '--executor', 'ray', '--workers', '2', '--ray-address', rayAddress]);
    expect(r.stderr).not.toContain('failed:');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(/jobs run on ray at http:\/\/127\.0\.0\.1:\d+ \(Ray 2\.\d+\.\d+, 2 CPU, 0 GPU\)/);
    expect(fs.readFileSync(path.join(tmp, 'runs/same-ray/results.csv'), 'utf8')).toBe(inline);
    const runs = await runsByName(file);
    expect(runs.map((x) => x.info.run_name).sort()).toEqual(['generator-seed1', 'real0-synth80-seed1', 'real40-synth40-seed1', 'real80-synth0-seed1', 'same']);
    expect(runs.every((x) => x.info.status === 'FINISHED')).toBe(true);
  });
});

describe.skipIf(!hasRay)('faults on a Ray cluster', () => {
  it('retries a job killed on the cluster, records a cell that always throws as failed, and finishes the rest', async () => {
    const file = manifest('faults', faulty(`crashOnce: [real40-synth40-seed1], fail: [real0-synth80-seed1], markerDir: ${path.join(tmp, 'markers')}`));
    const r = await run(file, 'home-faults', ['--executor', 'ray', '--ray-address', rayAddress]);
    expect(r.status).toBe(1);
    expect(r.stdout).toMatch(/job cell-real40-synth40-seed1: attempt 1 failed \(Ray job \S+ ended FAILED.*\); retrying/);
    expect(r.stdout).toMatch(/cell real40-synth40-seed1: done acc=/);
    expect(r.stdout).toMatch(/job cell-real0-synth80-seed1: attempt 1 failed \(planned failure in real0-synth80-seed1\); retrying/);
    expect(r.stdout).toMatch(/cell real0-synth80-seed1: FAILED: planned failure in real0-synth80-seed1/);
    expect(r.stdout).toMatch(/sweep failed: 2 cells; 1 cell\(s\) failed/);
    const csv = fs.readFileSync(path.join(tmp, 'runs/faults/results.csv'), 'utf8').trim().split('\n');
    expect(csv.slice(1).map((l) => l.split(',')[0])).toEqual(['real80-synth0-seed1', 'real40-synth40-seed1']);
    // Exactly one run per cell however often it ran: the crashed attempt's run was replaced.
    const runs = await runsByName(file);
    expect(runs.map((x) => `${x.info.run_name} ${x.info.status}`).sort()).toEqual(['faults FAILED', 'generator-seed1 FINISHED', 'real0-synth80-seed1 FAILED', 'real40-synth40-seed1 FINISHED', 'real80-synth0-seed1 FINISHED']);
  });

  it('ends with a clear message when the cluster goes away mid-sweep, and the same command resumes', async () => {
    const file = manifest('head-lost', faulty('delayMs: 2500'));
    const args = ['run', file, '--json', '--executor', 'ray', '--workers', '1', '--ray-address', rayAddress];
    const child = spawn('node', [bin, ...args], { cwd: tmp, env: env('home-lost') });
    let stdout = '';
    let stderr = '';
    let stopped = false;
    const exit = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    child.stderr.on('data', (d) => (stderr += d));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (!stopped && stdout.includes('"type":"cell:done"')) {
        stopped = true;
        head('stop');
      }
    });
    const code = await exit;
    expect(stopped).toBe(true);
    expect(code).toBe(1);
    expect(stderr).toMatch(/synthmix run: Ray cluster at http:\/\/127\.0\.0\.1:\d+ is not reachable \(ECONNREFUSED\) .*What finished is kept in the sweep's folder; start the cluster again and rerun the same command to resume\./);
    expect(stderr).not.toMatch(/\n\s+at /);
    // A cell may finish while the head shuts down: what counts is what the folder kept.
    const cellsDir = path.join(tmp, 'runs/head-lost/cells');
    const done = fs.readdirSync(cellsDir).filter((c) => fs.existsSync(path.join(cellsDir, c, 'result.json'))).length;
    expect(done).toBeGreaterThanOrEqual(1);
    expect(done).toBeLessThan(3);

    head('start');
    const again = await run(file, 'home-lost', ['--executor', 'ray', '--ray-address', rayAddress]);
    expect(again.stderr).not.toContain('failed:');
    expect(again.status).toBe(0);
    expect(again.stdout).toMatch(new RegExp(`${done} already done`));
    expect(fs.readFileSync(path.join(tmp, 'runs/head-lost/results.csv'), 'utf8').trim().split('\n')).toHaveLength(4);
  });
});

describe('a worker that cannot see the sweep folder', () => {
  it('says so in one line with exit code 2', async () => {
    const job = path.join(tmp, 'elsewhere', 'jobs', 'cell-x.json');
    fs.mkdirSync(path.dirname(job), { recursive: true });
    fs.writeFileSync(job, JSON.stringify({ version: 1, id: 'cell-x', kind: 'cell', seed: 1, cellId: 'x', dependsOn: [], outputDir: '/nonexistent/shared/runs/demo', cacheDir: path.join(tmp, 'cache'), bootstrapResamples: 10 }));
    const r = await runProcess('node', [bin, 'worker', job]);
    expect(r.status).toBe(2);
    expect(r.stderr).toBe(`synthmix worker: cannot see the sweep's folder /nonexistent/shared/runs/demo (no plan.json) from host ${os.hostname()}: output folders must be on a filesystem shared by every node\n`);
    const missing = await runProcess('node', [bin, 'worker', '/nonexistent/jobs/cell-y.json']);
    expect(missing.status).toBe(2);
    expect(missing.stderr).toContain('cannot see the job file /nonexistent/jobs/cell-y.json from host');
  });
});
