/**
 * Child processes for the end-to-end tests, awaited instead of run with spawnSync: a test that
 * blocks its vitest worker for longer than vitest's fixed 60 s RPC timeout fails the whole run
 * ("Timeout calling onTaskUpdate") even when every test passes.
 */
import { spawn, type SpawnOptions } from 'node:child_process';

export interface Finished {
  status: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/**
 * Runs `command` to its end (killed after `timeout` ms), like spawnSync but without blocking;
 * `onStderr` is told the standard error so far whenever more arrives.
 */
export function runProcess(command: string, args: string[], options: SpawnOptions & { timeout?: number; onStderr?: (stderr: string) => void } = {}): Promise<Finished> {
  const { timeout, onStderr, ...spawnOptions } = options;
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { ...spawnOptions, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout!.setEncoding('utf8').on('data', (d: string) => (stdout += d));
    child.stderr!.setEncoding('utf8').on('data', (d: string) => {
      stderr += d;
      onStderr?.(stderr);
    });
    const timer = timeout ? setTimeout(() => child.kill('SIGKILL'), timeout) : undefined;
    child.on('error', reject);
    child.on('close', (status, signal) => {
      if (timer) clearTimeout(timer);
      resolve({ status, signal, stdout, stderr });
    });
  });
}
