/**
 * Faults a user meets, made for real with the built CLI: a full disk (a small tmpfs, as root), two
 * runs started at once on one output folder.
 */
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { runProcess } from './processes.js';
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
const synthmix = (...args: string[]) => runProcess('node', [bin, ...args], { cwd: tmp, env: env(), timeout: 300_000 });

/** Lines of stderr that are ours (libtensorflow logs a few lines of its own while it loads). */
const ourLines = (stderr: string) => stderr.split('\n').filter((l) => l && !/^(I0000|WARNING: All log messages|W0000)/.test(l));

const isRoot = process.getuid?.() === 0;

describe.skipIf(!isRoot)('a full disk (a 150 KB tmpfs as the output folder)', () => {
  it('stops with one line naming the folder, exit 1, no retry, no trace; after freeing space the same command resumes and exits 0 with every cell once', async () => {
    const out = path.join(tmp, 'small-disk');
    fs.mkdirSync(out);
    const mount = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=150k', 'tmpfs', out], { encoding: 'utf8' });
    expect(mount.status, mount.stderr).toBe(0);
    mounted.push(out);
    const manifest = writeTinySweep({ name: 'full-disk', dir: tmp });
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
    const second = await synthmix('run', manifest, '--no-ui', '--no-tracking');
    expect(second.status).toBe(2);
    const holder = JSON.parse(fs.readFileSync(lock, 'utf8')) as { pid: number };
    expect(ourLines(second.stderr)).toEqual([expect.stringMatching(new RegExp(`^synthmix run: the output folder .*runs/twice is in use by pid ${holder.pid} on ${os.hostname()} since \\S+ \\(.*\\) \\(lock .*\\.synthmix\\.lock\\); wait for it to finish, or pass --wait to queue behind it$`))]);
    const queued = synthmix('run', manifest, '--no-ui', '--no-tracking', '--wait');
    expect((await first).status).toBe(0);
    const waited = await queued;
    expect(waited.status).toBe(0);
    expect(waited.stderr).toMatch(/waiting for the output folder .*runs\/twice: pid \d+/);
    expect(waited.stdout.match(/: done earlier acc=/g)).toHaveLength(3); // the three cells, read back, none trained again
    expect(fs.existsSync(lock)).toBe(false);
  });
});
