/**
 * The `local` executor: N worker processes on this machine (`execution.workers`), each running
 * `synthmix worker <job>`. With GPUs, each worker slot gets its own device through
 * CUDA_VISIBLE_DEVICES; on CPUs, the cores are shared out between the workers.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import { sweepLayout } from '../layout.js';
import { followJsonLines, logTail, readOutcome, type ExecutorFactory, type JobOutcome } from './executor.js';
import type { SweepEventInput } from '../events.js';

/** Which CUDA device a worker slot uses: slots take the devices in turn. */
export function deviceForSlot(slot: number, deviceCount: number): string | undefined {
  return deviceCount > 0 ? String(slot % deviceCount) : undefined;
}

/** TensorFlow threads per worker: the job's CPUs when set, else the cores shared out. */
export function threadsPerWorker(cores: number, workers: number, cpusPerJob?: number): number {
  return Math.max(1, Math.floor(cpusPerJob ?? cores / workers));
}

/** The environment a worker process starts with. */
export function workerEnv(base: NodeJS.ProcessEnv, slot: number, opts: { cores: number; workers: number; cpusPerJob?: number; gpusPerJob: number; cudaDevices: number }): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { ...base };
  const threads = String(threadsPerWorker(opts.cores, opts.workers, opts.cpusPerJob));
  env.TF_NUM_INTRAOP_THREADS = threads;
  env.TF_NUM_INTEROP_THREADS = threads;
  env.OMP_NUM_THREADS = threads;
  const device = opts.gpusPerJob > 0 ? deviceForSlot(slot, opts.cudaDevices) : undefined;
  // Without a GPU for this job, hide them all, so two workers never share one by accident.
  env.CUDA_VISIBLE_DEVICES = device ?? (opts.gpusPerJob > 0 ? base.CUDA_VISIBLE_DEVICES : '');
  if (env.CUDA_VISIBLE_DEVICES === undefined) delete env.CUDA_VISIBLE_DEVICES;
  return env;
}

export const localExecutor: ExecutorFactory = (ctx) => {
  const { execution } = ctx;
  const command = ctx.workerCommand;
  if (!command?.length) throw new Error('the local executor needs the `synthmix worker` command');
  const workers = execution.workers;
  const free = Array.from({ length: workers }, (_, i) => i);
  const running = new Set<ReturnType<typeof spawn>>();
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  return {
    name: 'local',
    slots: workers,
    description: `local (${workers} worker process${workers === 1 ? '' : 'es'})`,
    async start() {},
    async run(job, attempt, hooks): Promise<JobOutcome> {
      const layout = sweepLayout(job.outputDir);
      const slot = free.shift() ?? 0;
      const files = { events: layout.jobEvents(job.id, attempt), outcome: layout.jobOutcome(job.id, attempt), log: layout.jobLog(job.id, attempt) };
      for (const f of Object.values(files)) fs.rmSync(f, { force: true });
      const follower = followJsonLines(files.events, (e) => hooks.onEvent(e as SweepEventInput));
      const log = fs.openSync(files.log, 'w');
      const child = spawn(command[0], [...command.slice(1), layout.jobFile(job.id), '--attempt', String(attempt)], {
        env: workerEnv(ctx.env ?? process.env, slot, { cores, workers, cpusPerJob: execution.cpusPerJob, gpusPerJob: execution.gpusPerJob, cudaDevices: execution.cudaDevices ?? 0 }),
        stdio: ['ignore', log, log],
      });
      running.add(child);
      const stop = () => child.kill('SIGTERM');
      hooks.signal.addEventListener('abort', stop);
      try {
        const exit = await new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve) => {
          child.on('exit', (code, signal) => resolve({ code, signal }));
          child.on('error', (err) => {
            fs.appendFileSync(files.log, `${err.message}\n`);
            resolve({ code: 127, signal: null });
          });
        });
        follower.stop();
        if (hooks.signal.aborted) return { status: 'interrupted' };
        const outcome = readOutcome(files.outcome);
        if (outcome) return outcome;
        const how = exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`;
        const tail = logTail(files.log);
        return { status: 'failed', error: `worker process ${how} before finishing${tail ? `; its last output:\n${tail}` : ''}` };
      } finally {
        follower.stop();
        fs.closeSync(log);
        hooks.signal.removeEventListener('abort', stop);
        running.delete(child);
        free.push(slot);
        free.sort((a, b) => a - b);
      }
    },
    async close() {
      for (const child of running) child.kill('SIGTERM');
    },
  };
};
