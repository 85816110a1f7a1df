/**
 * Where a sweep's jobs run: the one resolution of the execution settings, in one documented order
 * — command-line flag, then the manifest's `execution`, then (for the Ray address) the standard
 * RAY_ADDRESS variable, then the project config's `execution`, then the defaults (inline, one
 * worker, one retry).
 */
import { UserError } from './errors.js';
import type { ResolvedPlan } from './manifest.js';
import type { ProjectConfig } from './config.js';

/** Where jobs run (manifest `execution` or project config `execution`). */
export interface ExecutionSettings {
  executor?: string;
  workers?: number;
  address?: string;
  cpusPerJob?: number;
  gpusPerJob?: number;
  memoryPerJobMb?: number;
  retries?: number;
}

/** Execution settings with defaults applied; see execution.ts for the resolution order. */
export interface ResolvedExecution {
  executor: string;
  /** Jobs at once (local: worker processes; ray: jobs submitted at once). */
  workers: number;
  /** Ray dashboard address (Jobs API). */
  address?: string;
  cpusPerJob?: number;
  gpusPerJob: number;
  memoryPerJobMb?: number;
  /** Further attempts of a failed job. */
  retries: number;
  /** CUDA devices on this machine (filled in at run time, for the local executor). */
  cudaDevices?: number;
  /** Ray: how long the cluster may not answer before the sweep gives up (tests shorten it). */
  unreachableTimeoutMs?: number;
  pollIntervalMs?: number;
}

/** One ratio × seed training run. */

export interface ExecutionFlags {
  executor?: string;
  workers?: string | number;
  rayAddress?: string;
}

/** Where a sweep's jobs run, for a plan and the command line (flags and RAY_ADDRESS). */
export function resolveExecution(plan: Pick<ResolvedPlan, 'manifest'>, config: Pick<ProjectConfig, 'execution'>, env: NodeJS.ProcessEnv, flags: ExecutionFlags = {}): ResolvedExecution {
  return resolveExecutionSettings(plan.manifest.execution, config.execution, env, flags);
}

/**
 * The one merge of execution settings: flags over the manifest over RAY_ADDRESS (the address
 * only) over the project config over the defaults. A plan is resolved without flags and
 * environment (plan.json); `synthmix run` resolves it again with them.
 */
export function resolveExecutionSettings(fromManifest: ExecutionSettings | undefined, fromConfig: ExecutionSettings | undefined, env: NodeJS.ProcessEnv = {}, flags: ExecutionFlags = {}): ResolvedExecution {
  const manifest: ExecutionSettings = fromManifest ?? {};
  const project: ExecutionSettings = fromConfig ?? {};
  const pick = <K extends keyof ExecutionSettings>(k: K) => manifest[k] ?? project[k];
  let workers = pick('workers') ?? 1;
  if (flags.workers !== undefined) {
    workers = Number(flags.workers);
    if (!Number.isInteger(workers) || workers < 1) throw new UserError(`--workers: expected a whole number of at least 1, found "${flags.workers}"`);
  }
  const executor = flags.executor ?? pick('executor') ?? 'inline';
  if (!['inline', 'local', 'ray'].includes(executor)) throw new UserError(`--executor: expected inline, local or ray, found "${executor}"`);
  const address = flags.rayAddress ?? manifest.address ?? (env.RAY_ADDRESS || undefined) ?? project.address;
  return {
    executor,
    workers: executor === 'inline' ? 1 : workers,
    address,
    cpusPerJob: pick('cpusPerJob'),
    gpusPerJob: pick('gpusPerJob') ?? 0,
    memoryPerJobMb: pick('memoryPerJobMb'),
    retries: pick('retries') ?? 1,
  };
}
