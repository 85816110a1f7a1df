import fs from 'node:fs';
import path from 'node:path';
import { ensureEmbeddedServer, MlflowClient, MlflowTracker, spoolPaths } from '@synthmix/tracking';
import { EXIT, UsageError, type Command } from '../command.js';
import { findProject } from '../project.js';
import { cliClientOptions, refusedSummary, trackingUri } from '../tracking.js';
import { acquireLock, describeHolder, readJsonFile, sweepLayout, type ResolvedPlan } from '@synthmix/core';

export const sync: Command = {
  name: 'sync',
  brief: 'Replay spooled MLflow calls',
  summary: 'Replay the MLflow calls spooled in a sweep\'s output folder (after the server was unreachable or not installed).',
  args: [{ name: 'sweep-dir', description: 'Output folder of a sweep (runs/<name>)', required: true }],
  options: { 'tracking-uri': { type: 'string', valueName: 'url', description: 'Server to replay to (default: configured, else the local one)' } },
  async run({ args, options, io }) {
    const dir = path.resolve(io.cwd, args[0]);
    const spool = spoolPaths(dir);
    if (!fs.existsSync(spool.ops)) throw new UsageError(`no MLflow spool in ${dir} (expected ${path.relative(io.cwd, spool.ops)})`);
    const project = await findProject(io.cwd, io.env);
    const planFile = sweepLayout(dir).plan;
    const plan = fs.existsSync(planFile) ? readJsonFile<ResolvedPlan>(planFile) : undefined;
    const uri = trackingUri(plan, project, io.env, options['tracking-uri'] as string | undefined) ?? (await ensureEmbeddedServer(project.root, project.mlflowDir)).url;
    const experimentName = io.env.MLFLOW_EXPERIMENT_NAME ?? plan?.tracking.experiment ?? path.basename(dir);
    // A run still going in this folder owns its spool; replaying beside it would race it.
    const lock = await acquireLock(sweepLayout(dir).lock, { what: `the output folder ${dir}`, onStale: (h) => io.stderr.write(`took over the output folder ${dir} from ${describeHolder(h)}, which is no longer running\n`) });
    try {
      const tracker = new MlflowTracker({ client: new MlflowClient(cliClientOptions(io.env, uri)), outputDir: dir, experimentName, onNotice: (n) => io.stderr.write(`${n}\n`) });
      const before = tracker.pending;
      const left = await tracker.flush(120_000);
      io.stdout.write(`replayed ${before - left} of ${before} spooled call(s) to ${uri}${left ? `; ${left} left (server unreachable?)` : ''}\n`);
      if (tracker.refused.length) {
        io.stderr.write(`${refusedSummary(tracker.refused, dir)}\n`);
        return EXIT.tracking;
      }
      return left ? EXIT.failed : EXIT.ok;
    } finally {
      lock.release();
    }
  },
};
