/**
 * Project configuration, found with cosmiconfig: `synthmix.config.{js,mjs,cjs,json,yaml}`,
 * `.synthmixrc`, `.synthmixrc.{json,yaml,yml,js}` or a `synthmix` key in package.json.
 */
import path from 'node:path';
import { cosmiconfig } from 'cosmiconfig';
import type { BackendRequest } from './backend.js';
import { manifestSchema, SchemaChecker } from './schema.js';
import type { ExecutionSettings } from './execution.js';
import { ManifestError } from './errors.js';

export interface ProjectConfig {
  /** Folder of the config file (or the search start when there is none). */
  root: string;
  /** The config file, when one was found. */
  filepath?: string;
  trackingUri?: string;
  /** Folders that relative dataset paths are also looked up in. */
  dataRoots?: string[];
  backend?: BackendRequest;
  /** Default output folder for sweeps, relative to `root`. */
  outputDir?: string;
  /** Extra plugin short names: `{ ddpm: "@acme/synthmix-ddpm" }` or paths relative to `root`. */
  plugins?: Record<string, string>;
  /** Where jobs run, unless the manifest says otherwise. */
  execution?: ExecutionSettings;
  /** Compiled training steps (auto, on, off) and XLA, unless the manifest says otherwise. */
  compile?: 'auto' | 'on' | 'off';
  xla?: boolean;
}

export const configSchema = {
  type: 'object',
  additionalProperties: false,
  properties: {
    trackingUri: { type: 'string' },
    dataRoots: { type: 'array', items: { type: 'string' } },
    backend: { enum: ['auto', 'gpu', 'tensorflow', 'cpu'] },
    outputDir: { type: 'string' },
    plugins: { type: 'object', additionalProperties: { type: 'string' } },
    execution: manifestSchema.definitions && (manifestSchema.definitions as Record<string, unknown>).execution,
    compile: (manifestSchema.properties as Record<string, unknown>).compile,
    xla: (manifestSchema.properties as Record<string, unknown>).xla,
  },
};

const checker = new SchemaChecker();

export async function loadProjectConfig(searchFrom: string = process.cwd()): Promise<ProjectConfig> {
  const explorer = cosmiconfig('synthmix', { stopDir: path.parse(searchFrom).root });
  const found = await explorer.search(searchFrom);
  if (!found || found.isEmpty) return { root: searchFrom };
  const shown = path.relative(process.cwd(), found.filepath) || found.filepath;
  const problems = checker.check(configSchema, found.config, () => shown);
  if (problems.length) throw new ManifestError(shown, problems);
  const root = path.dirname(found.filepath);
  const cfg = found.config as Omit<ProjectConfig, 'root' | 'filepath'>;
  return {
    ...cfg,
    root,
    filepath: found.filepath,
    dataRoots: cfg.dataRoots?.map((d) => path.resolve(root, d)),
    plugins: cfg.plugins && Object.fromEntries(Object.entries(cfg.plugins).map(([k, v]) => [k, v.startsWith('.') ? path.resolve(root, v) : v])),
  };
}
