/**
 * Lock files: one process at a time in a sweep's output folder, and one at a time training a
 * generator cache entry. A lock file holds who took it (pid, host, boot, process start, time);
 * it is created with O_EXCL, refreshed while held, and removed on release. A lock whose holder is
 * gone — the process died (kill -9), the machine rebooted, or a holder on another host stopped
 * refreshing it — is stale and taken over, and the caller is told.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { UserError } from './errors.js';

export interface LockHolder {
  pid: number;
  host: string;
  /** Linux boot id: a lock from before a reboot is stale even if its pid is alive again. */
  bootId?: string;
  /** Start time of the holding process (clock ticks since boot): tells a reused pid apart. */
  processStart?: string;
  startedAt: string;
  command: string;
}

/** The lock is held by a live process and the caller did not ask to wait. */
export class LockHeldError extends UserError {
  constructor(readonly file: string, readonly holder: LockHolder, what: string) {
    super(`${what} is in use by ${describeHolder(holder)} (lock ${file}); wait for it to finish, or pass --wait to queue behind it`);
    this.name = 'LockHeldError';
  }
}

export function describeHolder(h: LockHolder): string {
  return `pid ${h.pid} on ${h.host} since ${h.startedAt}${h.command ? ` (${h.command})` : ''}`;
}

/** How often a held lock is refreshed, and how old a lock of another host may be before it counts as stale. */
const REFRESH_MS = 30_000;
const FOREIGN_STALE_MS = 5 * 60_000;

function readText(file: string): string | undefined {
  try {
    return fs.readFileSync(file, 'utf8').trim();
  } catch {
    return undefined;
  }
}

function processStart(pid: number): string | undefined {
  // Field 22 of /proc/<pid>/stat, after the command name in parentheses (which may hold spaces).
  const stat = readText(`/proc/${pid}/stat`);
  return stat?.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
}

function me(command: string): LockHolder {
  const bootId = readText('/proc/sys/kernel/random/boot_id');
  const start = processStart(process.pid);
  return { pid: process.pid, host: os.hostname(), ...(bootId ? { bootId } : {}), ...(start ? { processStart: start } : {}), startedAt: new Date().toISOString(), command };
}

function alive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** Whether the holder of a lock is gone, judged from this host. */
export function isStale(holder: LockHolder, lockAgeMs: number): boolean {
  if (holder.host !== os.hostname()) return lockAgeMs > FOREIGN_STALE_MS;
  const bootId = readText('/proc/sys/kernel/random/boot_id');
  if (holder.bootId && bootId && holder.bootId !== bootId) return true;
  if (!alive(holder.pid)) return true;
  const start = processStart(holder.pid);
  return Boolean(holder.processStart && start && holder.processStart !== start);
}

export interface Lock {
  readonly file: string;
  release(): void;
}

export interface LockOptions {
  /** Queue behind a live holder instead of refusing. */
  wait?: boolean;
  /** What the lock guards, for the refusal ("output folder runs/demo"). */
  what?: string;
  /** Recorded in the lock for whoever finds it. */
  command?: string;
  /** Told once when it starts waiting. */
  onWait?: (holder: LockHolder) => void;
  /** Told when a stale lock is taken over. */
  onStale?: (holder: LockHolder) => void;
  /** Stops waiting. */
  signal?: AbortSignal;
  pollMs?: number;
}

/** Takes the lock at `file`: at once, after waiting (`wait`), or throws {@link LockHeldError}. */
export async function acquireLock(file: string, options: LockOptions = {}): Promise<Lock> {
  fs.mkdirSync(path.dirname(file), { recursive: true });
  const mine = me(options.command ?? process.argv.slice(1).map((a) => path.basename(a)).join(' '));
  const text = JSON.stringify(mine);
  let told = false;
  for (;;) {
    try {
      fs.writeFileSync(file, text, { flag: 'wx' });
      return held(file, text);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const found = readText(file);
    let holder: LockHolder | undefined;
    try {
      holder = found ? (JSON.parse(found) as LockHolder) : undefined;
    } catch { /* torn by a crash while it was written */ }
    let age = 0;
    try {
      age = Date.now() - fs.statSync(file).mtimeMs;
    } catch {
      continue; // released meanwhile
    }
    // A lock that says nothing (torn) and is not fresh, or whose holder is gone, is taken over.
    if (!holder ? age > 2_000 : isStale(holder, age)) {
      // Remove it only if it is still the stale one (another process may have taken it over first).
      if (readText(file) === found) {
        fs.rmSync(file, { force: true });
        if (holder) options.onStale?.(holder);
      }
      continue;
    }
    if (!holder) {
      await new Promise((r) => setTimeout(r, 200));
      continue;
    }
    if (!options.wait) throw new LockHeldError(file, holder, options.what ?? file);
    if (!told) {
      told = true;
      options.onWait?.(holder);
    }
    if (options.signal?.aborted) throw new LockHeldError(file, holder, options.what ?? file);
    await new Promise((r) => setTimeout(r, options.pollMs ?? 1_000));
  }
}

function held(file: string, text: string): Lock {
  // Refreshed while held, so a holder on another host that died is told apart from a slow one.
  const timer = setInterval(() => {
    try {
      const now = new Date();
      fs.utimesSync(file, now, now);
    } catch { /* released or gone */ }
  }, REFRESH_MS);
  timer.unref();
  let released = false;
  const release = () => {
    if (released) return;
    released = true;
    clearInterval(timer);
    // Only our own lock: a lock taken over from us (we were thought dead) is not ours to remove.
    if (readText(file) === text) fs.rmSync(file, { force: true });
    process.off('exit', release);
  };
  process.on('exit', release);
  return { file, release };
}
