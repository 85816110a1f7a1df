/**
 * Compute backend selection: the one place that decides which TensorFlow.js backend runs.
 *
 * - `gpu`: @tensorflow/tfjs-node-gpu (libtensorflow with CUDA).
 * - `tensorflow`: @tensorflow/tfjs-node (libtensorflow on CPU, oneDNN).
 * - `cpu`: pure JavaScript; roughly a thousand times slower for convnets.
 * - `auto`: the first of those that is usable, in that order.
 */
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import type { TF } from './contract.js';
import { UserError } from './errors.js';

export type BackendRequest = 'auto' | 'gpu' | 'tensorflow' | 'cpu';
export type BackendChoice = 'gpu' | 'tensorflow' | 'cpu';

/** Facts about the machine that selection depends on; gathered by {@link probeMachine}. */
export interface MachineFacts {
  /** A CUDA driver is present and reports at least one device. */
  cudaDevices: string[];
  /** Why CUDA is unusable, when it is. */
  cudaProblem?: string;
  /** tfjs-node-gpu is installed with a built native binding. */
  gpuPackage: boolean;
  /** tfjs-node is installed with a built native binding. */
  tensorflowPackage: boolean;
}

export interface BackendDecision {
  choice: BackendChoice;
  /** One sentence per fact that led to the choice, for `synthmix doctor` and the run header. */
  reasons: string[];
  /** Set when the choice is the slow pure-JS backend. */
  warning?: string;
}

export const SLOW_CPU_WARNING =
  'Using the pure-JavaScript "cpu" backend: training is roughly a thousand times slower than libtensorflow. ' +
  'Run `npm run setup:tensorflow` to provision libtensorflow.';

/** Pure decision logic, tested without a GPU. Throws when an explicit request cannot be met. */
export function decideBackend(requested: BackendRequest, facts: MachineFacts): BackendDecision {
  const gpuUsable = facts.gpuPackage && facts.cudaDevices.length > 0;
  const gpuWhyNot = !facts.gpuPackage
    ? '@tensorflow/tfjs-node-gpu is not set up (npm run setup:tensorflow -- --gpu)'
    : facts.cudaProblem ?? 'no CUDA device found';
  switch (requested) {
    case 'gpu':
      if (!gpuUsable) throw new UserError(`backend "gpu" was requested but is not usable: ${gpuWhyNot}`);
      return { choice: 'gpu', reasons: [`requested gpu; CUDA devices: ${facts.cudaDevices.join(', ')}`] };
    case 'tensorflow':
      if (!facts.tensorflowPackage) {
        throw new UserError('backend "tensorflow" was requested but @tensorflow/tfjs-node has no native binding; run `npm run setup:tensorflow`');
      }
      return { choice: 'tensorflow', reasons: ['requested tensorflow (libtensorflow on CPU)'] };
    case 'cpu':
      return { choice: 'cpu', reasons: ['requested cpu (pure JavaScript)'], warning: SLOW_CPU_WARNING };
    case 'auto': {
      if (gpuUsable) return { choice: 'gpu', reasons: [`auto: CUDA devices found: ${facts.cudaDevices.join(', ')}`] };
      const reasons = [`auto: no GPU (${gpuWhyNot})`];
      if (facts.tensorflowPackage) return { choice: 'tensorflow', reasons: [...reasons, 'auto: libtensorflow binding found'] };
      return { choice: 'cpu', reasons: [...reasons, 'auto: no libtensorflow binding'], warning: SLOW_CPU_WARNING };
    }
  }
}

const require = createRequire(import.meta.url);

function hasNativeBinding(pkg: string): boolean {
  try {
    const dir = require.resolve(`${pkg}/package.json`).replace(/package\.json$/, '');
    const modulePath = JSON.parse(fs.readFileSync(`${dir}package.json`, 'utf8')).binary.module_path as string;
    const napi = Math.min(8, Number(process.versions.napi));
    return fs.existsSync(`${dir}${modulePath.replace('{napi_build_version}', String(napi))}/tfjs_binding.node`);
  } catch {
    return false;
  }
}

/** Looks at the machine without loading TensorFlow. */
export function probeMachine(): MachineFacts {
  const facts: MachineFacts = { cudaDevices: [], gpuPackage: hasNativeBinding('@tensorflow/tfjs-node-gpu'), tensorflowPackage: hasNativeBinding('@tensorflow/tfjs-node') };
  if (!fs.existsSync('/proc/driver/nvidia/version')) {
    facts.cudaProblem = 'no NVIDIA driver loaded (/proc/driver/nvidia/version is absent)';
    return facts;
  }
  try {
    const out = execFileSync('nvidia-smi', ['-L'], { encoding: 'utf8', timeout: 10_000 });
    facts.cudaDevices = out.split('\n').filter((l) => l.startsWith('GPU ')).map((l) => l.replace(/ \(UUID.*$/, ''));
    if (!facts.cudaDevices.length) facts.cudaProblem = 'nvidia-smi lists no GPU';
  } catch (err) {
    facts.cudaProblem = `nvidia-smi failed: ${(err as Error).message.split('\n')[0]}`;
  }
  return facts;
}

export interface LoadedBackend {
  tf: TF;
  decision: BackendDecision;
  /** TensorFlow.js backend name: `tensorflow` for libtensorflow (CPU or GPU), `cpu` for pure JS. */
  backendName: string;
  /** libtensorflow version, when native. */
  tensorflowVersion?: string;
  threads: { intraOp: number; interOp: number };
}

let loaded: LoadedBackend | undefined;

/**
 * Loads TensorFlow.js for the request. Only one native backend can live in a process, so the
 * first call wins and later calls with another request fail loudly.
 */
export async function loadBackend(requested: BackendRequest, facts: MachineFacts = probeMachine()): Promise<LoadedBackend> {
  const decision = decideBackend(requested, facts);
  if (loaded) {
    if (loaded.decision.choice !== decision.choice) {
      throw new UserError(`backend "${loaded.decision.choice}" is already loaded in this process; cannot switch to "${decision.choice}"`);
    }
    return loaded;
  }
  // TensorFlow reads these when its first context is created; both cores by default.
  const cores = String(os.availableParallelism?.() ?? os.cpus().length);
  process.env.TF_NUM_INTRAOP_THREADS ??= cores;
  process.env.TF_NUM_INTEROP_THREADS ??= cores;
  process.env.OMP_NUM_THREADS ??= cores;
  process.env.TF_CPP_MIN_LOG_LEVEL ??= '2';
  const threads = { intraOp: Number(process.env.TF_NUM_INTRAOP_THREADS), interOp: Number(process.env.TF_NUM_INTEROP_THREADS) };
  let tf: TF;
  if (decision.choice === 'cpu') {
    tf = require('@tensorflow/tfjs') as TF;
    await tf.setBackend('cpu');
  } else {
    const pkg = decision.choice === 'gpu' ? '@tensorflow/tfjs-node-gpu' : '@tensorflow/tfjs-node';
    try {
      tf = require(pkg) as TF;
    } catch (err) {
      throw new UserError(`${pkg} failed to load: ${(err as Error).message.split('\n')[0]}. Run \`npm run setup:tensorflow${decision.choice === 'gpu' ? ' -- --gpu' : ''}\`.`);
    }
  }
  await tf.ready();
  const binding = (tf.backend() as unknown as { binding?: { TF_Version?: string } }).binding;
  loaded = { tf, decision, backendName: tf.getBackend(), tensorflowVersion: binding?.TF_Version, threads };
  return loaded;
}
