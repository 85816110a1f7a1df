/**
 * End to end against two (and three) real MLflow servers: a sweep logged to one server and run
 * again against another gets its whole history on the second, exactly once; `--fresh` replaces
 * cell runs instead of being refused; `sync` replays everything to a server that has nothing.
 */
import { runProcess } from './processes.js';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, startMlflowServer, type StartedServer } from '@synthmix/tracking';
import { writeTinySweep } from './tiny-sweep.js';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-servers-'));
const servers: StartedServer[] = [];

beforeAll(async () => {
  for (const name of ['a', 'b', 'c']) servers.push(await startMlflowServer({ projectRoot: root, storeDir: path.join(tmp, `store-${name}`) }));
});
afterAll(async () => {
  await Promise.all(servers.map((s) => s.stop()));
  fs.rmSync(tmp, { recursive: true, force: true });
});

const manifest = writeTinySweep({ name: 'two-servers', dir: tmp, classifier: '  plugin: cnn-tumor\n  options: { epochs: 3, filters: [8, 16], denseUnits: 16 }', experiment: 'two-servers' });

function run(server: StartedServer, ...args: string[]) {
  const env = { ...process.env, MLFLOW_TRACKING_URI: server.url, SYNTHMIX_HOME: path.join(tmp, 'home'), NO_COLOR: '1' };
  return runProcess('node', [bin, ...args], { cwd: tmp, env, timeout: 300_000 });
}

/** Active runs of the experiment by name, with their status and how many points a metric has. */
async function snapshot(server: StartedServer) {
  const client = new MlflowClient({ trackingUri: server.url });
  const experiment = await client.getExperimentByName('two-servers');
  if (!experiment) return [];
  const runs = await client.searchRuns([experiment.experiment_id], '');
  return Promise.all(runs.map(async (r) => {
    const metrics = Object.fromEntries((r.data.metrics ?? []).map((m) => [m.key, m.value]));
    const epochs = r.info.run_name?.startsWith('real') ? (await client.getMetricHistory(r.info.run_id, 'loss')).length : undefined;
    return { name: r.info.run_name, status: r.info.status, accuracy: metrics.test_accuracy, epochs };
  })).then((list) => list.sort((x, y) => String(x.name).localeCompare(String(y.name))));
}

describe('a sweep moved to another MLflow server', () => {
  it('logs everything recorded locally to the second server, exactly once, and exits 0', async () => {
    const first = await run(servers[0], 'run', manifest, '--no-ui', '--set', 'output=out');
    expect(first.stderr).not.toContain('refused');
    expect(first.status).toBe(0);
    const onA = await snapshot(servers[0]);
    expect(onA.map((r) => `${r.name} ${r.status}`)).toEqual(['generator-seed1 FINISHED', 'real0-synth80-seed1 FINISHED', 'real40-synth40-seed1 FINISHED', 'real80-synth0-seed1 FINISHED', 'two-servers FINISHED']);

    const second = await run(servers[1], 'run', manifest, '--no-ui', '--set', 'output=out');
    expect(second.stderr).not.toContain('refused');
    expect(second.status).toBe(0);
    const onB = await snapshot(servers[1]);
    // The same runs with the same test metrics and per-epoch histories (3 epochs, logged once).
    expect(onB).toEqual(onA);
    expect(onB.filter((r) => r.epochs !== undefined).map((r) => r.epochs)).toEqual([3, 3, 3]);
  });

  it('replaces cell runs with --fresh instead of being refused', async () => {
    const fresh = await run(servers[1], 'run', manifest, '--no-ui', '--fresh', '--set', 'output=out');
    expect(fresh.stderr).not.toContain('refused');
    expect(fresh.status).toBe(0);
    const onB = await snapshot(servers[1]);
    expect(onB.map((r) => `${r.name} ${r.status} ${r.epochs ?? ''}`.trim())).toEqual(['generator-seed1 FINISHED', 'real0-synth80-seed1 FINISHED 3', 'real40-synth40-seed1 FINISHED 3', 'real80-synth0-seed1 FINISHED 3', 'two-servers FINISHED']);
  });

  it('sync replays the whole spool to a server that has none of it', async () => {
    const r = await run(servers[2], 'sync', 'out');
    expect(r.status).toBe(0);
    expect(r.stdout).toMatch(new RegExp(`^replayed (\\d+) of \\1 spooled call\\(s\\) to ${servers[2].url}\\n$`));
    expect(Number(r.stdout.match(/replayed (\d+)/)![1])).toBeGreaterThan(50);
    expect((await snapshot(servers[2])).map((x) => `${x.name} ${x.status}`)).toEqual((await snapshot(servers[1])).map((x) => `${x.name} ${x.status}`));
  });
});
