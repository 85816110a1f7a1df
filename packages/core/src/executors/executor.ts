/**
 * The execution seam: an executor runs one job (a serialisable {@link JobDescription}) and
 * reports its events back; the runner schedules, retries and records. A new executor (Slurm job
 * arrays, Kubernetes jobs) is one file exporting an {@link ExecutorFactory}, registered in
 * ./index.ts; nothing else changes.
 */
import fs from 'node:fs';
import type { SweepEventInput } from '../events.js';
import type { JobDescription } from '../jobs.js';
import type { ResolvedExecution } from '../manifest.js';

/** What one attempt of a job came to. */
export type JobOutcome =
  | { status: 'succeeded' }
  | { status: 'failed'; error: string }
  | { status: 'interrupted' };

export interface ExecutorRunHooks {
  /** Events of the job (generator progress, metrics, artifacts, warnings), in order. */
  onEvent(event: SweepEventInput): void;
  /** Aborted when the user stops the sweep: stop the job (on the cluster too) and resolve. */
  signal: AbortSignal;
}

export interface Executor {
  /** `inline`, `local`, `ray`, … */
  readonly name: string;
  /** How many jobs may run at once. */
  readonly slots: number;
  /** One line for the dashboard and logs: `ray at http://127.0.0.1:8265 (Ray 2.60.0)`. */
  readonly description: string;
  /** Checks the executor can run jobs (cluster reachable); throws {@link ExecutorUnavailableError}. */
  start(): Promise<void>;
  /**
   * Runs one attempt of a job. Resolves with its outcome; throws {@link ExecutorUnavailableError}
   * only when no further job can run (the cluster went away).
   */
  run(job: JobDescription, attempt: number, hooks: ExecutorRunHooks): Promise<JobOutcome>;
  /** Frees what the executor holds (worker processes, connections). */
  close(): Promise<void>;
}

/** What an executor factory gets: the plan's execution settings and how to start a worker. */
export interface ExecutorContext {
  execution: ResolvedExecution;
  /** argv of `synthmix worker` (e.g. [node, cli.js, 'worker']); the job file is appended. */
  workerCommand?: string[];
  /** Environment of worker processes. */
  env?: NodeJS.ProcessEnv;
  /** Runs a job in this process (the inline executor); supplied by the runner. */
  runInline?: (job: JobDescription, hooks: ExecutorRunHooks) => Promise<JobOutcome>;
}

export type ExecutorFactory = (ctx: ExecutorContext) => Executor;

/** The executor can run no more jobs: the cluster is unreachable or refused to run them. */
export class ExecutorUnavailableError extends Error {}

/** Paths an out-of-process attempt reports through (on the shared sweep folder). */
export interface AttemptFiles {
  events: string;
  outcome: string;
}

/** Reads the outcome a worker wrote, if it got that far. */
export function readOutcome(file: string): JobOutcome | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as JobOutcome;
  } catch {
    return undefined;
  }
}

/** The last lines of a worker's log, for a failure message. */
export function logTail(file: string, lines = 8): string {
  try {
    return fs.readFileSync(file, 'utf8').trimEnd().split('\n').slice(-lines).join('\n');
  } catch {
    return '';
  }
}

/**
 * Follows a JSON Lines file another process appends to: every complete line is parsed and handed
 * on, in order. `stop()` reads what is left and stops following.
 */
export function followJsonLines(file: string, onValue: (value: unknown) => void, intervalMs = 150): { stop(): void } {
  let offset = 0;
  let rest = '';
  const read = () => {
    let fd: number;
    try {
      fd = fs.openSync(file, 'r');
    } catch {
      return;
    }
    try {
      const size = fs.fstatSync(fd).size;
      if (size <= offset) return;
      const buffer = Buffer.alloc(size - offset);
      fs.readSync(fd, buffer, 0, buffer.length, offset);
      offset = size;
      const lines = (rest + buffer.toString('utf8')).split('\n');
      rest = lines.pop() ?? '';
      for (const line of lines) {
        if (!line.trim()) continue;
        let value: unknown;
        try {
          value = JSON.parse(line);
        } catch {
          continue; // a line torn when its writer died (appendLine closes it off): not an event
        }
        onValue(value);
      }
    } finally {
      fs.closeSync(fd);
    }
  };
  const timer = setInterval(read, intervalMs);
  return {
    stop() {
      clearInterval(timer);
      read();
    },
  };
}
