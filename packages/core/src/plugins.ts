/**
 * Plugin loading: short name, package name or path → a checked plugin object.
 *
 * Three failures are kept apart because their fixes differ: the module is not installed, the
 * module threw while loading, and the module loaded but is not a valid plugin.
 */
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import type { ClassifierPlugin, GeneratorPlugin } from './contract.js';
import { didYouMean, UserError } from './errors.js';

/* eslint-disable @typescript-eslint/no-explicit-any -- options are checked against the plugin's schema at run time */
export type AnyGenerator = GeneratorPlugin<any>;
export type AnyClassifier = ClassifierPlugin<any>;
/* eslint-enable @typescript-eslint/no-explicit-any */
export type PluginKind = 'generator' | 'classifier';
export type PluginOf<K extends PluginKind> = K extends 'generator' ? AnyGenerator : AnyClassifier;

/** Short names of the plugins that ship with synthmix. */
export const BUILTIN_PLUGINS: Record<string, string> = {
  dcgan: '@synthmix/gan-dcgan',
  ddpm: '@synthmix/gen-ddpm',
  'cnn-tumor': '@synthmix/cnn-tumor',
};

export class PluginNotInstalledError extends UserError {}
export class PluginLoadError extends UserError {}
export class InvalidPluginError extends UserError {}

export interface PluginResolution {
  /** What the manifest said. */
  ref: string;
  /** Package name or absolute path that was imported. */
  specifier: string;
}

function isPath(ref: string): boolean {
  return ref.startsWith('.') || path.isAbsolute(ref);
}

export function resolvePluginRef(ref: string, baseDir: string, aliases: Record<string, string> = {}): PluginResolution {
  const table = { ...BUILTIN_PLUGINS, ...aliases };
  if (table[ref]) return { ref, specifier: isPath(table[ref]) ? path.resolve(baseDir, table[ref]) : table[ref] };
  if (isPath(ref)) return { ref, specifier: path.resolve(baseDir, ref) };
  return { ref, specifier: ref };
}

function missingModuleOf(err: unknown): string | undefined {
  const e = err as NodeJS.ErrnoException & { url?: string };
  if (e?.code !== 'ERR_MODULE_NOT_FOUND' && e?.code !== 'MODULE_NOT_FOUND' && !/^Failed to load url|Cannot find (module|package)/.test(e?.message ?? '')) return undefined;
  return e.message.match(/(?:package|module|url) '?"?([^'"\s]+)'?"?/i)?.[1];
}

async function importModule(res: PluginResolution, baseDir: string): Promise<unknown> {
  const notInstalled = () => {
    const hint = didYouMean(res.ref, Object.keys(BUILTIN_PLUGINS));
    return new PluginNotInstalledError(
      `plugin "${res.ref}" is not installed${isPath(res.specifier) ? ` (no file at ${res.specifier})` : ` (no package ${res.specifier})`}` +
      (hint ? `; did you mean "${hint}"?` : `; built-in plugins: ${Object.keys(BUILTIN_PLUGINS).join(', ')}`),
    );
  };
  let target = res.specifier;
  if (isPath(target)) {
    if (!fs.existsSync(target)) throw notInstalled();
    target = pathToFileURL(target).href;
  }
  try {
    return await import(target);
  } catch (err) {
    const missing = missingModuleOf(err);
    const isItself = missing !== undefined && (missing === res.specifier || missing.startsWith(`${res.specifier}/`) || target.includes(missing));
    if (!isItself && missing === undefined) throw new PluginLoadError(`plugin "${res.ref}" threw while loading: ${(err as Error).message.split('\n')[0]}`);
    if (!isItself) throw new PluginLoadError(`plugin "${res.ref}" threw while loading: it needs "${missing}", which is not installed`);
  }
  // Not resolvable from core: try the project's own node_modules.
  if (!isPath(res.specifier)) {
    try {
      const file = createRequire(path.join(baseDir, 'package.json')).resolve(res.specifier);
      return await import(pathToFileURL(file).href);
    } catch (err) {
      const missing = missingModuleOf(err);
      if (missing === undefined || !(missing === res.specifier || missing.includes(res.specifier))) {
        throw new PluginLoadError(`plugin "${res.ref}" threw while loading: ${(err as Error).message.split('\n')[0]}`);
      }
    }
  }
  throw notInstalled();
}

const REQUIRED: Record<PluginKind, string[]> = { generator: ['train', 'generate'], classifier: ['fit'] };

/** Checks a plugin object's shape; returns the problems, empty when valid. */
export function checkPluginShape(value: unknown, kind: PluginKind): string[] {
  if (!value || typeof value !== 'object') return [`the default export must be a plugin object or a factory returning one, found ${value === null ? 'null' : typeof value}`];
  const p = value as Record<string, unknown>;
  const problems: string[] = [];
  if (typeof p.name !== 'string' || !p.name) problems.push('missing `name`');
  if (typeof p.version !== 'string' || !p.version) problems.push('missing `version`');
  if (p.kind !== kind) problems.push(p.kind === 'generator' || p.kind === 'classifier' ? `it is a ${p.kind}, but a ${kind} is needed here` : `\`kind\` must be "${kind}"`);
  if (!p.optionsSchema || typeof p.optionsSchema !== 'object') problems.push('missing `optionsSchema`');
  if (p.kind === kind) for (const fn of REQUIRED[kind]) if (typeof p[fn] !== 'function') problems.push(`missing \`${fn}\``);
  return problems;
}

const cache = new Map<string, unknown>();

/** Loads and checks a plugin. */
export async function loadPlugin<K extends PluginKind>(ref: string, kind: K, baseDir: string, aliases: Record<string, string> = {}): Promise<PluginOf<K>> {
  const res = resolvePluginRef(ref, baseDir, aliases);
  const key = `${kind}:${res.specifier}`;
  if (cache.has(key)) return cache.get(key) as PluginOf<K>;
  const mod = (await importModule(res, baseDir)) as { default?: unknown };
  const exported = mod.default ?? mod;
  let plugin: unknown;
  try {
    plugin = typeof exported === 'function' ? (exported as () => unknown)() : exported;
  } catch (err) {
    throw new PluginLoadError(`plugin "${ref}" threw while loading: its factory failed: ${(err as Error).message}`);
  }
  const problems = checkPluginShape(plugin, kind);
  if (problems.length) throw new InvalidPluginError(`plugin "${ref}" is not a valid ${kind}: ${problems.join('; ')}`);
  cache.set(key, plugin);
  return plugin as PluginOf<K>;
}
