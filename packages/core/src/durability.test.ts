/**
 * Caches that cannot lie and folders that cannot clash: every kind of cache entry damaged three
 * ways is refused by name and rebuilt, never computed from; a second run on a held output folder
 * refuses, a stale lock is taken over.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { spawnSync } from 'node:child_process';
import { beforeAll, describe, expect, it } from 'vitest';
import { damageFile, DAMAGES, type Damage } from '@synthmix/data';
import type { CellResult, SweepEvent } from './events.js';
import { cacheLayout, sweepLayout } from './layout.js';
import { acquireLock, LockHeldError } from './lock.js';
import type { ResolvedPlan } from './manifest.js';
import { loadTensors, saveTensors } from './plugin-kit.js';
import { runSweep } from './runner.js';
import { calls, trainingGate } from './__fixtures__/fake-plugins.js';
import { sweepFixture } from './__fixtures__/sweep-fixture.js';

const fixture = sweepFixture('durable');
const root = fixture.root;

const manifest = `name: durable-test
seeds: [1]
dataset:
  source: phantom
  classes: { tumor: tumor, healthy: healthy }
  phantomPerClass: 40
  imageSize: 32
  testPerClass: 10
generator:
  plugin: ./mean-generator.ts
  options: { epochs: 2 }
classifier:
  plugin: ./nearest-mean.ts
ratios: [0, 0.5, 1]
trainingSetSize: 20
`;

const plan = (name: string) => fixture.plan(name, manifest);

async function run(p: ResolvedPlan, cacheDir: string, onEvent: (e: SweepEvent) => void = () => {}) {
  const events: SweepEvent[] = [];
  const summary = await runSweep(p, { cacheDir, backend: fixture.backend, onEvent: (e) => (events.push(e), onEvent(e)), bootstrapResamples: 20 });
  const warnings = events.flatMap((e) => (e.type === 'warning' ? [e.message] : []));
  return { summary, events, warnings };
}

const metricsOf = (results: CellResult[]) => Object.fromEntries(results.map((r) => [r.cell.id, r.metrics]));

/** The one generator entry of a cache, and its files. */
function entry(cacheDir: string) {
  const generators = path.join(cacheDir, 'generators');
  const key = fs.readdirSync(generators).find((f) => !f.endsWith('.lock'))!;
  const dir = cacheLayout(cacheDir).generatorDir(key);
  return { dir, pool: fs.readdirSync(dir).find((f) => /^pool-\d+\.f32$/.test(f))! };
}

describe('a damaged cache entry is refused by name and rebuilt, never used', () => {
  let clean: Record<string, unknown>;
  beforeAll(async () => {
    const { summary } = await run(await plan('clean'), path.join(root, 'cache-clean'));
    expect(summary.status).toBe('finished');
    clean = metricsOf(summary.results);
  });

  it.each(DAMAGES)('the generator state (%s): retrained, same results', async (how: Damage) => {
    const cache = path.join(root, `cache-state-${how}`);
    await run(await plan(`state-${how}-a`), cache);
    damageFile(path.join(entry(cache).dir, 'means.json'), how);
    Object.assign(calls, { train: 0, generate: 0 });
    const { summary, warnings, events } = await run(await plan(`state-${how}-b`), cache);
    expect(warnings.filter((w) => w.startsWith('damaged cache entry'))).toEqual([expect.stringMatching(/^damaged cache entry: damaged file .*means\.json: .*; the generator of seed 1 is trained again$/)]);
    expect(events.find((e) => e.type === 'generator:start')).toMatchObject({ cached: false });
    expect(calls.train).toBe(1);
    expect(summary.status).toBe('finished');
    expect(metricsOf(summary.results)).toEqual(clean);
  });

  it.each(DAMAGES)('the synthetic pool (%s): sampled again, same results', async (how: Damage) => {
    const cache = path.join(root, `cache-pool-${how}`);
    await run(await plan(`pool-${how}-a`), cache);
    const { dir, pool } = entry(cache);
    damageFile(path.join(dir, pool), how);
    Object.assign(calls, { train: 0, generate: 0 });
    const { summary, warnings } = await run(await plan(`pool-${how}-b`), cache);
    expect(warnings.filter((w) => w.startsWith('damaged cache entry'))).toEqual([expect.stringMatching(new RegExp(`^damaged cache entry: damaged file .*${pool}: .*; the synthetic pool is sampled again$`))]);
    expect(calls.train).toBe(0);
    expect(calls.generate).toBe(1);
    expect(metricsOf(summary.results)).toEqual(clean);
  });

  it('a torn pool index: sampled again', async () => {
    const cache = path.join(root, 'cache-pool-index');
    await run(await plan('pool-index-a'), cache);
    const { dir, pool } = entry(cache);
    damageFile(path.join(dir, `${pool}.json`), 'truncate');
    const { summary, warnings } = await run(await plan('pool-index-b'), cache);
    expect(warnings.some((w) => /damaged cache entry: damaged file .*\.f32\.json: not valid JSON/.test(w))).toBe(true);
    expect(metricsOf(summary.results)).toEqual(clean);
  });

  it('the pool\'s quality measures are kept beside it: a rerun reads them; damaged (each way), they are measured again', async () => {
    const cache = path.join(root, 'cache-quality');
    const labels = (events: SweepEvent[]) => events.flatMap((e) => (e.type === 'generator:progress' && e.progress.unit === 'class' ? [e.progress.label] : []));
    const qualityFile = (p: ResolvedPlan) => fs.readFileSync(sweepLayout(p.outputDir).quality(1), 'utf8');
    const metricEvents = (events: SweepEvent[]) => events.filter((e) => e.type === 'metric' && e.name.startsWith('quality_')).map((e) => ({ name: (e as { name: string }).name, value: (e as { value: number }).value }));
    const first = await plan('quality-a');
    const measured = await run(first, cache);
    expect(labels(measured.events)).toEqual(['measuring tumor against real images (SSIM, patch distance)', 'measuring healthy against real images (SSIM, patch distance)', 'quality measured']);
    const { dir, pool } = entry(cache);
    const kept = path.join(dir, pool.replace(/\.f32$/, '.quality.json'));
    expect(fs.existsSync(kept)).toBe(true);

    const again = await plan('quality-b');
    const read = await run(again, cache);
    expect(labels(read.events)).toEqual(['quality read from the cache']);
    expect(qualityFile(again)).toBe(qualityFile(first));
    // The same metrics reach the tracker, NaN included.
    expect(metricEvents(read.events)).toEqual(metricEvents(measured.events));

    for (const how of DAMAGES) {
      damageFile(kept, how);
      const p = await plan(`quality-${how}`);
      const { events, warnings } = await run(p, cache);
      expect(warnings.filter((w) => w.startsWith('damaged cache entry'))).toEqual([expect.stringMatching(/^damaged cache entry: damaged file .*\.quality\.json: .*; the synthetic images' quality is measured again$/)]);
      expect(labels(events)).toEqual(labels(measured.events));
      expect(qualityFile(p)).toBe(qualityFile(first));
    }
  });

  it('a damaged cell result: the cell runs again instead of being read', async () => {
    const cache = path.join(root, 'cache-result');
    const p = await plan('result');
    await run(p, cache);
    const cell = p.cells[1].id;
    damageFile(sweepLayout(p.outputDir).cellResult(cell), 'truncate');
    Object.assign(calls, { fit: 0 });
    const { summary, warnings } = await run(p, cache);
    expect(warnings).toContainEqual(expect.stringMatching(new RegExp(`damaged file .*${cell}/result\\.json: not valid JSON.*; the cell runs again`)));
    expect(calls.fit).toBe(1);
    expect(metricsOf(summary.results)).toEqual(clean);
  });

  it('a damaged checkpoint of an interrupted training: the entry is dropped and trained from the start', async () => {
    const cache = path.join(root, 'cache-checkpoint');
    const p = await plan('checkpoint');
    // Stopped during training: the entry keeps its checkpoint and has no complete.json.
    const stop = new AbortController();
    const stopped = await runSweep(p, { cacheDir: cache, backend: fixture.backend, bootstrapResamples: 20, signal: stop.signal, onEvent: (e) => e.type === 'generator:progress' && stop.abort() });
    expect(stopped.status).toBe('interrupted');
    const generators = path.join(cache, 'generators');
    const dir = path.join(generators, fs.readdirSync(generators).find((f) => !f.endsWith('.lock'))!);
    expect(fs.existsSync(path.join(dir, 'complete.json'))).toBe(false);
    damageFile(path.join(dir, 'epoch.json'), 'truncate');
    const { summary, warnings, events } = await run(p, cache);
    expect(warnings).toContainEqual(expect.stringMatching(/^damaged cache entry: damaged file .*epoch\.json: not valid JSON.*; the generator of seed 1 is trained again$/));
    // Trained from epoch 1, not from the torn checkpoint.
    expect(events.filter((e) => e.type === 'generator:progress' && e.progress.unit === 'epoch').map((e) => (e as { progress: { step: number } }).progress.step)).toEqual([1, 2]);
    expect(summary.status).toBe('finished');
    expect(metricsOf(summary.results)).toEqual(clean);
  });

  it('two sweeps sharing the cache train a generator entry once: the second waits, then reuses it', async () => {
    const cache = path.join(root, 'cache-shared');
    Object.assign(calls, { train: 0 });
    // The first training holds on until the other sweep has met its lock and said it waits (or
    // 30 s pass, and the assertions below fail): without it the two raced, and a quick training
    // could be over before the other sweep reached the lock.
    let release = () => {};
    trainingGate.next = new Promise<void>((resolve) => (release = resolve));
    const giveUp = setTimeout(() => release(), 30_000);
    const onEvent = (e: SweepEvent) => e.type === 'warning' && e.message.startsWith('waiting for the generator cache entry') && release();
    const [a, b] = await Promise.all([run(await plan('shared-a'), cache, onEvent), run(await plan('shared-b'), cache, onEvent)]);
    clearTimeout(giveUp);
    expect(calls.train).toBe(1);
    expect([a, b].map((x) => x.summary.status)).toEqual(['finished', 'finished']);
    const starts = [a, b].map((x) => (x.events.find((e) => e.type === 'generator:start') as { cached: boolean }).cached).sort();
    expect(starts).toEqual([false, true]);
    expect([...a.warnings, ...b.warnings]).toContainEqual(expect.stringMatching(/^waiting for the generator cache entry [0-9a-f]+: pid \d+ on .* is training it$/));
    expect(metricsOf(a.summary.results)).toEqual(metricsOf(b.summary.results));
  });

  it('saved tensors (checkpoints, weights, snapshots) do not load when damaged', async () => {
    const file = path.join(root, 'tensors', 'weights');
    const tensor = fixture.backend.tf.tensor([1, 2, 3, 4]);
    await saveTensors(file, [{ name: 'w', tensor }]);
    tensor.dispose();
    for (const how of DAMAGES) {
      const copy = path.join(root, 'tensors', how);
      fs.copyFileSync(`${file}.json`, `${copy}.json`);
      fs.copyFileSync(`${file}.bin`, `${copy}.bin`);
      damageFile(`${copy}.bin`, how);
      expect(() => loadTensors(fixture.backend.tf, copy)).toThrow(new RegExp(`damaged file .*${how}\\.bin: `));
    }
    const [{ tensor: back }] = loadTensors(fixture.backend.tf, file);
    expect(Array.from(back.dataSync())).toEqual([1, 2, 3, 4]);
    back.dispose();
  });
});

describe('the output folder is held by one run at a time', () => {
  it('a second run on a held folder refuses, naming the holder; the first is unaffected', async () => {
    const p = await plan('held');
    const first = run(p, path.join(root, 'cache-held'));
    // The first run holds the lock from its first step.
    await expect(run(p, path.join(root, 'cache-held'))).rejects.toThrow(LockHeldError);
    await expect(run(p, path.join(root, 'cache-held'))).rejects.toThrow(new RegExp(`the output folder ${p.outputDir} is in use by pid ${process.pid} on ${os.hostname()} since .*; wait for it to finish, or pass --wait`));
    expect((await first).summary.status).toBe('finished');
    expect(fs.existsSync(sweepLayout(p.outputDir).lock)).toBe(false);
  });

  it('a lock left by a killed process is taken over, saying so', async () => {
    const p = await plan('stale');
    const dead = spawnSync('node', ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' });
    const lockFile = sweepLayout(p.outputDir).lock;
    fs.mkdirSync(path.dirname(lockFile), { recursive: true });
    fs.writeFileSync(lockFile, JSON.stringify({ pid: Number(dead.stdout), host: os.hostname(), startedAt: '2026-01-01T00:00:00.000Z', command: 'synthmix run' }));
    const notices: string[] = [];
    const summary = await runSweep(p, { cacheDir: path.join(root, 'cache-stale'), backend: fixture.backend, bootstrapResamples: 20, onLockNotice: (m) => notices.push(m) });
    expect(summary.status).toBe('finished');
    expect(notices).toEqual([`took over the output folder ${p.outputDir} from pid ${dead.stdout} on ${os.hostname()} since 2026-01-01T00:00:00.000Z (synthmix run), which is no longer running`]);
  });

  it('a lock from before a reboot is stale; a fresh one of another host is not; --wait queues', async () => {
    const file = path.join(root, 'locks', 'a.lock');
    fs.mkdirSync(path.dirname(file), { recursive: true });
    fs.writeFileSync(file, JSON.stringify({ pid: process.pid, host: os.hostname(), bootId: 'an-earlier-boot', startedAt: 'then', command: 'x' }));
    const stale: unknown[] = [];
    const lock = await acquireLock(file, { onStale: (h) => stale.push(h) });
    expect(stale).toHaveLength(1);
    lock.release();
    fs.writeFileSync(file, JSON.stringify({ pid: 1, host: 'another-node', startedAt: 'now', command: 'x' }));
    await expect(acquireLock(file)).rejects.toThrow(/in use by pid 1 on another-node/);
    const waited: unknown[] = [];
    const queued = acquireLock(file, { wait: true, pollMs: 20, onWait: (h) => waited.push(h) });
    await new Promise((r) => setTimeout(r, 100));
    fs.rmSync(file);
    (await queued).release();
    expect(waited).toHaveLength(1);
  });
});
