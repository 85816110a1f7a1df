/**
 * Manifest loading: parse (YAML with positions) → validate at one boundary → normalise into a
 * fully resolved {@link ResolvedPlan} that the rest of synthmix uses.
 */
import type { AnalysisSettings } from './answer.js';
import { defaultGeneratorData, planDesign, type Design, type DesignMode, type GeneratorData, type GeneratorPlan } from './design.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import { isMap, isPair, isScalar, LineCounter, parseDocument, type Document, type Node } from 'yaml';
import type { CompileSettings, JsonSchema } from './contract.js';
import { didYouMean, ManifestError, UserError, type Diagnostic } from './errors.js';
import type { ProjectConfig } from './config.js';
import type { BackendRequest } from './backend.js';

export const MANIFEST_SCHEMA_PATH = fileURLToPath(new URL('../schema/manifest.schema.json', import.meta.url));
export const manifestSchema: JsonSchema = JSON.parse(fs.readFileSync(MANIFEST_SCHEMA_PATH, 'utf8'));

/** The manifest as written (after defaults), i.e. what the JSON Schema describes. */
export interface Manifest {
  $schema?: string;
  name: string;
  description?: string;
  seeds: number[];
  backend?: BackendRequest;
  compile?: CompileSettings['mode'];
  xla?: boolean;
  analysis?: { metric?: AnalysisSettings['metric']; margin?: number };
  dataset: {
    source: 'folder' | 'phantom';
    path?: string;
    classes: Record<string, string>;
    positiveClass?: string;
    phantomPerClass: number;
    imageSize: number;
    channels: 1 | 3;
    testPerClass: number;
    validationFraction: number;
    leakageGuard: { enabled: boolean; maxHammingDistance: number };
    strict: boolean;
    maxPixels: number;
  };
  generator: { plugin: string; options: Record<string, unknown>; checkpoints?: number[] };
  classifier: { plugin: string; options: Record<string, unknown> };
  ratios: number[] | { from: number; to: number; step: number };
  mode?: DesignMode;
  trainingSetSize: number | number[];
  syntheticPerReal?: number[] | { from: number; to: number; step: number };
  generatorData?: GeneratorData;
  generatorBudget?: Design['generatorBudget'];
  syntheticPerClass?: number;
  tracking: { enabled: boolean; experiment?: string; uri?: string };
  output?: string;
  execution?: ExecutionSettings;
}

/** Where jobs run (manifest `execution` or project config `execution`). */
export interface ExecutionSettings {
  executor?: string;
  workers?: number;
  address?: string;
  cpusPerJob?: number;
  gpusPerJob?: number;
  memoryPerJobMb?: number;
  retries?: number;
}

/** Execution settings with defaults applied; see execution.ts for the resolution order. */
export interface ResolvedExecution {
  executor: string;
  /** Jobs at once (local: worker processes; ray: jobs submitted at once). */
  workers: number;
  /** Ray dashboard address (Jobs API). */
  address?: string;
  cpusPerJob?: number;
  gpusPerJob: number;
  memoryPerJobMb?: number;
  /** Further attempts of a failed job. */
  retries: number;
  /** CUDA devices on this machine (filled in at run time, for the local executor). */
  cudaDevices?: number;
  /** Ray: how long the cluster may not answer before the sweep gives up (tests shorten it). */
  unreachableTimeoutMs?: number;
  pollIntervalMs?: number;
}

/** One ratio × seed training run. */
export interface CellPlan {
  /** Stable identifier and readable run name: `real900-synth100-seed1`. */
  id: string;
  ratio: number;
  seed: number;
  /** Per class. */
  realPerClass: number;
  syntheticPerClass: number;
  /** Per class, of real + synthetic. */
  trainPerClass: number;
  valPerClass: number;
  /** The generator epoch whose snapshot made the synthetic images (absent: the trained generator). */
  generatorEpoch?: number;
  /** The size factor: images per cell (replace) or real images per cell (augment), all classes. */
  trainingSetSize?: number;
  /** `augment`: real images kept, synthetic added to the training split (absent: replace). */
  mode?: DesignMode;
  /** Augment: synthetic training images per real training image. */
  syntheticPerReal?: number;
  /** The generator job whose images the cell uses, when a size has its own (absent: `generator-seed<s>`). */
  generator?: string;
}

/** The dataset section with classes in label order, the positive class as an index, the path absolute. */
export type ResolvedDataset = Omit<Manifest['dataset'], 'classes' | 'positiveClass'> & {
  classes: { name: string; folder: string }[];
  positiveClass: number;
};

/** Everything a sweep needs, with every default applied and every path absolute. */
export interface ResolvedPlan {
  manifestFile: string;
  manifestText: string;
  /** sha256 of the resolved manifest (after overrides and defaults). */
  manifestHash: string;
  manifest: Manifest;
  name: string;
  description: string;
  seeds: number[];
  backend: BackendRequest;
  /** How plugins run training steps (see {@link resolveCompile}); the command line may change it. */
  compile: CompileSettings;
  dataset: ResolvedDataset;
  /** Where jobs run; the command line may still change it (it does not change results). */
  execution: ResolvedExecution;
  /** `checkpoints`: generator epochs whose snapshots get cells of their own (GAN-epoch ablation). */
  generator: { plugin: string; options: Record<string, unknown>; checkpoints?: number[] };
  classifier: { plugin: string; options: Record<string, unknown> };
  ratios: number[];
  /** The largest training-set size (the only one, unless the manifest gives a list). */
  trainingSetSize: number;
  /** The design's factors (design.ts): mode, sizes, ratios or multiples, generator data. */
  design: Design;
  /** The generators the cells need, one per seed or one per seed and size. */
  generators: GeneratorPlan[];
  /** How the answer is stated (answer.ts). */
  analysis: AnalysisSettings;
  syntheticPerClass: number;
  tracking: { enabled: boolean; experiment: string; uri?: string };
  outputDir: string;
  cells: CellPlan[];
}

/**
 * How a plan's cells come about, for people: `11 ratios × 3 seeds`, plus the generator-epoch
 * ablation's cells when there are any (`+ 60 from generator epochs 60, 150`).
 */
export function cellsInWords(plan: Pick<ResolvedPlan, 'ratios' | 'seeds' | 'cells' | 'generator'> & { design?: Design }): string {
  const d = plan.design;
  const sizes = d && d.sizes.length > 1 ? `${d.sizes.length} sizes × ` : '';
  const base = d?.mode === 'augment' ? `${sizes}${d.multiples.length} multiples × ${plan.seeds.length} seeds` : `${sizes}${plan.ratios.length} ratios × ${plan.seeds.length} seeds`;
  const fromSnapshots = plan.cells.filter((c) => c.generatorEpoch !== undefined).length;
  return fromSnapshots ? `${base} + ${fromSnapshots} from generator epochs ${plan.generator.checkpoints!.join(', ')}` : base;
}

export const COMPILE_MODES = ['auto', 'on', 'off'] as const;

/**
 * The compile settings of a sweep: the command line's `--compile` / `--xla`, else the
 * manifest's `compile` / `xla`, else the project config's, else `auto` without XLA.
 */
export function resolveCompile(m: Pick<Manifest, 'compile' | 'xla'>, config?: Pick<ProjectConfig, 'compile' | 'xla'>, flags: { compile?: string; xla?: boolean } = {}): CompileSettings {
  if (flags.compile !== undefined && !(COMPILE_MODES as readonly string[]).includes(flags.compile)) {
    throw new UserError(`--compile ${flags.compile}: expected one of ${COMPILE_MODES.join(', ')}`);
  }
  return { mode: (flags.compile as CompileSettings['mode'] | undefined) ?? m.compile ?? config?.compile ?? 'auto', xla: flags.xla ?? m.xla ?? config?.xla ?? false };
}

/** A `--set key=value` override. */
export interface Override {
  path: string[];
  value: unknown;
  text: string;
}

export function parseOverride(text: string): Override {
  const eq = text.indexOf('=');
  if (eq <= 0) throw new UserError(`--set ${text}: expected key=value, e.g. --set generator.options.epochs=5`);
  const key = text.slice(0, eq).trim();
  const raw = text.slice(eq + 1);
  const doc = parseDocument(raw);
  const value = doc.errors.length ? raw : doc.toJS();
  return { path: key.split('.'), value, text };
}

// ---------------------------------------------------------------------------------------------
// Validation with positions

/** Validates `value` against `schema` and turns ajv's errors into located, plain diagnostics. */
export class SchemaChecker {
  private readonly ajv = new Ajv({ allErrors: true, useDefaults: true, verbose: true, strict: false });
  private readonly cache = new WeakMap<object, ValidateFunction>();

  check(schema: JsonSchema, value: unknown, locate: (path: string[], key?: string) => string, prefix: string[] = []): Diagnostic[] {
    let validate = this.cache.get(schema);
    if (!validate) {
      validate = this.ajv.compile(schema);
      this.cache.set(schema, validate);
    }
    if (validate(value)) return [];
    return describeErrors(validate.errors ?? []).map(({ path: p, key, message }) => {
      const full = [...prefix, ...p];
      return { where: locate(full, key), path: [...full, ...(key ? [key] : [])].join('.'), message };
    });
  }
}

function describeValue(v: unknown): string {
  if (v === null || v === undefined) return 'nothing';
  if (typeof v === 'string') return JSON.stringify(v);
  if (Array.isArray(v)) return 'a list';
  if (typeof v === 'object') return 'a mapping';
  return `${typeof v} ${String(v)}`;
}

function expectedType(t: unknown): string {
  const list = Array.isArray(t) ? t : [t];
  const words: Record<string, string> = { integer: 'a whole number', number: 'a number', string: 'text', boolean: 'true or false', array: 'a list', object: 'a mapping' };
  return list.map((x) => words[String(x)] ?? String(x)).join(' or ');
}

function splitPointer(p: string): string[] {
  return p === '' ? [] : p.slice(1).split('/').map((s) => s.replace(/~1/g, '/').replace(/~0/g, '~'));
}

function describeErrors(errors: ErrorObject[]): { path: string[]; key?: string; message: string }[] {
  // A failed oneOf reports every branch's errors too; the oneOf's own line says it better.
  const oneOfPaths = errors.filter((e) => e.keyword === 'oneOf').map((e) => e.instancePath);
  const kept = errors.filter((e) => e.keyword === 'oneOf' || !oneOfPaths.some((p) => e.instancePath.startsWith(p) && e.schemaPath.includes('/oneOf/')));
  const out: { path: string[]; key?: string; message: string }[] = [];
  const seen = new Set<string>();
  for (const e of kept) {
    const p = splitPointer(e.instancePath);
    const params = e.params as Record<string, unknown>;
    let item: { path: string[]; key?: string; message: string };
    switch (e.keyword) {
      case 'required':
        item = { path: p, key: String(params.missingProperty), message: 'is required but missing' };
        break;
      case 'additionalProperties': {
        const key = String(params.additionalProperty);
        const known = Object.keys((e.parentSchema as { properties?: object })?.properties ?? {});
        const hint = didYouMean(key, known);
        item = { path: p, key, message: `unknown key "${key}"${hint ? `; did you mean "${hint}"?` : known.length ? `; expected one of ${known.join(', ')}` : ''}` };
        break;
      }
      case 'type':
        item = { path: p, message: `expected ${expectedType(params.type)}, found ${describeValue(e.data)}` };
        break;
      case 'enum': {
        const allowed = (params.allowedValues as unknown[]).map(String);
        const hint = typeof e.data === 'string' ? didYouMean(e.data, allowed) : undefined;
        item = { path: p, message: `expected one of ${allowed.join(', ')}, found ${describeValue(e.data)}${hint ? `; did you mean "${hint}"?` : ''}` };
        break;
      }
      case 'minimum': case 'maximum': case 'exclusiveMinimum': case 'exclusiveMaximum': {
        const op = { minimum: '≥', maximum: '≤', exclusiveMinimum: '>', exclusiveMaximum: '<' }[e.keyword];
        item = { path: p, message: `expected a number ${op} ${params.limit}, found ${describeValue(e.data)}` };
        break;
      }
      case 'minItems': item = { path: p, message: `expected at least ${params.limit} item(s), found ${(e.data as unknown[]).length}` }; break;
      case 'uniqueItems': item = { path: p, message: `items ${params.j} and ${params.i} are the same; each must appear once` }; break;
      case 'minProperties': item = { path: p, message: `expected at least ${params.limit} entries, found ${Object.keys(e.data as object).length}` }; break;
      case 'minLength': item = { path: p, message: 'must not be empty' }; break;
      case 'pattern': {
        // A property name's pattern is reported by its propertyNames error below.
        if ((e as { propertyName?: string }).propertyName !== undefined) continue;
        const described = (e.parentSchema as { description?: string })?.description;
        item = { path: p, message: described ? `expected ${described}, found ${describeValue(e.data)}` : `expected text matching ${params.pattern}, found ${describeValue(e.data)}` };
        break;
      }
      case 'propertyNames': {
        const name = String(params.propertyName);
        const rule = ((e.parentSchema as { propertyNames?: { description?: string } })?.propertyNames?.description) ?? 'a safe name';
        item = { path: p, key: name, message: `name ${JSON.stringify(name)} is not allowed: expected ${rule}` };
        break;
      }
      case 'oneOf': item = { path: p, message: `expected ${describeOneOf(e.parentSchema)}, found ${describeValue(e.data)}` }; break;
      default: item = { path: p, message: `${e.message ?? 'is invalid'}` };
    }
    const id = `${item.path.join('.')}|${item.key}|${item.message}`;
    if (!seen.has(id)) {
      seen.add(id);
      out.push(item);
    }
  }
  return out;
}

function describeOneOf(schema: unknown): string {
  const branches = ((schema as { oneOf?: Record<string, unknown>[] })?.oneOf ?? []).map((b) => {
    if (b.type === 'array') return 'a list';
    if (b.type === 'object' && b.required) return `{${(b.required as string[]).join(', ')}}`;
    return expectedType(b.type);
  });
  return branches.join(' or ');
}

/** Maps a manifest path to `file:line:col` using the YAML document's node ranges. */
function locator(file: string, doc: Document, lines: LineCounter, overrides: Override[]) {
  return (p: string[], key?: string): string => {
    const full = key ? [...p, key] : p;
    const override = overrides.find((o) => o.path.length <= full.length && o.path.every((s, i) => s === full[i]));
    if (override) return `--set ${override.text}`;
    // Walk down to the deepest node that exists; for a bad key, point at the key itself.
    let node: unknown = doc.contents;
    let at: number | undefined = (doc.contents as Node | null)?.range?.[0];
    for (const segment of full) {
      if (!isMap(node) && !(node && typeof node === 'object' && 'items' in node)) break;
      const items = (node as { items: unknown[] }).items;
      const pair = isMap(node) ? items.find((it) => isPair(it) && isScalar(it.key) && String(it.key.value) === segment) : items[Number(segment)];
      if (!pair) break;
      if (isPair(pair)) {
        const target = segment === key && full[full.length - 1] === segment ? pair.key : pair.value;
        at = (target as Node | null)?.range?.[0] ?? (pair.key as Node).range?.[0] ?? at;
        node = pair.value;
      } else {
        at = (pair as Node).range?.[0] ?? at;
        node = pair;
      }
    }
    const pos = at === undefined ? { line: 1, col: 1 } : lines.linePos(at);
    return `${file}:${pos.line}:${pos.col}`;
  };
}

// ---------------------------------------------------------------------------------------------
// Loading

export interface LoadOptions {
  overrides?: string[];
  config?: ProjectConfig;
  /** Resolves a plugin reference to its options schema and kind; errors become diagnostics. */
  pluginSchema?: (ref: string, kind: 'generator' | 'classifier', manifestDir: string) => Promise<JsonSchema>;
  /** Base for a relative `output`; default: the directory holding the project config, else cwd. */
  projectRoot?: string;
  /** Error messages show the file relative to this folder (default: the process's cwd). */
  cwd?: string;
}

const checker = new SchemaChecker();

/** Reads, validates and resolves a manifest. Throws {@link ManifestError} with every problem found. */
export async function loadManifest(file: string, options: LoadOptions = {}): Promise<ResolvedPlan> {
  const shown = path.relative(options.cwd ?? process.cwd(), file) || file;
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (err) {
    throw new UserError(`${shown}: cannot read manifest (${(err as NodeJS.ErrnoException).code ?? String(err)})`);
  }
  return resolveManifestText(text, file, options);
}

export async function resolveManifestText(text: string, file: string, options: LoadOptions = {}): Promise<ResolvedPlan> {
  const shown = path.relative(options.cwd ?? process.cwd(), file) || file;
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines, prettyErrors: false, uniqueKeys: true });
  if (doc.errors.length) {
    throw new ManifestError(shown, doc.errors.map((e) => {
      const pos = lines.linePos(e.pos[0]);
      return { where: `${shown}:${pos.line}:${pos.col}`, path: '', message: `YAML syntax: ${e.message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '')}` };
    }));
  }
  const overrides = (options.overrides ?? []).map(parseOverride);
  for (const o of overrides) {
    if (!isMap(doc.contents) && doc.contents !== null) break;
    doc.setIn(o.path, doc.createNode(o.value));
  }
  let data;
  try {
    data = doc.toJS({ maxAliasCount: 100 }) ?? {};
  } catch (err) {
    // A document whose aliases expand exponentially (a "billion laughs" bomb) is refused, not expanded.
    const at = text.search(/\*[A-Za-z0-9_-]+/);
    const pos = lines.linePos(Math.max(0, at));
    throw new ManifestError(shown, [{ where: `${shown}:${pos.line}:${pos.col}`, path: '', message: `YAML aliases expand too much (${(err as Error).message.split('\n')[0].replace(/\.$/, '')}); write the values out` }]);
  }
  const locate = locator(shown, doc, lines, overrides);
  // Which design keys were written, before the schema fills in defaults (ratios has one).
  const diagnostics = [...ratioChecks(data as Partial<Manifest>, locate), ...designChecks(data as Partial<Manifest>, locate)];
  // A ratio outside [0, 1] is said once, precisely; the schema's oneOf would only say "found a list".
  diagnostics.push(...checker.check(manifestSchema, data, locate).filter((d) => !(diagnostics.length && d.path.startsWith('ratios'))));
  const shapeOk = diagnostics.length === 0;
  const manifest = data as Manifest;

  // Plugin options are checked against each plugin's own schema, with the same positions.
  const manifestDir = path.dirname(path.resolve(file));
  for (const kind of ['generator', 'classifier'] as const) {
    if (!options.pluginSchema) break;
    // Plugin options are checked even when the rest has errors, so every problem shows at once.
    if (typeof manifest[kind]?.plugin !== 'string' || (manifest[kind].options !== undefined && (typeof manifest[kind].options !== 'object' || manifest[kind].options === null))) continue;
    try {
      const schema = await options.pluginSchema(manifest[kind].plugin, kind, manifestDir);
      manifest[kind].options ??= {};
      diagnostics.push(...checker.check(schema, manifest[kind].options, locate, [kind, 'options']));
    } catch (err) {
      if (!(err instanceof UserError)) throw err;
      diagnostics.push({ where: locate([kind, 'plugin']), path: `${kind}.plugin`, message: err.message });
    }
  }
  if (shapeOk) diagnostics.push(...semanticChecks(manifest, locate, manifestDir, options.config), ...outputChecks(manifest, locate, options));
  if (diagnostics.length) throw new ManifestError(shown, sortByPosition(diagnostics));
  return normalise(manifest, text, path.resolve(file), options);
}

/** The keys of one design only: ratios for replace, syntheticPerReal (required) for augment. */
function designChecks(m: Partial<Manifest>, locate: (p: string[], key?: string) => string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (p: string[], message: string) => out.push({ where: locate(p), path: p.join('.'), message });
  if (m.mode === 'augment') {
    if (m.ratios !== undefined) at(['ratios'], 'ratios are the synthetic fractions of mode replace; in mode augment give syntheticPerReal (synthetic images added per real one)');
    if (m.syntheticPerReal === undefined) at(['mode'], 'mode augment needs syntheticPerReal: synthetic images added per real training image, e.g. [0, 0.5, 1, 2, 4]');
  } else if (m.syntheticPerReal !== undefined) {
    at(['syntheticPerReal'], `syntheticPerReal is for mode augment (synthetic images added to the real ones); ${m.mode === undefined ? 'mode is replace by default' : 'mode is replace'}, where ratios say what share of the real images is replaced`);
  }
  return out;
}

/** Every synthetic fraction must lie in [0, 1]: say which value is not. */
function ratioChecks(m: Partial<Manifest>, locate: (p: string[], key?: string) => string): Diagnostic[] {
  const out: Diagnostic[] = [];
  const check = (value: unknown, p: string[]) => {
    if (typeof value === 'number' && (value < 0 || value > 1)) out.push({ where: locate(p), path: p.join('.'), message: `a synthetic fraction must be between 0 and 1, found ${value}` });
  };
  const r = m.ratios as unknown;
  if (Array.isArray(r)) r.forEach((v, i) => check(v, ['ratios', String(i)]));
  else if (r && typeof r === 'object') for (const k of ['from', 'to'] as const) check((r as Record<string, unknown>)[k], ['ratios', k]);
  return out;
}

/** The output folder must be a folder (or not exist yet): not a file, nor inside one. */
function outputChecks(m: Manifest, locate: (p: string[], key?: string) => string, options: LoadOptions): Diagnostic[] {
  const projectRoot = options.projectRoot ?? options.config?.root ?? process.cwd();
  const dir = path.resolve(projectRoot, m.output ?? path.join(options.config?.outputDir ?? 'runs', m.name));
  for (let d = dir; ; d = path.dirname(d)) {
    if (fs.existsSync(d)) {
      if (fs.statSync(d).isDirectory()) return [];
      const where = m.output !== undefined ? locate(['output']) : options.config?.filepath ? `${options.config.filepath}: outputDir` : locate(['name']);
      return [{ where, path: 'output', message: d === dir ? `the output folder ${dir} is a file` : `the output folder ${dir} is inside ${d}, which is a file` }];
    }
    if (path.dirname(d) === d) return [];
  }
}

/** File positions in reading order; `--set` overrides after them. */
function sortByPosition(diagnostics: Diagnostic[]): Diagnostic[] {
  const key = (d: Diagnostic) => {
    const m = d.where.match(/:(\d+):(\d+)$/);
    return m ? Number(m[1]) * 1e6 + Number(m[2]) : Infinity;
  };
  return diagnostics.map((d, i) => ({ d, i })).sort((a, b) => key(a.d) - key(b.d) || a.i - b.i).map(({ d }) => d);
}

function expandRatios(r: Manifest['ratios']): number[] {
  return expandGrid(r);
}

/** A list as given, or {from, to, step} without floating-point drift. */
function expandGrid(r: number[] | { from: number; to: number; step: number }): number[] {
  if (Array.isArray(r)) return r;
  const n = Math.round((r.to - r.from) / r.step);
  // Rounding to 1e-9 keeps 0.1 * 3 from becoming 0.30000000000000004 in run names and keys.
  return Array.from({ length: n + 1 }, (_, i) => Math.round((r.from + i * r.step) * 1e9) / 1e9).filter((x) => x <= r.to + 1e-9);
}

function resolveDataPath(p: string, manifestDir: string, config?: ProjectConfig): string {
  if (path.isAbsolute(p)) return p;
  const candidates = [path.resolve(manifestDir, p), ...(config?.dataRoots ?? []).map((root) => path.resolve(root, p))];
  return candidates.find((c) => fs.existsSync(c)) ?? candidates[0];
}

function semanticChecks(m: Manifest, locate: (p: string[], key?: string) => string, manifestDir: string, config?: ProjectConfig): Diagnostic[] {
  const out: Diagnostic[] = [];
  const at = (p: string[], message: string) => out.push({ where: locate(p), path: p.join('.'), message });
  const classNames = Object.keys(m.dataset.classes);
  const k = classNames.length;
  if (m.dataset.source === 'folder') {
    if (!m.dataset.path) at(['dataset'], 'source is folder, so "path" is required');
    else {
      const abs = resolveDataPath(m.dataset.path, manifestDir, config);
      if (!fs.existsSync(abs)) at(['dataset', 'path'], `folder not found: ${abs}`);
      else {
        for (const [name, folder] of Object.entries(m.dataset.classes)) {
          if (!fs.existsSync(path.join(abs, folder))) {
            const present = fs.readdirSync(abs, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name);
            const hint = didYouMean(folder, present);
            at(['dataset', 'classes', name], `sub-folder "${folder}" not found in ${abs}${hint ? `; did you mean "${hint}"?` : present.length ? `; it has ${present.join(', ')}` : ''}`);
          }
        }
      }
    }
  }
  if (m.dataset.positiveClass !== undefined && !classNames.includes(m.dataset.positiveClass)) {
    const hint = didYouMean(m.dataset.positiveClass, classNames);
    at(['dataset', 'positiveClass'], `expected one of ${classNames.join(', ')}, found "${m.dataset.positiveClass}"${hint ? `; did you mean "${hint}"?` : ''}`);
  }
  const sizes = Array.isArray(m.trainingSetSize) ? m.trainingSetSize : [m.trainingSetSize];
  sizes.forEach((size, i) => {
    if (size % k !== 0) at(Array.isArray(m.trainingSetSize) ? ['trainingSetSize', String(i)] : ['trainingSetSize'], `must divide evenly into ${k} classes for a class-balanced set, found ${size}`);
  });
  // The largest size a class can fill: its images less the test set. Phantom counts are known
  // here; a folder's usable images (decodable, after the leakage guard's groups) are only known
  // once it is loaded, and the run refuses then, with the same exit code.
  const tightest = m.dataset.source === 'phantom' ? { name: classNames[0], left: m.dataset.phantomPerClass - m.dataset.testPerClass } : undefined;
  sizes.forEach((size, i) => {
    // Replace cells use up to the whole size in real images (100:0); augment cells all of it.
    if (tightest && size / k > tightest.left) at(Array.isArray(m.trainingSetSize) ? ['trainingSetSize', String(i)] : ['trainingSetSize'], `${size} images need ${size / k} real images per class, but each class has ${Math.max(0, tightest.left)} outside the test set (${m.dataset.testPerClass} per class); the largest size is ${Math.max(0, tightest.left) * k}`);
  });
  if (m.syntheticPerReal && !Array.isArray(m.syntheticPerReal) && m.syntheticPerReal.from > m.syntheticPerReal.to) at(['syntheticPerReal', 'from'], `from (${m.syntheticPerReal.from}) is larger than to (${m.syntheticPerReal.to})`);
  if (!Array.isArray(m.ratios) && m.ratios.from > m.ratios.to) at(['ratios', 'from'], `from (${m.ratios.from}) is larger than to (${m.ratios.to})`);
  if (m.dataset.source === 'phantom' && m.dataset.phantomPerClass <= m.dataset.testPerClass) {
    at(['dataset', 'phantomPerClass'], `must exceed testPerClass (${m.dataset.testPerClass}) so real training images remain, found ${m.dataset.phantomPerClass}`);
  }
  return out;
}

/** Manifest settings over project-config settings over defaults (inline, one worker, one retry). */
export function mergeExecution(manifest: ExecutionSettings | undefined, config: ExecutionSettings | undefined): ResolvedExecution {
  const pick = <K extends keyof ExecutionSettings>(k: K) => manifest?.[k] ?? config?.[k];
  return {
    executor: pick('executor') ?? 'inline',
    workers: pick('workers') ?? 1,
    address: pick('address'),
    cpusPerJob: pick('cpusPerJob'),
    gpusPerJob: pick('gpusPerJob') ?? 0,
    memoryPerJobMb: pick('memoryPerJobMb'),
    retries: pick('retries') ?? 1,
  };
}

function normalise(m: Manifest, text: string, file: string, options: LoadOptions): ResolvedPlan {
  const classes = Object.entries(m.dataset.classes).map(([name, folder]) => ({ name, folder }));
  const mode = m.mode ?? 'replace';
  const ratios = mode === 'replace' ? expandRatios(m.ratios) : [];
  const sizes = [...new Set(Array.isArray(m.trainingSetSize) ? m.trainingSetSize : [m.trainingSetSize])].sort((a, b) => a - b);
  const design: Design = {
    mode,
    sizes,
    ratios,
    multiples: m.syntheticPerReal ? expandGrid(m.syntheticPerReal) : [],
    seeds: m.seeds,
    checkpoints: [...(m.generator.checkpoints ?? [])].sort((a, b) => a - b),
    classes: classes.length,
    validationFraction: m.dataset.validationFraction,
    generatorData: m.generatorData ?? defaultGeneratorData(mode, sizes),
    generatorBudget: m.generatorBudget ?? 'steps',
    ...(typeof m.generator.options?.epochs === 'number' ? { generatorEpochs: m.generator.options.epochs } : {}),
  };
  const { cells, generators } = planDesign(design, m.syntheticPerClass);
  const projectRoot = options.projectRoot ?? options.config?.root ?? process.cwd();
  const outputBase = m.output ?? path.join(options.config?.outputDir ?? 'runs', m.name);
  const resolved = {
    name: m.name,
    description: m.description ?? '',
    seeds: m.seeds,
    backend: m.backend ?? options.config?.backend ?? 'auto',
    compile: resolveCompile(m, options.config),
    dataset: {
      source: m.dataset.source,
      path: m.dataset.path ? resolveDataPath(m.dataset.path, path.dirname(file), options.config) : undefined,
      classes,
      positiveClass: m.dataset.positiveClass ? classes.findIndex((c) => c.name === m.dataset.positiveClass) : 0,
      phantomPerClass: m.dataset.phantomPerClass,
      imageSize: m.dataset.imageSize,
      channels: m.dataset.channels,
      testPerClass: m.dataset.testPerClass,
      validationFraction: m.dataset.validationFraction,
      leakageGuard: m.dataset.leakageGuard,
      strict: m.dataset.strict,
      maxPixels: m.dataset.maxPixels,
    },
    generator: { plugin: m.generator.plugin, options: m.generator.options ?? {}, ...(m.generator.checkpoints ? { checkpoints: [...m.generator.checkpoints].sort((a, b) => a - b) } : {}) },
    classifier: { plugin: m.classifier.plugin, options: m.classifier.options ?? {} },
    ratios,
    trainingSetSize: sizes[sizes.length - 1],
    design,
    generators,
    syntheticPerClass: m.syntheticPerClass ?? Math.max(1, ...cells.map((c) => c.syntheticPerClass)),
    // No schema default, so an existing manifest keeps its hash (and its MLflow parent run).
    analysis: { metric: m.analysis?.metric ?? 'auc', margin: m.analysis?.margin ?? 0.01 },
    tracking: { enabled: m.tracking.enabled, experiment: m.tracking.experiment ?? m.name, uri: m.tracking.uri ?? options.config?.trackingUri },
    outputDir: path.resolve(projectRoot, outputBase),
    execution: mergeExecution(m.execution, options.config?.execution),
    cells,
  } satisfies Omit<ResolvedPlan, 'manifestFile' | 'manifestText' | 'manifestHash' | 'manifest'>;
  // Where jobs run does not change results, so it is not part of the sweep's identity.
  // Nor does compiling (eager and compiled steps agree within float32 rounding; tested per model).
  const manifestHash = createHash('sha256').update(JSON.stringify({ ...m, execution: undefined, compile: undefined, xla: undefined })).digest('hex');
  return { manifestFile: file, manifestText: text, manifestHash, manifest: m, ...resolved };
}

// ---------------------------------------------------------------------------------------------
// Comparison manifests: several sweeps reported together

export const COMPARISON_SCHEMA_PATH = fileURLToPath(new URL('../schema/comparison.schema.json', import.meta.url));
const comparisonSchema: JsonSchema = JSON.parse(fs.readFileSync(COMPARISON_SCHEMA_PATH, 'utf8'));

export interface ComparisonPlan {
  file: string;
  name: string;
  description: string;
  outputDir: string;
  sweeps: { label: string; plan: ResolvedPlan }[];
}

/** True when the YAML text is a comparison manifest (a top-level `compare` list). */
export function isComparison(text: string): boolean {
  const doc = parseDocument(text);
  return isMap(doc.contents) && doc.contents.has('compare');
}

export async function loadComparison(file: string, options: LoadOptions = {}): Promise<ComparisonPlan> {
  const shown = path.relative(options.cwd ?? process.cwd(), file) || file;
  const text = fs.readFileSync(file, 'utf8');
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  if (doc.errors.length) throw new ManifestError(shown, doc.errors.map((e) => ({ where: `${shown}:${lines.linePos(e.pos[0]).line}:${lines.linePos(e.pos[0]).col}`, path: '', message: `YAML syntax: ${e.message.split('\n')[0]}` })));
  const data = doc.toJS() as { name: string; description?: string; output?: string; compare: { label: string; manifest: string; set: string[] }[] };
  const locate = locator(shown, doc, lines, []);
  const problems = checker.check(comparisonSchema, data, locate);
  if (problems.length) throw new ManifestError(shown, problems);
  const sweeps: ComparisonPlan['sweeps'] = [];
  for (const [i, entry] of data.compare.entries()) {
    const sub = path.resolve(path.dirname(file), entry.manifest);
    if (!fs.existsSync(sub)) throw new ManifestError(shown, [{ where: locate(['compare', String(i), 'manifest']), path: `compare.${i}.manifest`, message: `file not found: ${sub}` }]);
    sweeps.push({ label: entry.label, plan: await loadManifest(sub, { ...options, overrides: [...(options.overrides ?? []), ...entry.set] }) });
  }
  const dirs = sweeps.map((s) => s.plan.outputDir);
  const clash = dirs.find((d, i) => dirs.indexOf(d) !== i);
  if (clash) throw new ManifestError(shown, [{ where: locate(['compare']), path: 'compare', message: `two sweeps write to ${clash}; give each its own name (e.g. set: [name=...]) or output` }]);
  const projectRoot = options.projectRoot ?? options.config?.root ?? process.cwd();
  return { file, name: data.name, description: data.description ?? '', outputDir: path.resolve(projectRoot, data.output ?? path.join(options.config?.outputDir ?? 'runs', data.name)), sweeps };
}
