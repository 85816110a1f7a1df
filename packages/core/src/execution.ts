/**
 * Where a sweep's jobs run: the one resolution of the execution settings, in one documented order
 * — command-line flag, then the manifest's `execution`, then (for the Ray address) the standard
 * RAY_ADDRESS variable, then the project config's `execution`, then the defaults (inline, one
 * worker, one retry).
 */
import { UserError } from './errors.js';
import type { ExecutionSettings, ResolvedExecution, ResolvedPlan } from './manifest.js';
import type { ProjectConfig } from './config.js';

export interface ExecutionFlags {
  executor?: string;
  workers?: string | number;
  rayAddress?: string;
}

export function resolveExecution(plan: Pick<ResolvedPlan, 'manifest'>, config: Pick<ProjectConfig, 'execution'>, env: NodeJS.ProcessEnv, flags: ExecutionFlags = {}): ResolvedExecution {
  const manifest: ExecutionSettings = plan.manifest.execution ?? {};
  const project: ExecutionSettings = config.execution ?? {};
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
