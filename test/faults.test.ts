/**
 * Faults a user meets, made for real with the built CLI: a full disk (a small tmpfs, as root), two
 * runs started at once on one output folder, a flaky network in front of a real MLflow server.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MlflowClient, startMlflowServer, type StartedServer } from '@synthmix/tracking';
import { startFlakyProxy, type FlakyProxy } from './flaky-proxy.js';
import { runProcess, type Finished } from './processes.js';
import { writeTinySweep } from './tiny-sweep.js';

const root = path.resolve(import.meta.dirname, '..');
const bin = path.join(root, 'packages/cli/bin/synthmix.js');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'synthmix-faults-'));
const mounted: string[] = [];
afterAll(() => {
  for (const dir of mounted) spawnSync('umount', [dir]);
  fs.rmSync(tmp, { recursive: true, force: true });
});

const env = (): NodeJS.ProcessEnv => ({ ...process.env, SYNTHMIX_HOME: path.join(tmp, 'home'), NO_COLOR: '1' });
const synthmixWith = (options: { onStderr?: (stderr: string) => void }, ...args: string[]) => runProcess('node', [bin, ...args], { cwd: tmp, env: env(), timeout: 300_000, ...options });
const synthmix = (...args: string[]) => synthmixWith({}, ...args);

/** Lines of stderr that are ours (libtensorflow logs a few lines of its own while it loads). */
const ourLines = (stderr: string) => stderr.split('\n').filter((l) => l && !/^(I0000|WARNING: All log messages|W0000)/.test(l));

const isRoot = process.getuid?.() === 0;

// Three sizes, so the disk fills at different points of the sweep (a generator, a cell, the report).
describe.skipIf(!isRoot)('a full disk (a small tmpfs as the output folder)', () => {
  it.each(['100k', '150k', '300k'])('at %s: stops with one line naming the folder, exit 1, no retry, no trace; after freeing space the same command resumes and exits 0 with every cell once', async (size) => {
    const out = path.join(tmp, `small-disk-${size}`);
    fs.mkdirSync(out);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', out], { encoding: 'utf8' });
    expect(mount.status, mount.stderr).toBe(0);
    mounted.push(out);
    const manifest = writeTinySweep({ name: `full-disk-${size}`, dir: tmp });
    const first = await synthmix('run', manifest, '--no-ui', '--no-tracking', '--set', `output=${out}`);
    expect(first.status).toBe(1);
    const lines = ourLines(first.stderr);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(new RegExp(`^synthmix run: no space left on device writing ${out}/.*: free space there and run the same command again`));
    expect(first.stderr).not.toMatch(/\n\s+at |Emitted 'error'|--debug/);
    expect(first.stdout).not.toMatch(/retry/);
    // Free space: the same filesystem, larger, with what the first run left.
    expect(spawnSync('mount', ['-o', 'remount,size=64m', out]).status).toBe(0);
    const again = await synthmix('run', manifest, '--no-ui', '--no-tracking', '--set', `output=${out}`);
    expect(ourLines(again.stderr)).toEqual([]);
    expect(again.status).toBe(0);
    const rows = fs.readFileSync(path.join(out, 'results.csv'), 'utf8').trim().split('\n').slice(1).map((l) => l.split(',')[0]);
    expect(rows).toEqual(['real80-synth0-seed1', 'real40-synth40-seed1', 'real0-synth80-seed1']);
    // No state file is left torn: every JSON in the folder reads.
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    for (const file of walk(out).filter((f) => f.endsWith('.json'))) expect(() => JSON.parse(fs.readFileSync(file, 'utf8')), file).not.toThrow();
    expect(walk(out).filter((f) => f.endsWith('.tmp'))).toEqual([]);
  });
});

describe('two runs on one output folder', () => {
  it('the second refuses in one line naming the holder, exit 2; the first finishes; --wait queues and then finds everything done', async () => {
    const manifest = writeTinySweep({ name: 'twice', dir: tmp });
    const first = synthmix('run', manifest, '--no-ui', '--no-tracking');
    // The first holds the folder from its first step: wait until it wrote its lock.
    const lock = path.join(tmp, 'runs', 'twice', '.synthmix.lock');
    const deadline = Date.now() + 60_000;
    while (!fs.existsSync(lock) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const holder = JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number };
    // The first is paused while the others start, so that it cannot finish before they meet its
    // lock (a tiny sweep takes a few seconds, about as long as a process takes to start).
    process.kill(holder.pid, 'SIGSTOP');
    let queued: Promise<Finished>;
    try {
      const second = await synthmix('run', manifest, '--no-ui', '--no-tracking');
      expect(second.status).toBe(2);
      expect(ourLines(second.stderr)).toEqual([expect.stringMatching(new RegExp(`^synthmix run: the output folder .*runs/twice is in use by pid ${holder.pid} on ${os.hostname()} since \\S+ \\(.*\\) \\(lock .*\\.synthmix\\.lock\\); wait for it to finish, or pass --wait to queue behind it$`))]);
      let saidWaiting = () => {};
      const waiting = new Promise<void>((resolve) => (saidWaiting = resolve));
      queued = synthmixWith({ onStderr: (text) => /waiting for the output folder/.test(text) && saidWaiting() }, 'run', manifest, '--no-ui', '--no-tracking', '--wait');
      await Promise.race([waiting, queued]);
    } finally {
      process.kill(holder.pid, 'SIGCONT');
    }
    expect((await first).status).toBe(0);
    const waited = await queued;
    expect(waited.status).toBe(0);
    expect(waited.stderr).toMatch(/waiting for the output folder .*runs\/twice: pid \d+/);
    expect(waited.stdout.match(/: done earlier acc=/g)).toHaveLength(3); // the three cells, read back, none trained again
    expect(fs.existsSync(lock)).toBe(false);
  });
});

describe('a flaky MLflow server (a quarter of requests fail transiently)', () => {
  let server: StartedServer;
  let proxy: FlakyProxy;
  beforeAll(async () => {
    server = await startMlflowServer({ projectRoot: root, storeDir: path.join(tmp, 'mlflow-flaky') });
    proxy = await startFlakyProxy(server.url, { failRate: 0.25, seed: 7 });
  });
  afterAll(async () => {
    await proxy?.close();
    await server?.stop();
  });

  it('logs every run, param, metric step and artifact exactly once, and exits 0', async () => {
    const manifest = writeTinySweep({ name: 'flaky', dir: tmp, experiment: 'flaky' });
    const r = await runProcess('node', [bin, 'run', manifest, '--no-ui'], { cwd: tmp, env: { ...env(), MLFLOW_TRACKING_URI: proxy.url }, timeout: 400_000 });
    expect(proxy.faults['503'] + proxy.faults.reset + proxy.faults['reply-lost']).toBeGreaterThan(10);
    expect(Object.values(proxy.faults).every((n) => n >= 2)).toBe(true);
    expect(r.stderr).not.toMatch(/did not reach|refused/);
    expect(r.status).toBe(0);

    // Checked on the server itself, not through the proxy.
    const client = new MlflowClient({ trackingUri: server.url });
    const experiment = (await client.getExperimentByName('flaky'))!;
    const all = await client.searchRuns([experiment.experiment_id], '', 1000, 'ALL');
    const active = all.filter((x) => x.info.lifecycle_stage !== 'deleted');
    expect(active.map((x) => x.info.run_name).sort()).toEqual(['flaky', 'generator-seed1', 'real0-synth80-seed1', 'real40-synth40-seed1', 'real80-synth0-seed1']);
    expect(active.every((x) => x.info.status === 'FINISHED')).toBe(true);
    // No run was made twice, even deleted.
    expect(all).toHaveLength(5);

    // Every metric point the sweep spooled is on the server once; every param; every artifact.
    const spool = fs.readFileSync(path.join(tmp, 'runs', 'flaky', 'mlflow', 'spool.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; key: string; name?: string; metrics?: { key: string; step: number; timestamp: number; value: number | string }[]; params?: Record<string, string>; file?: string; dir?: string });
    const keyOf = new Map(spool.filter((o) => o.op === 'start-run').map((o) => [o.key, o.name!]));
    const byName = new Map(active.map((x) => [x.info.run_name!, x]));
    const expected = new Map<string, string[]>();
    for (const o of spool.filter((x) => x.op === 'log')) {
      for (const m of o.metrics ?? []) {
        const id = `${keyOf.get(o.key)}\t${m.key}`;
        expected.set(id, [...(expected.get(id) ?? []), `${m.step}@${m.timestamp}=${Number(m.value)}`]);
      }
    }
    for (const [id, points] of expected) {
      const [name, key] = id.split('\t');
      const history = await client.getMetricHistory(byName.get(name)!.info.run_id, key);
      expect(history.map((m) => `${m.step}@${m.timestamp}=${Number(m.value)}`).sort(), id).toEqual([...points].sort());
    }
    for (const o of spool.filter((x) => x.op === 'start-run')) {
      const params = Object.fromEntries((byName.get(o.name!)!.data.params ?? []).map((p) => [p.key, p.value]));
      for (const [k, v] of Object.entries(o.params ?? {})) expect(params[k], `${o.name} ${k}`).toBe(v);
    }
    for (const o of spool.filter((x) => x.op === 'artifact' && fs.existsSync(x.file!) && fs.statSync(x.file!).isFile())) {
      const run = byName.get(keyOf.get(o.key)!)!;
      const listed = await client.listArtifacts(run.info, o.dir ?? '');
      expect(listed.filter((f) => f.path === path.posix.join(o.dir ?? '', path.basename(o.file!))), `${keyOf.get(o.key)} ${o.file}`).toHaveLength(1);
    }
  });
});

describe('hostile class names', () => {
  it('validate refuses a class name that is a path, saying where and what is allowed (exit 2)', async () => {
    const file = path.join(tmp, 'hostile.yaml');
    fs.writeFileSync(file, fs.readFileSync(writeTinySweep({ name: 'hostile', dir: tmp }), 'utf8').replace('classes: { tumor: tumor, healthy: healthy }', 'classes: { "../../../../../../../../../tmp/x": tumor, b: "../../etc" }'));
    const r = await synthmix('validate', file);
    expect(r.status).toBe(2);
    expect(ourLines(r.stderr)).toEqual([
      expect.stringMatching(/hostile\.yaml:\d+:\d+: dataset\.classes\.\.\.\/.*\/tmp\/x: name "\.\.\/.*\/tmp\/x" is not allowed: expected letters, digits, spaces and _ \. \+ - \(up to 64 characters, starting with a letter or digit\)/),
      expect.stringMatching(/hostile\.yaml:\d+:\d+: dataset\.classes\.b: expected a sub-folder inside the dataset folder \(no absolute path, no \.\. segment\), found "\.\.\/\.\.\/etc"/),
    ]);
  });

  it('past the schema (a plugin, an old manifest), nothing is written outside the output folder and the cache', async () => {
    // A deep sandbox, so that a name that climbs would land inside it, where the walk below sees it.
    const sandbox = path.join(tmp, 'sandbox', 'a', 'b', 'c', 'd', 'e', 'f');
    fs.mkdirSync(sandbox, { recursive: true });
    const manifest = writeTinySweep({ name: 'names', dir: sandbox });
    const { loadBackend, loadManifest, loadPlugin, runSweep } = await import('@synthmix/core');
    const { writeReport } = await import('@synthmix/cli');
    const { MlflowTracker } = await import('@synthmix/tracking');
    const loaded = await loadManifest(manifest, { projectRoot: sandbox, overrides: [`output=${path.join(sandbox, 'out')}`], pluginSchema: async (ref, kind, dir) => (await loadPlugin(ref, kind, dir)).optionsSchema });
    const hostile = ['../../../../escape-a', '..'];
    const plan = { ...loaded, dataset: { ...loaded.dataset, classes: loaded.dataset.classes.map((c, i) => ({ ...c, name: hostile[i] })) } };
    const tracker = new MlflowTracker({ outputDir: plan.outputDir, experimentName: 'names' });
    const summary = await runSweep(plan, { cacheDir: path.join(sandbox, 'cache'), backend: await loadBackend('tensorflow'), bootstrapResamples: 20, onEvent: (e) => tracker.handle(e) });
    expect(summary.failed).toEqual([]);
    expect(summary.status).toBe('finished');
    await writeReport(plan.outputDir, plan, summary.results);
    const walk = (dir: string): string[] => fs.readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(dir, e.name)) : [path.join(dir, e.name)]));
    const written = walk(path.join(tmp, 'sandbox'));
    expect(written.length).toBeGreaterThan(30);
    const outside = written.filter((f) => !f.startsWith(`${path.join(sandbox, 'out')}${path.sep}`) && !f.startsWith(`${path.join(sandbox, 'cache')}${path.sep}`) && f !== manifest);
    expect(outside).toEqual([]);
    // The report shows both classes' synthetic samples, under their safe names.
    expect(fs.readdirSync(path.join(plan.outputDir, 'report')).filter((f) => f.startsWith('samples-synthetic-')).sort()).toEqual([
      expect.stringMatching(/^samples-synthetic-_\.\.-[0-9a-f]{8}-seed1\.png$/),
      expect.stringMatching(/^samples-synthetic-_\.\._\.\._\.\._\.\._escape-a-[0-9a-f]{8}-seed1\.png$/),
    ]);
    // Every artifact folder the tracker would send stays inside the run's artifacts.
    const spool = fs.readFileSync(path.join(plan.outputDir, 'mlflow', 'spool.jsonl'), 'utf8').trim().split('\n').map((l) => JSON.parse(l) as { op: string; dir?: string });
    for (const o of spool.filter((x) => x.op === 'artifact')) expect(o.dir!.split('/').every((p) => p !== '..' && p !== '.'), o.dir).toBe(true);
  });
});
