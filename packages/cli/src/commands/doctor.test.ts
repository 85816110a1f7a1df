import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { cpuFacts, loadGraphBinding, machineKey, rememberChoice, sessionThreads } from '@synthmix/compile';
import { main } from '../cli.js';
import type { IO } from '../command.js';

const home = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-doctor-test-'));

// Its own file: a process loads one TensorFlow backend, and the other CLI tests use the CPU one.
async function cli(...argv: string[]): Promise<{ code: number; out: string; err: string }> {
  let out = '';
  let err = '';
  const io: IO = { stdout: { write: (s: string) => (out += s), isTTY: false }, stderr: { write: (s: string) => (err += s) }, env: { ...process.env, SYNTHMIX_HOME: home }, cwd: process.cwd() };
  return { code: await main(argv, io), out, err };
}

describe('synthmix doctor', () => {
  it('reports the libtensorflow backend and why, as JSON for bug reports', async () => {
    const r = await cli('doctor', '--json');
    const report = JSON.parse(r.out);
    expect(report.backend).toBe('tensorflow');
    expect(report.choice).toBe('tensorflow');
    expect(report.reasons[0]).toMatch(/^auto: no GPU \(/);
    expect(report.tensorflow).toMatch(/^2\.\d+\.\d+$/);
    expect(report.threads.intraOp).toBeGreaterThanOrEqual(1);
    expect(report.node).toBe(process.version);
    // The compiled path (graph addon built by setup) works here, XLA included.
    expect(report.compiled).toMatchObject({ ok: true, tensorflow: report.tensorflow, xla: { ok: true } });
    expect(r.code).toBe(0);
    const text = await cli('doctor');
    expect(text.out).toMatch(/^compiled {5}works \(graph addon on libtensorflow 2\.\d+\.\d+; compiled = eager on a probe step\); XLA works$/m);
  });

  it('lists the paths compile: auto measured on this machine, from the project cache', async () => {
    expect((await cli('doctor')).out).toMatch(/^auto paths {3}none measured on this machine yet \(a run with compile: auto times the paths of each step that takes 50 ms or more compiled, once; quicker steps run compiled unmeasured\)$/m);
    await cli('doctor'); // the backend is loaded (its thread settings are in the environment), as in a run
    const file = path.join(home, 'cache', 'compile-choices.json');
    const here = machineKey(cpuFacts(), sessionThreads(), loadGraphBinding().version());
    const choice = { owner: 'synthmix:dcgan', step: 'GAN step', shape: 'float32[64,64,64,3] float32[64,100]', path: 'xla' as const, msPerStep: { compiled: 612.4, xla: 420.2, eager: 1130 }, measuredAt: '2026-12-02T10:00:00.000Z', machine: 'this one', machineKey: here };
    rememberChoice(file, 'a', choice);
    rememberChoice(file, 'b', { ...choice, machineKey: 'another-machine' });
    const r = await cli('doctor');
    expect(r.out).toContain(`auto paths   1 step measured on this machine (${file}); 1 more for other machines:\n             synthmix:dcgan GAN step [float32[64,64,64,3] float32[64,100]]: compiled + XLA (compiled 612 ms, compiled + XLA 420 ms, eager 1.13 s a step), 2026-12-02\n`);
    expect(JSON.parse((await cli('doctor', '--json')).out).compilePaths).toMatchObject({ file, here: [choice], others: 1 });
  });

  it.skipIf(!process.env.SYNTHMIX_TEST_RAY_ADDRESS)('shows the executor and a Ray cluster\'s version and resources', async () => {
    const r = await cli('doctor', '--executor', 'ray', '--ray-address', process.env.SYNTHMIX_TEST_RAY_ADDRESS!);
    expect(r.out).toMatch(/^executor {5}ray, 1 at once, 1 retry; Ray 2\.\d+\.\d+ at http:\/\/127\.0\.0\.1:\d+ \(\d+ CPU, [\d.]+ GiB, 1 node\(s\)\)$/m);
    const down = await cli('doctor', '--json', '--executor', 'ray', '--ray-address', 'http://127.0.0.1:9');
    expect(JSON.parse(down.out).execution.error).toBe('Ray cluster at http://127.0.0.1:9 is not reachable (ECONNREFUSED)');
  });

  it('fails loudly for a GPU request on a machine without one', async () => {
    const r = await cli('doctor', '--backend', 'gpu');
    expect(r.code).toBe(1);
    expect(r.out).toMatch(/^backend {6}unavailable: backend "gpu" was requested but is not usable: /);
  });
});
