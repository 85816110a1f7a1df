/**
 * Manifest loading: parse (YAML with positions) → validate at one boundary → normalise into a
 * fully resolved {@link ResolvedPlan} that the rest of synthmix uses.
 */
import type { AnalysisSettings } from './answer.js';
import { defaultGeneratorData, planDesign, type Design, type DesignMode, type GeneratorData, type GeneratorPlan } from './design.js';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { isMap, LineCounter, parseDocument } from 'yaml';
import { locator, manifestSchema, SchemaChecker, sortByPosition } from './schema.js';
import { parseOverride } from './overrides.js';
import { resolveExecutionSettings, type ExecutionSettings, type ResolvedExecution } from './execution.js';
import type { CompileSettings, JsonSchema } from './contract.js';
import { didYouMean, ManifestError, UserError, type Diagnostic } from './errors.js';
import type { ProjectConfig } from './config.js';
import type { BackendRequest } from './backend.js';


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
  const count = (n: number, noun: string) => `${n} ${noun}${n === 1 ? '' : 's'}`;
  const sizes = d && d.sizes.length > 1 ? `${d.sizes.length} sizes × ` : '';
  const base = `${sizes}${d?.mode === 'augment' ? count(d.multiples.length, 'multiple') : count(plan.ratios.length, 'ratio')} × ${count(plan.seeds.length, 'seed')}`;
  const fromSnapshots = plan.cells.filter((c) => c.generatorEpoch !== undefined).length;
  return fromSnapshots ? `${base} + ${fromSnapshots} from generator epochs ${plan.generator.checkpoints!.join(', ')}` : base;
}

export const COMPILE_MODES = ['auto', 'on', 'off'] as const;

/**
 * The compile settings of a sweep: the command line's `--compile` / `--xla`, else the
 * manifest's `compile` / `xla`, else the project config's, else `auto` with XLA left to it.
 */
export function resolveCompile(m: Pick<Manifest, 'compile' | 'xla'>, config?: Pick<ProjectConfig, 'compile' | 'xla'>, flags: { compile?: string; xla?: boolean } = {}): CompileSettings {
  if (flags.compile !== undefined && !(COMPILE_MODES as readonly string[]).includes(flags.compile)) {
    throw new UserError(`--compile ${flags.compile}: expected one of ${COMPILE_MODES.join(', ')}`);
  }
  const xla = flags.xla ?? m.xla ?? config?.xla;
  return { mode: (flags.compile as CompileSettings['mode'] | undefined) ?? m.compile ?? config?.compile ?? 'auto', ...(xla === undefined ? {} : { xla }) };
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
    execution: resolveExecutionSettings(m.execution, options.config?.execution),
    cells,
  } satisfies Omit<ResolvedPlan, 'manifestFile' | 'manifestText' | 'manifestHash' | 'manifest'>;
  // Where jobs run does not change results, so it is not part of the sweep's identity.
  // Nor does compiling (eager and compiled steps agree within float32 rounding; tested per model).
  const manifestHash = createHash('sha256').update(JSON.stringify({ ...m, execution: undefined, compile: undefined, xla: undefined })).digest('hex');
  return { manifestFile: file, manifestText: text, manifestHash, manifest: m, ...resolved };
}


export { MANIFEST_SCHEMA_PATH, manifestSchema, SchemaChecker } from './schema.js';
export { parseOverride, type Override } from './overrides.js';
export { COMPARISON_SCHEMA_PATH, isComparison, loadComparison, type ComparisonPlan } from './comparison.js';
export type { ExecutionSettings, ResolvedExecution } from './execution.js';
