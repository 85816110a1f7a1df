/** Chooses where a run is tracked: a configured server, the embedded one, or the spool alone. */
import path from 'node:path';
import type { ResolvedPlan, SweepTracker } from '@synthmix/core';
import { ensureEmbeddedServer, MlflowClient, MlflowNotInstalledError, MlflowTracker, optionsFromEnv, type RefusedCall } from '@synthmix/tracking';
import type { IO } from './command.js';
import type { Project } from './project.js';

export interface Tracking {
  /** Behind the tracker seam: the run command only hands it events. */
  tracker?: SweepTracker;
  url?: string;
  notes: string[];
}

export type TrackingUriSource = 'flag' | 'environment' | 'manifest' | 'project config';

/**
 * Where every command logs and replays: the one resolution of the tracking URI, in one documented
 * order — the --tracking-uri flag, MLFLOW_TRACKING_URI, the manifest's tracking.uri, the project
 * config's trackingUri; none of these means the embedded server.
 */
export function resolveTrackingUri(project: Project, env: NodeJS.ProcessEnv, plan?: Pick<ResolvedPlan, 'manifest'>, flag?: string): { uri: string; source: TrackingUriSource } | undefined {
  if (flag) return { uri: flag, source: 'flag' };
  if (env.MLFLOW_TRACKING_URI) return { uri: env.MLFLOW_TRACKING_URI, source: 'environment' };
  const fromManifest = plan?.manifest.tracking?.uri;
  if (fromManifest) return { uri: fromManifest, source: 'manifest' };
  if (project.config.trackingUri) return { uri: project.config.trackingUri, source: 'project config' };
  return undefined;
}

export function trackingUri(plan: Pick<ResolvedPlan, 'manifest'> | undefined, project: Project, env: NodeJS.ProcessEnv, flag?: string): string | undefined {
  return resolveTrackingUri(project, env, plan, flag)?.uri;
}

export async function setupTracking(plan: ResolvedPlan, project: Project, io: IO, onNotice: (message: string) => void = (n) => io.stderr.write(`${n}\n`), flag?: string): Promise<Tracking> {
  if (!plan.tracking.enabled) return { notes: [] };
  const experimentName = io.env.MLFLOW_EXPERIMENT_NAME ?? plan.tracking.experiment;
  const notes: string[] = [];
  let uri = trackingUri(plan, project, io.env, flag);
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
  const client = new MlflowClient(cliClientOptions(io.env, uri));
  const tracker = new MlflowTracker({ client, outputDir: plan.outputDir, experimentName, onNotice });
  return { tracker, url: uri, notes };
}

/**
 * The client every command uses: the Python client's variables when set, else retries tuned for a
 * sweep that must not stall on a flaky network — 5 retries per call, 0.25 s doubling, up to 0.25 s
 * jitter (≈ 8 s before a call counts as failed; the tracker then keeps retrying it from the spool).
 */
export function cliClientOptions(env: NodeJS.ProcessEnv, uri: string) {
  const fromEnv = optionsFromEnv(env, uri)!;
  return { ...fromEnv, maxRetries: fromEnv.maxRetries ?? 5, backoffFactor: fromEnv.backoffFactor ?? 0.25, backoffJitter: fromEnv.backoffJitter ?? 0.25 };
}

/** What MLflow refused, where, and how to replay it: printed at the end of a run or a sync. */
export function refusedSummary(refused: readonly RefusedCall[], outputDir: string): string {
  const byServer = new Map<string, RefusedCall[]>();
  for (const r of refused) byServer.set(r.server, [...(byServer.get(r.server) ?? []), r]);
  const lines = [`MLflow refused ${refused.length} call(s); they are not logged there but kept in ${outputDir}/mlflow/spool.jsonl:`];
  for (const [server, calls] of byServer) {
    lines.push(`  ${server}: ${calls.length} call(s)`);
    for (const c of calls.slice(0, 5)) lines.push(`    ${c.op} ${c.run}: ${c.error.split('\n')[0]}`);
    if (calls.length > 5) lines.push(`    … and ${calls.length - 5} more`);
  }
  lines.push(`Replay them to a server with: synthmix sync ${outputDir} --tracking-uri <url>`);
  return lines.join('\n');
}
