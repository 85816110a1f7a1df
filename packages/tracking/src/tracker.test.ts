import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadBackend, loadManifest, loadPlugin, runSweep, type LoadedBackend, type ResolvedPlan } from '@synthmix/core';
import { MlflowClient, type Run } from './client.js';
import { MlflowTracker, spoolPaths } from './tracker.js';
import { startTestServer } from './test-server.js';

const fixtures = path.resolve(import.meta.dirname, '../../core/src/__fixtures__');
const root = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-tracker-'));
let backend: LoadedBackend;
let server: Awaited<ReturnType<typeof startTestServer>>;
beforeAll(async () => {
  backend = await loadBackend('cpu');
  server = await startTestServer();
});
afterAll(async () => {
  await server?.stop();
  fs.rmSync(root, { recursive: true, force: true });
});

async function plan(name: string, overrides: string[] = []): Promise<ResolvedPlan> {
  const file = path.join(root, `${name}.yaml`);
  fs.writeFileSync(file, `name: ${name}
seeds: [1, 2]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 30
  imageSize: 16
  testPerClass: 10
generator:
  plugin: ${fixtures}/mean-generator.ts
  options: { epochs: 3 }
classifier:
  plugin: ${fixtures}/nearest-mean.ts
ratios: [0, 0.5]
trainingSetSize: 20
tracking:
  experiment: tracker-${name}
`);
  return loadManifest(file, { projectRoot: root, overrides, pluginSchema: async (ref, kind, dir) => (await loadPlugin(ref, kind, dir)).optionsSchema });
}

async function childRuns(client: MlflowClient, experimentId: string, parentId: string): Promise<Run[]> {
  return client.searchRuns([experimentId], `tags.\`mlflow.parentRunId\` = '${parentId}'`);
}

describe('MlflowTracker', () => {
  it('logs a sweep as a parent run with generator and cell children, metrics and artifacts', async () => {
    const p = await plan('nested');
    const client = new MlflowClient({ trackingUri: server.url });
    const tracker = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment });
    // The path compile: auto took, as a cell's classifier reports it (whether the tiny steps here are measured depends on the machine).
    const choice = { owner: 'synthmix:cnn-tumor', step: 'train step', shape: 'float32[8,16,16,1]', path: 'xla' as const, msPerStep: { compiled: 12, xla: 9.5 }, machine: 'm', remembered: true };
    await runSweep(p, {
      cacheDir: path.join(root, 'cache'), backend, bootstrapResamples: 20,
      onEvent: (e) => {
        tracker.handle(e);
        if (e.type === 'cell:start' && e.cell.id === 'real10-synth10-seed1') tracker.handle({ type: 'compile:chosen', time: e.time, scope: { kind: 'cell', cellId: e.cell.id }, choice });
      },
    });
    expect(await tracker.flush()).toBe(0);
    const experimentId = tracker.experimentId!;
    const parents = await client.searchRuns([experimentId], "tags.`mlflow.runName` = 'nested'");
    expect(parents).toHaveLength(1);
    const parent = parents[0];
    expect(parent.info.status).toBe('FINISHED');
    const tags = Object.fromEntries((parent.data.tags ?? []).map((t) => [t.key, t.value]));
    expect(tags['synthmix.manifest_hash']).toBe(p.manifestHash);
    expect(tags['synthmix.dataset_fingerprint']).toMatch(/^[0-9a-f]{64}$/);
    expect(tags['mlflow.user']).toBeTruthy();
    const params = Object.fromEntries((parent.data.params ?? []).map((t) => [t.key, t.value]));
    expect(params['generator.options.epochs']).toBe('3');
    expect(params['dataset.testPerClass']).toBe('10');
    const inputs = (await client.getRun(parent.info.run_id)).inputs?.dataset_inputs ?? [];
    expect(inputs.map((d) => d.dataset.digest)).toEqual([tags['synthmix.dataset_fingerprint'].slice(0, 36)]);
    const children = await childRuns(client, experimentId, parent.info.run_id);
    expect(children.map((r) => r.info.run_name).sort()).toEqual(['generator-seed1', 'generator-seed2', 'real10-synth10-seed1', 'real10-synth10-seed2', 'real20-synth0-seed1', 'real20-synth0-seed2']);
    for (const child of children) expect(child.info.status).toBe('FINISHED');
    const cell = children.find((r) => r.info.run_name === 'real10-synth10-seed1')!;
    const cellMetrics = Object.fromEntries((cell.data.metrics ?? []).map((m) => [m.key, m.value]));
    expect(cellMetrics.test_accuracy).toBeGreaterThanOrEqual(0);
    expect(cellMetrics.test_auc_ci_low).toBeLessThanOrEqual(cellMetrics.test_auc_ci_high);
    expect((cell.data.params ?? []).find((x) => x.key === 'ratio')?.value).toBe('0.5');
    expect((cell.data.tags ?? []).find((t) => t.key === 'synthmix.compile.train_step')?.value).toBe('xla [float32[8,16,16,1]] {"compiled":12,"xla":9.5}');
    expect((await client.listArtifacts(cell.info)).map((f) => f.path).sort()).toEqual(['model', 'predictions.csv', 'result.json']); // the saved model is a folder of its own
    const generator = children.find((r) => r.info.run_name === 'generator-seed1')!;
    expect((await client.getMetricHistory(generator.info.run_id, 'loss')).map((m) => m.step)).toEqual([1, 2, 3]);
    expect((await client.listArtifacts(parent.info)).map((f) => f.path).sort()).toEqual(['data-report.json', 'manifest.yaml', 'plan.json', 'results.csv', 'samples-real-healthy.png', 'samples-real-tumor.png']);
    expect((await client.getMetricHistory(parent.info.run_id, 'sweep_accuracy_mean')).map((m) => m.step)).toEqual([0, 50]);

    // Re-running the same sweep attaches to the same parent; finished cells are not duplicated.
    const again = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment });
    await runSweep(p, { cacheDir: path.join(root, 'cache'), backend, bootstrapResamples: 20, onEvent: (e) => again.handle(e) });
    expect(await again.flush()).toBe(0);
    expect(await client.searchRuns([experimentId], "tags.`mlflow.runName` = 'nested'")).toHaveLength(1);
    expect(await childRuns(client, experimentId, parent.info.run_id)).toHaveLength(6);
    expect(await client.getMetricHistory(cell.info.run_id, 'test_accuracy')).toHaveLength(1);

    // A changed manifest on the same output folder gets its own parent: MLflow params cannot change.
    const notices: string[] = [];
    const changed = await plan('nested', ['seeds=[1]']);
    const third = new MlflowTracker({ client, outputDir: changed.outputDir, experimentName: changed.tracking.experiment, onNotice: (n) => notices.push(n) });
    await runSweep(changed, { cacheDir: path.join(root, 'cache'), backend, bootstrapResamples: 20, onEvent: (e) => third.handle(e) });
    expect(await third.flush()).toBe(0);
    expect(notices).toEqual([]);
    expect((await client.searchRuns([experimentId], "tags.`mlflow.runName` = 'nested'")).map((r) => r.info.status)).toEqual(['FINISHED', 'FINISHED']);
  });

  it('spools while the server is down and replays when it is back: every step and artifact exactly once', async () => {
    const p = await plan('outage');
    const client = new MlflowClient({ trackingUri: server.url, maxRetries: 1, backoffFactor: 0.05, backoffJitter: 0 });
    const notices: string[] = [];
    const tracker = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment, onNotice: (n) => notices.push(n), maxOfflineDelayMs: 500 });
    let killed = false;
    await runSweep(p, {
      cacheDir: path.join(root, 'cache-outage'), backend, bootstrapResamples: 20,
      onEvent: (e) => {
        tracker.handle(e);
        // Kill the server for real in the middle of the sweep.
        if (e.type === 'cell:done' && !killed) {
          killed = true;
          process.kill(-server.pid, 'SIGKILL');
        }
      },
    });
    expect(killed).toBe(true);
    expect(await tracker.flush(3000)).toBeGreaterThan(0);
    expect(notices.some((n) => n.startsWith('MLflow unreachable'))).toBe(true);
    expect(fs.readFileSync(spoolPaths(p.outputDir).ops, 'utf8').length).toBeGreaterThan(0);

    // Same port, same store: the server is back. A new tracker (as `synthmix sync` makes) replays.
    server = await startTestServer(server.port, server.storeDir);
    const replay = new MlflowTracker({ client: new MlflowClient({ trackingUri: server.url }), outputDir: p.outputDir, experimentName: p.tracking.experiment });
    expect(replay.pending).toBeGreaterThan(0);
    expect(await replay.flush()).toBe(0);
    const experimentId = replay.experimentId!;
    const parent = (await client.searchRuns([experimentId], "tags.`mlflow.runName` = 'outage'"))[0];
    expect(parent, `state: ${fs.readFileSync(spoolPaths(p.outputDir).state, 'utf8').slice(0, 3000)}`).toBeDefined();
    expect(parent.info.status).toBe('FINISHED');
    const children = await childRuns(client, experimentId, parent.info.run_id);
    expect(children).toHaveLength(6);
    for (const child of children) {
      expect(child.info.status).toBe('FINISHED');
      if (child.info.run_name!.startsWith('generator')) {
        expect((await client.getMetricHistory(child.info.run_id, 'loss')).map((m) => m.step)).toEqual([1, 2, 3]);
      } else {
        expect(await client.getMetricHistory(child.info.run_id, 'test_accuracy')).toHaveLength(1);
        expect((await client.listArtifacts(child.info)).map((f) => f.path).sort()).toEqual(['model', 'predictions.csv', 'result.json']);
      }
    }
  });

  it('ends the runs as KILLED when the sweep is interrupted', async () => {
    const p = await plan('interrupted');
    const client = new MlflowClient({ trackingUri: server.url });
    const tracker = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment });
    const controller = new AbortController();
    const summary = await runSweep(p, {
      cacheDir: path.join(root, 'cache-interrupted'), backend, bootstrapResamples: 20, signal: controller.signal,
      onEvent: (e) => {
        tracker.handle(e);
        // Stop while the second cell trains.
        if (e.type === 'cell:progress' && e.cellId === 'real10-synth10-seed1') controller.abort();
      },
    });
    expect(summary.status).toBe('interrupted');
    expect(await tracker.flush()).toBe(0);
    const runs = await client.searchRuns([tracker.experimentId!], '');
    const status = Object.fromEntries(runs.map((r) => [r.info.run_name, r.info.status]));
    expect(status).toMatchObject({ interrupted: 'KILLED', 'real20-synth0-seed1': 'FINISHED', 'real10-synth10-seed1': 'KILLED', 'generator-seed1': 'FINISHED' });
  });
});


describe('MlflowTracker on a server that lost the sweep', () => {
  it('logs everything again when the server at the same address has a new, empty store', async () => {
    const first = await startTestServer();
    const p = await plan('lost-store', ['seeds=[1]']);
    const run = async () => {
      const tracker = new MlflowTracker({ client: new MlflowClient({ trackingUri: first.url }), outputDir: p.outputDir, experimentName: p.tracking.experiment, onNotice: (n) => notices.push(n) });
      await runSweep(p, { cacheDir: path.join(root, 'cache-lost-store'), backend, bootstrapResamples: 20, onEvent: (e) => tracker.handle(e) });
      expect(await tracker.flush()).toBe(0);
      return tracker;
    };
    const notices: string[] = [];
    await run();
    await first.stop();
    // The same address, a fresh store: the run ids in state.json mean nothing there.
    const replaced = await startTestServer(first.port);
    try {
      const tracker = await run();
      expect(tracker.refused).toEqual([]);
      expect(notices.some((n) => /does not have this sweep's runs .*RESOURCE_DOES_NOT_EXIST.*; logging everything recorded in .* again/.test(n))).toBe(true);
      const client = new MlflowClient({ trackingUri: replaced.url });
      const experiment = (await client.getExperimentByName(p.tracking.experiment))!;
      const runs = await client.searchRuns([experiment.experiment_id], '');
      expect(runs.map((r) => `${r.info.run_name} ${r.info.status}`).sort()).toEqual(['generator-seed1 FINISHED', 'lost-store FINISHED', 'real10-synth10-seed1 FINISHED', 'real20-synth0-seed1 FINISHED']);
      const generator = runs.find((r) => r.info.run_name === 'generator-seed1')!;
      expect((await client.getMetricHistory(generator.info.run_id, 'loss')).map((m) => m.step)).toEqual([1, 2, 3]);
    } finally {
      await replaced.stop();
    }
  });

  it('records a call the server refuses for good, with the server and the run', async () => {
    const p = await plan('refused', ['seeds=[1]']);
    const client = new MlflowClient({ trackingUri: server.url });
    const tracker = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment });
    await runSweep(p, { cacheDir: path.join(root, 'cache'), backend, bootstrapResamples: 20, onEvent: (e) => tracker.handle(e) });
    expect(await tracker.flush()).toBe(0);
    expect(tracker.refused).toEqual([]);
    // The server holds a run with this sweep's key whose params differ (MLflow params cannot
    // change); a replay attaches to it and its params are refused for good.
    const sweepKey = Object.keys(tracker.runIds).find((k) => !k.includes(':'))!;
    const experimentId = tracker.experimentId!;
    await client.deleteRun(tracker.runIds[sweepKey]);
    const conflicting = await client.createRun({ experimentId, runName: 'refused', tags: { 'synthmix.run_key': sweepKey } });
    await client.logBatch(conflicting.run_id, { params: [{ key: 'cells', value: '999' }] });
    fs.rmSync(spoolPaths(p.outputDir).state);
    const replay = new MlflowTracker({ client, outputDir: p.outputDir, experimentName: p.tracking.experiment });
    expect(await replay.flush()).toBe(0);
    expect(replay.refused[0]).toMatchObject({ server: server.url, op: 'start-run', run: sweepKey });
    expect(replay.refused[0].error).toMatch(/INVALID_PARAMETER_VALUE/);
  });
});
