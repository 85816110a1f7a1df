/** The `inline` executor: every job in the sweep's own process, one at a time (the default). */
import type { ExecutorFactory } from './executor.js';

export const inlineExecutor: ExecutorFactory = (ctx) => {
  const runInline = ctx.runInline;
  if (!runInline) throw new Error('the inline executor needs the runner to run jobs in this process');
  return {
    name: 'inline',
    slots: 1,
    description: 'inline (this process)',
    async start() {},
    run: (job, _attempt, hooks) => runInline(job, hooks),
    async close() {},
  };
};
