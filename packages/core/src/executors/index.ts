/** The executors synthmix knows by name. A new one is one file and one line here. */
import { UserError, didYouMean } from '../errors.js';
import type { Executor, ExecutorContext, ExecutorFactory } from './executor.js';
import { inlineExecutor } from './inline.js';
import { localExecutor } from './local.js';
import { rayExecutor } from './ray.js';

export const EXECUTORS: Record<string, ExecutorFactory> = {
  inline: inlineExecutor,
  local: localExecutor,
  ray: rayExecutor,
};

export function createExecutor(ctx: ExecutorContext): Executor {
  const factory = EXECUTORS[ctx.execution.executor];
  if (!factory) {
    const hint = didYouMean(ctx.execution.executor, Object.keys(EXECUTORS));
    throw new UserError(`unknown executor "${ctx.execution.executor}"; expected one of ${Object.keys(EXECUTORS).join(', ')}${hint ? ` (did you mean "${hint}"?)` : ''}`);
  }
  return factory(ctx);
}

export * from './executor.js';
export { deviceForSlot, threadsPerWorker, workerEnv } from './local.js';
export { normaliseRayAddress, RayJobsClient, RayUnreachableError, type RayClusterInfo } from './ray.js';
