import { ensureEmbeddedServer, MlflowClient, MlflowNotInstalledError, serverMemoryMb, stopEmbeddedServer } from '@synthmix/tracking';
import { EXIT, UsageError, type Command } from '../command.js';
import { findProject } from '../project.js';
import { trackingUri } from '../tracking.js';

export const mlflow: Command = {
  name: 'mlflow',
  brief: 'Start or find the MLflow UI (also: synthmix ui)',
  summary: 'Start (or find) the MLflow tracking server and print the address of its UI.',
  args: [],
  options: {
    'tracking-uri': { type: 'string', valueName: 'url', description: 'MLflow server (else MLFLOW_TRACKING_URI, project config)' },
    stop: { type: 'boolean', description: 'Stop the embedded server (it keeps running after a sweep)' },
  },
  async run({ io, options }) {
    const project = await findProject(io.cwd, io.env);
    if (options.stop) {
      const stopped = await stopEmbeddedServer(project.mlflowDir);
      io.stdout.write(stopped ? `Stopped the embedded MLflow server at ${stopped.url} (pid ${stopped.pid}); its store stays in ${project.mlflowDir}\n` : `No embedded MLflow server is running for ${project.mlflowDir}\n`);
      return EXIT.ok;
    }
    const uri = trackingUri(undefined, project, io.env, options['tracking-uri'] as string | undefined);
    if (uri) {
      const ok = await new MlflowClient({ trackingUri: uri }).health();
      io.stdout.write(`MLflow (configured): ${uri} ${ok ? 'is up' : 'does NOT answer'}\n`);
      return ok ? EXIT.ok : EXIT.failed;
    }
    try {
      const server = await ensureEmbeddedServer(project.root, project.mlflowDir);
      const memory = serverMemoryMb(server.pid);
      io.stdout.write(`MLflow UI: ${server.url} (${server.started ? 'started' : 'already running'}, pid ${server.pid}${memory ? `, ${memory.toFixed(0)} MiB resident` : ''}, store ${server.storeDir})\nStop it with: synthmix mlflow --stop\n`);
      return EXIT.ok;
    } catch (err) {
      if (err instanceof MlflowNotInstalledError) throw new UsageError(err.message);
      throw err;
    }
  },
};
