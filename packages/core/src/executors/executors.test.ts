import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { createExecutor, followJsonLines } from './index.js';
import { deviceForSlot, threadsPerWorker, workerEnv } from './local.js';
import { normaliseRayAddress, shellQuote } from './ray.js';
import { resolveExecution } from '../execution.js';
import type { Manifest } from '../manifest.js';
import { resolveExecutionSettings } from '../execution.js';

const execution = resolveExecutionSettings(undefined, undefined);

describe('executor selection', () => {
  it('knows inline, local and ray, and names the one it does not know', () => {
    expect(() => createExecutor({ execution: { ...execution, executor: 'slurm' } })).toThrow('unknown executor "slurm"; expected one of inline, local, ray');
    expect(() => createExecutor({ execution: { ...execution, executor: 'locl' } })).toThrow('(did you mean "local"?)');
    expect(createExecutor({ execution: { ...execution, executor: 'local', workers: 3 }, workerCommand: ['node', 'w.js', 'worker'] })).toMatchObject({ name: 'local', slots: 3 });
    expect(() => createExecutor({ execution: { ...execution, executor: 'ray' }, workerCommand: ['x'] })).toThrow(/the ray executor needs a cluster address: --ray-address, execution.address in the manifest, or RAY_ADDRESS/);
  });

  it('resolves flag, then manifest, then RAY_ADDRESS, then project config', () => {
    const plan = (execution?: Manifest['execution']) => ({ manifest: { execution } as Manifest });
    const config = { execution: { executor: 'local', workers: 4, address: 'http://config:8265', retries: 3 } };
    expect(resolveExecution(plan(), {}, {})).toEqual({ executor: 'inline', workers: 1, address: undefined, cpusPerJob: undefined, gpusPerJob: 0, memoryPerJobMb: undefined, retries: 1 });
    expect(resolveExecution(plan(), config, {})).toMatchObject({ executor: 'local', workers: 4, address: 'http://config:8265', retries: 3 });
    expect(resolveExecution(plan(), config, { RAY_ADDRESS: 'http://env:8265' }).address).toBe('http://env:8265');
    expect(resolveExecution(plan({ address: 'http://manifest:8265', workers: 2 }), config, { RAY_ADDRESS: 'http://env:8265' })).toMatchObject({ address: 'http://manifest:8265', workers: 2 });
    expect(resolveExecution(plan({ address: 'http://manifest:8265' }), config, { RAY_ADDRESS: 'http://env:8265' }, { rayAddress: 'http://flag:8265', executor: 'ray', workers: '5' })).toMatchObject({ executor: 'ray', address: 'http://flag:8265', workers: 5 });
    // Inline runs one job at a time whatever `workers` says.
    expect(resolveExecution(plan({ workers: 4 }), {}, {}).workers).toBe(1);
    expect(() => resolveExecution(plan(), {}, {}, { workers: '0' })).toThrow('--workers: expected a whole number of at least 1, found "0"');
    expect(() => resolveExecution(plan(), {}, {}, { executor: 'k8s' })).toThrow('--executor: expected inline, local or ray, found "k8s"');
  });
});

describe('local worker environment', () => {
  it('gives each slot its own CUDA device in turn, and hides GPUs from CPU jobs', () => {
    expect([0, 1, 2, 3].map((s) => deviceForSlot(s, 2))).toEqual(['0', '1', '0', '1']);
    expect(deviceForSlot(0, 0)).toBeUndefined();
    const gpu = workerEnv({ PATH: '/bin' }, 1, { cores: 8, workers: 2, gpusPerJob: 1, cudaDevices: 2 });
    expect(gpu).toMatchObject({ PATH: '/bin', CUDA_VISIBLE_DEVICES: '1', TF_NUM_INTRAOP_THREADS: '4' });
    expect(workerEnv({}, 0, { cores: 2, workers: 2, gpusPerJob: 0, cudaDevices: 2 }).CUDA_VISIBLE_DEVICES).toBe('');
  });

  it('shares the cores out, or uses cpusPerJob', () => {
    expect(threadsPerWorker(2, 2)).toBe(1);
    expect(threadsPerWorker(2, 4)).toBe(1);
    expect(threadsPerWorker(16, 3)).toBe(5);
    expect(threadsPerWorker(16, 3, 2)).toBe(2);
  });
});

describe('ray addresses and entrypoints', () => {
  it('takes the dashboard URL and explains the other ports', () => {
    expect(normaliseRayAddress('127.0.0.1:8265')).toBe('http://127.0.0.1:8265');
    expect(normaliseRayAddress('https://ray.example.org/')).toBe('https://ray.example.org');
    expect(() => normaliseRayAddress('ray://head:10001')).toThrow(/is the cluster's GCS or client port; .* e\.g\. http:\/\/127\.0\.0\.1:8265/);
    expect(() => normaliseRayAddress('head:6379')).toThrow(/GCS or client port/);
  });

  it('quotes entrypoint arguments for the shell', () => {
    expect(shellQuote('/usr/bin/node')).toBe('/usr/bin/node');
    expect(shellQuote("/runs/it's here")).toBe(`'/runs/it'\\''s here'`);
  });
});

describe('followJsonLines', () => {
  it('hands on complete lines in order, including those written just before stop()', async () => {
    const file = path.join(fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-follow-')), 'events.jsonl');
    const seen: unknown[] = [];
    const follower = followJsonLines(file, (v) => seen.push(v), 20);
    fs.appendFileSync(file, '{"a":1}\n{"a":');
    await new Promise((r) => setTimeout(r, 60));
    expect(seen).toEqual([{ a: 1 }]);
    fs.appendFileSync(file, '2}\n{"a":3}\n');
    follower.stop();
    expect(seen).toEqual([{ a: 1 }, { a: 2 }, { a: 3 }]);
  });
});
