import { ensureEmbeddedServer, MlflowClient, MlflowNotInstalledError } from '@synthmix/tracking';
import { EXIT, UsageError, type Command } from '../command.js';
import { findProject } from '../project.js';
import { trackingUri } from '../tracking.js';

export const mlflow: Command = {
  name: 'mlflow',
  brief: 'Start or find the MLflow UI (also: synthmix ui)',
  summary: 'Start (or find) the MLflow tracking server and print the address of its UI.',
  args: [],
  options: { 'tracking-uri': { type: 'string', valueName: 'url', description: 'MLflow server (else MLFLOW_TRACKING_URI, project config)' } },
  async run({ io, options }) {
    const project = await findProject(io.cwd, io.env);
    const uri = trackingUri(undefined, project, io.env, options['tracking-uri'] as string | undefined);
    if (uri) {
      const ok = await new MlflowClient({ trackingUri: uri }).health();
      io.stdout.write(`MLflow (configured): ${uri} ${ok ? 'is up' : 'does NOT answer'}\n`);
      return ok ? EXIT.ok : EXIT.failed;
    }
    try {
      const server = await ensureEmbeddedServer(project.root, project.mlflowDir);
      io.stdout.write(`MLflow UI: ${server.url} (${server.started ? 'started' : 'already running'}, pid ${server.pid}, store ${server.storeDir})\n`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof MlflowNotInstalledError) throw new UsageError(err.message);
      throw err;
    }
  },
};
