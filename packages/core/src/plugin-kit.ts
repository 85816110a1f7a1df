/**
 * Helpers for plugin authors: what every generator needs and none should write again — tensor
 * files for checkpoints, a folder per class, the per-class training loop, and TensorFlow's own
 * kernels where tfjs composes small ops.
 */
import fs from 'node:fs';
import path from 'node:path';
import { checkSeal, DamagedFileError, indicesByClass, readJsonFile, subset, writeJsonAtomic, writeSealed, type FileSeal, type ImageSet } from '@synthmix/data';
import { createHash } from 'node:crypto';
import type { GeneratedSet, GenerateRequest, PluginContext, TF } from './contract.js';

type Tensor = ReturnType<TF['tensor']>;
interface SavedTensor { name: string; shape: number[]; offset: number; length: number }
/** `<file>.json`: the tensors' layout and the seal of `<file>.bin`, checked on every load. */
interface SavedTensorsIndex { tensors: SavedTensor[]; bin: FileSeal }

/**
 * The one way a user-given name (a class, a cell) becomes part of a file, folder or MLflow artifact
 * path: letters, digits, `.`, `_` and `-` are kept, anything else becomes `_`, a leading dot is
 * escaped (so `.` and `..` never name a folder), and a name that had to change gets a short hash
 * of the original so two names never share a file. The manifest schema allows only names that
 * pass unchanged; this is the guard for everything else (plugins, data, old manifests).
 */
export function safeFileName(name: string): string {
  const kept = name.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\./, '_.').slice(0, 80);
  if (kept === name && name !== '') return name;
  return `${kept}-${createHash('sha256').update(name).digest('hex').slice(0, 8)}`;
}

/** The folder of one class's model inside a generator's work folder. */
export function classFolder(workDir: string, className: string): string {
  return path.join(workDir, safeFileName(className));
}

/**
 * Writes named tensors as `<file>.bin` (float32, concatenated) and `<file>.json` (names, shapes,
 * offsets, and the size and SHA-256 of the `.bin`). Each is written to a temporary name and
 * renamed, the index last, so a crash never leaves a pair that loads; a `.bin` damaged later is
 * refused by {@link loadTensors}.
 */
export async function saveTensors(file: string, named: { name: string; tensor: Tensor }[]): Promise<void> {
  const entries: SavedTensor[] = [];
  const chunks: Float32Array[] = [];
  let offset = 0;
  for (const { name, tensor } of named) {
    const data = (await tensor.data()) as Float32Array;
    entries.push({ name, shape: tensor.shape, offset, length: data.length });
    chunks.push(data);
    offset += data.length;
  }
  const all = new Float32Array(offset);
  chunks.reduce((at, c) => (all.set(c, at), at + c.length), 0);
  const bin = writeSealed(`${file}.bin`, new Uint8Array(all.buffer));
  writeJsonAtomic(`${file}.json`, { tensors: entries, bin } satisfies SavedTensorsIndex);
}

/**
 * Reads what {@link saveTensors} wrote; the caller owns (and disposes) the tensors. A file that
 * does not match its index throws a DamagedFileError naming it (the generator job then drops the
 * cache entry and trains again).
 */
export function loadTensors(tf: TF, file: string): { name: string; tensor: Tensor }[] {
  const index = readJsonFile<SavedTensorsIndex | SavedTensor[]>(`${file}.json`);
  if (!fs.existsSync(`${file}.bin`)) throw new DamagedFileError(`${file}.bin`, 'missing');
  const raw = fs.readFileSync(`${file}.bin`);
  // An index of an older synthmix has no seal: its size is still checked.
  const entries = Array.isArray(index) ? index : index.tensors;
  if (!Array.isArray(index)) checkSeal(`${file}.bin`, raw, index.bin);
  const expected = entries.reduce((n, e) => Math.max(n, e.offset + e.length), 0) * 4;
  if (raw.byteLength !== expected) throw new DamagedFileError(`${file}.bin`, `${raw.byteLength} bytes, expected ${expected}`);
  const all = new Float32Array(raw.buffer, raw.byteOffset, raw.byteLength / 4);
  return entries.map((e) => ({ name: e.name, tensor: tf.tensor(all.slice(e.offset, e.offset + e.length), e.shape) }));
}

/** Calls `train` once per class with that class's images and a label like `tumor (1/2)`. */
export async function trainPerClass(real: ImageSet, ctx: PluginContext, train: (images: ImageSet, className: string, label: string) => Promise<void>): Promise<void> {
  const byClass = indicesByClass(real);
  for (const [c, className] of real.classNames.entries()) {
    if (ctx.signal.aborted) return;
    await train(subset(real, byClass[c]), className, `${className} (${c + 1}/${real.classNames.length})`);
  }
}

/**
 * A plugin's version from its package.json (the one place it is kept), for the `version` that is
 * part of every cache key and provenance record. `moduleUrl` is the plugin's `import.meta.url`;
 * its package.json is one folder up (src/ or dist/ → the package). Bump it when what a set of
 * options trains changes.
 */
export function packageVersion(moduleUrl: string): string {
  return (JSON.parse(fs.readFileSync(new URL('../package.json', moduleUrl), 'utf8')) as { version: string }).version;
}

/**
 * Refuses snapshot epochs (`ctx.snapshotEpochs`, from `generator.checkpoints`) past the last
 * training epoch before any training starts, instead of failing at generation.
 */
export function checkSnapshotEpochs(ctx: PluginContext, epochs: number): void {
  const late = (ctx.snapshotEpochs ?? []).filter((e) => e > epochs);
  if (late.length) throw new Error(`generator.checkpoints ${late.join(', ')}: after the last epoch (${epochs}); snapshots must be within training`);
}

/** One class's trained model, opened for sampling by {@link generatePerClass}. */
export interface ClassSampler {
  /** Images `start … start + count − 1` of this class (deterministic in `start`), NHWC in [-1, 1]. */
  sample(start: number, count: number): Promise<Float32Array>;
  dispose(): void;
}

/**
 * The part of `generate` every per-class generator shares: for each class, check that training
 * finished (`stateFile` of saveTensors exists), hash it for provenance, sample in batches with
 * progress, and assemble labels, ids and the {@link GeneratedSet}.
 */
export async function generatePerClass(
  request: GenerateRequest,
  ctx: PluginContext,
  plugin: { name: string; version: string; details?: Record<string, string | number | boolean> },
  stateFile: (className: string) => string,
  open: (className: string) => ClassSampler,
  batch = 64,
): Promise<GeneratedSet> {
  const size = request.height * request.width * request.channels;
  const total = request.countPerClass * request.classNames.length;
  const images = new Float32Array(total * size);
  const labels = new Int32Array(total);
  const hash = createHash('sha256');
  for (const [c, className] of request.classNames.entries()) {
    const file = stateFile(className);
    if (!fs.existsSync(`${file}.json`)) throw new Error(`no trained model for class "${className}" in ${ctx.workDir}; train() did not finish`);
    hash.update(fs.readFileSync(`${file}.bin`));
    const sampler = open(className);
    try {
      for (let start = 0; start < request.countPerClass; start += batch) {
        const n = Math.min(batch, request.countPerClass - start);
        images.set(await sampler.sample(start, n), (c * request.countPerClass + start) * size);
        await ctx.progress({ step: start + n, total: request.countPerClass, unit: 'image', label: `sampling ${className}` });
      }
    } finally {
      sampler.dispose();
    }
    labels.fill(c, c * request.countPerClass, (c + 1) * request.countPerClass);
  }
  return {
    images, labels, count: total, height: request.height, width: request.width, channels: request.channels, classNames: request.classNames,
    ids: Array.from(labels, (l, i) => `synthetic:${request.classNames[l]}:${i % request.countPerClass}`),
    provenance: { plugin: plugin.name, pluginVersion: plugin.version, seed: ctx.seed, stateHash: hash.digest('hex').slice(0, 16), details: plugin.details },
  };
}

type Optimizer = ReturnType<TF['train']['adam']>;
type NamedTensor = { name: string; tensor: Tensor };
/** tfjs Adam keeps beta1^t and beta2^t in these (not part of getWeights()). */
type AdamAccumulators = { accBeta1?: ReturnType<TF['variable']>; accBeta2?: ReturnType<TF['variable']> };
const ACC_NAMES = ['__synthmix_accBeta1', '__synthmix_accBeta2'] as const;

/**
 * An optimizer's full state for a checkpoint. tfjs's Adam accumulates beta^t by repeated float32
 * multiplication while training, but its setWeights() recomputes it as pow(beta, t + 1), which
 * rounds differently, so a resumed run drifts from an uninterrupted one. The accumulators are
 * saved here too. Dispose the returned tensors' `iter` entry (getWeights makes it fresh).
 */
export async function optimizerState(optimizer: Optimizer): Promise<NamedTensor[]> {
  const weights = await optimizer.getWeights();
  const acc = optimizer as unknown as AdamAccumulators;
  if (acc.accBeta1 && acc.accBeta2) weights.push({ name: ACC_NAMES[0], tensor: acc.accBeta1.clone() }, { name: ACC_NAMES[1], tensor: acc.accBeta2.clone() });
  return weights;
}

/** Tensors of {@link optimizerState} that the caller must dispose after saving. */
export function ownedByOptimizerState(state: NamedTensor[]): Tensor[] {
  return state.filter((w) => w.name === 'iter' || (ACC_NAMES as readonly string[]).includes(w.name)).map((w) => w.tensor);
}

/** Restores what {@link optimizerState} saved, accumulators included (bit for bit). */
export async function restoreOptimizerState(optimizer: Optimizer, saved: NamedTensor[]): Promise<void> {
  await optimizer.setWeights(saved.filter((w) => !(ACC_NAMES as readonly string[]).includes(w.name)));
  const acc = optimizer as unknown as AdamAccumulators;
  const [b1, b2] = ACC_NAMES.map((n) => saved.find((w) => w.name === n)?.tensor);
  if (b1 && b2 && acc.accBeta1 && acc.accBeta2) {
    acc.accBeta1.assign(b1);
    acc.accBeta2.assign(b2);
  }
}

/** An attribute of a TensorFlow op as tfjs-node's binding takes it (type: a TF_AttrType number). */
export interface TensorFlowOpAttr { name: string; type: number; value: unknown }

/**
 * The parts of tfjs-node's kernel backend that run a TensorFlow op by name: for the fused kernels
 * and gradient kernels tfjs does not expose (FusedBatchNormV3, ReluGrad, SigmoidGrad, …), which
 * a compiled step then records like any other op.
 */
export interface TensorFlowKernels {
  binding: { TF_ATTR_TYPE: number; TF_ATTR_FLOAT: number; TF_ATTR_BOOL: number; TF_ATTR_STRING: number; TF_FLOAT: number };
  executeSingleOutput(name: string, attrs: TensorFlowOpAttr[], inputs: Tensor[]): Tensor;
  executeMultipleOutputs(name: string, attrs: TensorFlowOpAttr[], inputs: Tensor[], outputs: number): Tensor[];
}

/** tfjs-node's kernel backend, or undefined when the active backend is not TensorFlow's (tfjs's own op-by-op path then). */
export function tensorFlowKernels(tf: TF): TensorFlowKernels | undefined {
  const b = tf.backend() as unknown as Partial<TensorFlowKernels>;
  return typeof b.executeMultipleOutputs === 'function' && typeof b.executeSingleOutput === 'function' && b.binding ? (b as TensorFlowKernels) : undefined;
}
