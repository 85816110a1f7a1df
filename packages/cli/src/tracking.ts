/** Chooses where a run is tracked: a configured server, the embedded one, or the spool alone. */
import path from 'node:path';
import type { ResolvedPlan } from '@synthmix/core';
import { ensureEmbeddedServer, MlflowClient, MlflowNotInstalledError, MlflowTracker, optionsFromEnv } from '@synthmix/tracking';
import type { IO } from './command.js';
import type { Project } from './project.js';

export interface Tracking {
  tracker?: MlflowTracker;
  url?: string;
  notes: string[];
}

export function trackingUri(plan: Pick<ResolvedPlan, 'tracking'> | undefined, project: Project, env: NodeJS.ProcessEnv): string | undefined {
  return plan?.tracking.uri ?? env.MLFLOW_TRACKING_URI ?? project.config.trackingUri;
}

export async function setupTracking(plan: ResolvedPlan, project: Project, io: IO, onNotice: (message: string) => void = (n) => io.stderr.write(`${n}\n`)): Promise<Tracking> {
  if (!plan.tracking.enabled) return { notes: [] };
  const experimentName = io.env.MLFLOW_EXPERIMENT_NAME ?? plan.tracking.experiment;
  const notes: string[] = [];
  let uri = trackingUri(plan, project, io.env);
  if (!uri) {
    try {
      const server = await ensureEmbeddedServer(project.root, project.mlflowDir);
      uri = server.url;
      if (server.started) notes.push(`Started the local MLflow server at ${server.url} (store: ${path.relative(io.cwd, project.mlflowDir) || project.mlflowDir}); browse it later with \`synthmix mlflow\`.`);
    } catch (err) {
      if (!(err instanceof MlflowNotInstalledError)) throw err;
      notes.push(`${err.message}\nRuns are recorded locally in ${path.join(plan.outputDir, 'mlflow')}; after installing MLflow, replay them with: synthmix sync ${plan.outputDir}`);
      return { tracker: new MlflowTracker({ outputDir: plan.outputDir, experimentName }), notes };
    }
  }
  const client = new MlflowClient({ ...optionsFromEnv(io.env, uri)!, maxRetries: 2 });
  const tracker = new MlflowTracker({ client, outputDir: plan.outputDir, experimentName, onNotice });
  return { tracker, url: uri, notes };
}
