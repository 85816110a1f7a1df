/** What every command needs to know about the project it runs in. */
import fs from 'node:fs';
import path from 'node:path';
import { loadManifest, loadPlugin, loadProjectConfig, type ProjectConfig, type ResolvedPlan } from '@synthmix/core';

export interface Project {
  root: string;
  config: ProjectConfig;
  /** Content-addressed cache (datasets, generator states). */
  cacheDir: string;
  /** The embedded MLflow server's store. */
  mlflowDir: string;
}

/** The folder of the project config, else the nearest folder with a package.json, else cwd. */
export async function findProject(cwd: string, env: NodeJS.ProcessEnv = process.env): Promise<Project> {
  const config = await loadProjectConfig(cwd);
  let root = config.filepath ? path.dirname(config.filepath) : undefined;
  if (!root) {
    for (let dir = cwd; ; dir = path.dirname(dir)) {
      if (fs.existsSync(path.join(dir, 'package.json'))) {
        root = dir;
        break;
      }
      if (path.dirname(dir) === dir) break;
    }
  }
  root ??= cwd;
  const state = env.SYNTHMIX_HOME ? path.resolve(env.SYNTHMIX_HOME) : path.join(root, '.synthmix');
  return { root, config: { ...config, root }, cacheDir: path.join(state, 'cache'), mlflowDir: path.join(state, 'mlflow') };
}

/** Resolves a plugin reference to its options schema (for manifest validation). */
export function pluginSchemaFor(project: Project) {
  return async (ref: string, kind: 'generator' | 'classifier', dir: string) => (await loadPlugin(ref, kind, dir, project.config.plugins)).optionsSchema;
}

export async function loadPlan(file: string, project: Project, overrides: string[] = [], cwd = process.cwd()): Promise<ResolvedPlan> {
  return loadManifest(path.resolve(cwd, file), {
    cwd,
    overrides,
    config: project.config,
    projectRoot: project.root,
    pluginSchema: pluginSchemaFor(project),
  });
}
