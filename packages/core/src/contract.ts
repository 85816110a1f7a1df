/**
 * The plugin contracts of synthmix: the only file a third-party generator or classifier needs.
 *
 * A plugin module's default export is a factory returning a plain object (Vite style):
 *
 * ```ts
 * import type { GeneratorPlugin } from '@synthmix/core';
 * export default function myDiffusion(): GeneratorPlugin { return { name: 'acme:diffusion', ... }; }
 * ```
 *
 * Images cross the contract as {@link ImageSet}: NHWC float32 in [-1, 1], the same range and
 * shape as preprocessed real images, so real and synthetic data are interchangeable.
 */
import type * as tfjs from '@tensorflow/tfjs';

/** The TensorFlow.js namespace of the selected backend (tfjs-node, tfjs-node-gpu or pure JS). */
export type TF = typeof tfjs;

/** A JSON Schema (draft 2020-12 or draft-07 subset understood by ajv). */
export type JsonSchema = Record<string, unknown>;

import type { ImageSet } from '@synthmix/data';

export type { ImageSet };

/** Where a synthetic image came from, so every run can be traced to a generator state. */
export interface Provenance {
  plugin: string;
  pluginVersion: string;
  seed: number;
  /** Content hash of the generator state that produced the images. */
  stateHash: string;
  /** Free-form details such as the epoch of the checkpoint or the sampler's step count. */
  details?: Record<string, string | number | boolean>;
}

/** Progress of one unit of work (an epoch of a GAN, a block of diffusion steps, a classifier epoch). */
export interface Progress {
  /** 1-based index of the unit just finished. */
  step: number;
  /** Total number of units, when known. */
  total?: number;
  /** What a unit is, for display: `epoch`, `step`, … */
  unit?: string;
  /** Optional sub-task, e.g. the class a per-class GAN is training on. */
  label?: string;
  /** Scalar metrics of this unit (losses, accuracies); they are logged with `step` as the step. */
  metrics?: Record<string, number>;
}

/** What the runner hands every plugin call. Plugins never print: they report through here. */
export interface PluginContext {
  /** TensorFlow.js of the selected backend. Plugins must use this one, never import their own. */
  tf: TF;
  /** Seed of this run; derive every random choice from it so runs are reproducible. */
  seed: number;
  /** Seeded uniform random numbers in [0, 1). */
  random(): number;
  /** Aborted when the user stops the sweep; check it between epochs and stop cleanly. */
  signal: AbortSignal;
  /**
   * A folder owned by this call. For a generator it holds its state and checkpoints and is the
   * unit the runner caches; a plugin that finds a checkpoint here must resume from it.
   */
  workDir: string;
  /**
   * Reports progress after a unit of work; the runner turns it into events and metrics.
   * Await it: it yields to the event loop, so the dashboard redraws, the tracker sends, and a
   * stop request (the `signal`) arrives while a long training loop runs.
   */
  progress(progress: Progress): Promise<void>;
  /** Logs a scalar metric (a step defaults to 0). */
  metric(name: string, value: number, step?: number): void;
  /**
   * Registers a file the plugin wrote (sample grid, checkpoint, model) for tracking and reports.
   * `folder` is where it goes among the run's artifacts (e.g. `samples/tumor`; default the top).
   */
  artifact(path: string, description?: string, folder?: string): void;
  /** Raises a warning (e.g. mode collapse), shown in the UI and logged by the tracker. */
  warn(message: string): void;
  /**
   * Generator `train` only, for plugins with `snapshots: true`: keep the generator's state after
   * each of these epochs, so `generate` can be asked for it (`GenerateRequest.epoch`).
   */
  snapshotEpochs?: number[];
  /**
   * How to run training steps (manifest or config `compile`, `--compile`): `auto` compiles them
   * into TensorFlow graphs where possible (with @synthmix/compile), warns where not, and takes
   * the fastest of compiled, compiled + XLA and eager per step on this machine (measured once,
   * remembered in `choices`); `on` compiles and fails where it cannot, `off` runs them op by op.
   * Absent means `auto`. Plugins hand it to their `Compiler` as it is (`{ ...ctx.compile, owner }`).
   */
  compile?: CompileContext;
}

/** See {@link PluginContext.compile}. */
export interface CompileSettings {
  mode: 'auto' | 'on' | 'off';
  /** XLA inside compiled steps: true always, false never; absent, `auto` measures whether it is faster. */
  xla?: boolean;
}

/** One step's path as `auto` took it (the fields of @synthmix/compile's `StepChoice`). */
export interface CompilePathChoice {
  owner: string;
  step: string;
  /** The inputs' dtypes and shapes. */
  shape: string;
  path: 'compiled' | 'xla' | 'eager';
  /** Median milliseconds a step took on each path measured. */
  msPerStep: Partial<Record<'compiled' | 'xla' | 'eager', number>>;
  machine: string;
  /** From the choice file (measured by an earlier run on this machine). */
  remembered: boolean;
}

/** The compile settings as a plugin gets them: the plan's, where choices are kept, and who is told. */
export interface CompileContext extends CompileSettings {
  /** The file where `auto` remembers the fastest path per machine and step (the cache's). */
  choices?: string;
  /** A step whose compiled call is quicker than this (ms; default 50) is not measured: it stays compiled. */
  trialFromMs?: number;
  /** Before `auto` times a step's paths (a few steps each, XLA's compilation included). */
  measuring?(what: { owner: string; step: string; shape: string; paths: ('compiled' | 'xla' | 'eager')[] }): void;
  /** When `auto` took a path for a step, measured or remembered. */
  chosen?(choice: CompilePathChoice): void;
}

interface PluginBase {
  /** Namespaced, unique name: `synthmix:dcgan`, `acme:ddpm`. */
  name: string;
  /** Semantic version; part of cache keys, so bump it when outputs change. */
  version: string;
  /** One line for `synthmix plugins`. */
  description?: string;
  /**
   * JSON Schema of `options`. The runner validates the manifest's options against it (with
   * `default`s filled in) before any work starts, and errors point at the manifest line.
   */
  optionsSchema: JsonSchema;
  /** What the plugin logs, so reports and the dashboard can show it without knowing the plugin. */
  logs?: PluginLogs;
}

/** What a plugin logs through `ctx.progress` and `ctx.artifact`. */
export interface PluginLogs {
  /**
   * Progress metrics that are losses, drawn in the report's loss figure and the dashboard's
   * sparklines: exact names, or patterns with `*` (`*_d_loss` matches `tumor_d_loss`).
   * Default: every metric whose name ends in `loss`.
   */
  losses?: string[];
  /** Artifact folders holding sample grids, one per class: `samples/{class}` (the default), `{class}` being `safeFileName(className)`. */
  sampleGrids?: string;
}

/** Whether a metric name is one of the plugin's losses. */
export function isLossMetric(name: string, logs?: PluginLogs): boolean {
  const patterns = logs?.losses;
  if (!patterns?.length) return /loss$/.test(name);
  return patterns.some((p) => new RegExp(`^${p.split('*').map((x) => x.replace(/[.+?^${}()|[\]\\]/g, '\\$&')).join('.*')}$`).test(name));
}

/** What a generator is asked for after training. */
export interface GenerateRequest {
  /** How many images per class. */
  countPerClass: number;
  /** Class names in label order, as in the real training set. */
  classNames: string[];
  /** Shape the images must have (same as the real ones). */
  height: number;
  width: number;
  channels: number;
  /** Generate from the snapshot after this epoch instead of the trained state (plugins with `snapshots: true`). */
  epoch?: number;
}

/** A trained generator's output. */
export interface GeneratedSet extends ImageSet {
  provenance: Provenance;
}

/**
 * A generative model (GAN, diffusion, …) that learns from real images and produces synthetic ones.
 *
 * The runner calls `train` once per seed (or skips it on a cache hit) and `generate` once per
 * seed; the synthetic pool is reused by every ratio of that seed.
 */
export interface GeneratorPlugin<Options = Record<string, unknown>> extends PluginBase {
  kind: 'generator';
  /**
   * Whether the plugin keeps snapshots of earlier epochs (`ctx.snapshotEpochs`) and generates
   * from them (`GenerateRequest.epoch`): what a manifest's `generator.checkpoints` needs.
   */
  snapshots?: boolean;
  /**
   * Learns from `real` (never the test set). Writes everything `generate` needs into
   * `ctx.workDir`; checkpoints there too, so an interrupted call resumes when called again with
   * the same folder.
   */
  train(real: ImageSet, options: Options, ctx: PluginContext): Promise<void>;
  /** Produces images from the state in `ctx.workDir`, deterministic for `ctx.seed`. */
  generate(request: GenerateRequest, options: Options, ctx: PluginContext): Promise<GeneratedSet>;
}

/** A classifier after `fit`. */
export interface TrainedClassifier {
  /** Class probabilities, row-major N × K (K = number of classes); rows sum to 1. */
  predict(images: ImageSet): Promise<Float32Array>;
  /**
   * Optional: feature vectors (e.g. the last hidden layer), row-major N × dim. With it, the
   * runner measures a Fréchet distance between real and synthetic images in the feature space of
   * the classifier trained on real data only (the 100:0 cell).
   */
  embed?(images: ImageSet): Promise<{ features: Float32Array; dim: number }>;
  /**
   * Optional: where the model looks (e.g. Grad-CAM on the last convolution) for `classIndex`, one
   * map per image at the image's size, row-major N × H × W, values in [0, 1]. With it, the report
   * shows heatmaps of the 100:0 and the most synthetic cell on the same real test images.
   */
  explain?(images: ImageSet, classIndex: number): Promise<Float32Array>;
  /** Saves the model so it can be reloaded (e.g. tfjs layers format); returns the folder. */
  save?(dir: string): Promise<string>;
  /** Frees tensors. */
  dispose(): void;
}

/** A classifier trained on each cell's mixed set and evaluated on the real test set. */
export interface ClassifierPlugin<Options = Record<string, unknown>> extends PluginBase {
  kind: 'classifier';
  /** Trains on `train`, monitoring `val`; reports per-epoch metrics through `ctx.progress`. */
  fit(train: ImageSet, val: ImageSet, options: Options, ctx: PluginContext): Promise<TrainedClassifier>;
  /** Optional: reloads what `TrainedClassifier.save` wrote (for `synthmix quality` and later analysis). */
  load?(dir: string, classes: number, tf: TF): Promise<TrainedClassifier>;
}

export type Plugin = GeneratorPlugin<never> | ClassifierPlugin<never>;

/** What a plugin module exports: a factory (preferred) or the plain object. */
export type PluginModule = { default: (() => Plugin) | Plugin };
