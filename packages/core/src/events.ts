/**
 * The typed events a sweep emits. Data flows one way: the runner emits, and the CLI, the
 * tracker and the report consume; core itself never prints.
 */
import type { SweepAnswer } from './answer.js';
import type { CompilePathChoice, Progress } from './contract.js';
import type { TaskKind } from '@synthmix/metrics';
import type { BackendDecision } from './backend.js';
import type { CellPlan, ResolvedPlan } from './manifest.js';

/** Where a metric, artifact or warning belongs: the sweep, one generator run, or one cell. */
/** `generator`: the job id of a size's own generator (`generator-seed1-real200`); absent for the seed's one. */
export type Scope = { kind: 'sweep' } | { kind: 'generator'; seed: number; generator?: string } | { kind: 'cell'; cellId: string };

/**
 * Final test metrics of a cell: binary tasks against the plan's positive class; tasks with more
 * classes as macro averages (AUC one-vs-rest) plus `<metric>_<class>` per class.
 */
export interface CellMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  specificity: number;
  f1: number;
  auc: number;
  balancedAccuracy: number;
  mcc: number;
  /** 95 % bootstrap interval bounds, keyed like `accuracy_ci_low`. */
  [key: string]: number;
}

export interface CellResult {
  cell: CellPlan;
  /** What the metrics mean: binary against a positive class, or macro averages over the classes. */
  task?: TaskKind;
  metrics: CellMetrics;
  /** Confusion matrix [actual][predicted]. */
  confusion: number[][];
  /** Best validation accuracy during training. */
  valAccuracy?: number;
  durationMs: number;
  /** Files written for this cell (predictions CSV, metrics JSON, model). */
  files: Record<string, string>;
  /** Size and SHA-256 of each file of the saved model (`files.model`), checked before it is reloaded. */
  modelSeals?: Record<string, { size: number; sha256: string }>;
  /**
   * The 100:0 cell only: Fréchet distance per class between real test images and the seed's
   * synthetic pool, in this classifier's features (it never saw synthetic data).
   */
  frechetRealClassifier?: Record<string, number>;
  /** The same cell: precision, recall, density and coverage (k = 5) per class in those features. */
  prdcRealClassifier?: Record<string, { precision: number; recall: number; density: number; coverage: number }>;
}

export type SweepEvent =
  | { type: 'sweep:start'; time: number; plan: ResolvedPlan; backend: BackendDecision & { backendName: string; tensorflowVersion?: string }; resumed: string[] }
  | { type: 'data:progress'; time: number; phase: 'reading' | 'decoding'; done: number; total: number }
  | { type: 'data:loaded'; time: number; fingerprint: string; counts: Record<string, number>; skipped: number; groups: number; testPerClass: number; reportFile: string; cached: boolean }
  | { type: 'generator:start'; time: number; seed: number; generator?: string; realPerClass?: number; plugin: string; cached: boolean; stateKey: string }
  | { type: 'generator:progress'; time: number; seed: number; generator?: string; progress: Progress }
  | { type: 'generator:done'; time: number; seed: number; generator?: string; cached: boolean; stateKey: string; poolPerClass: number; durationMs: number }
  | { type: 'cell:start'; time: number; cell: CellPlan; index: number; total: number }
  | { type: 'cell:progress'; time: number; cellId: string; progress: Progress }
  | { type: 'cell:done'; time: number; result: CellResult; cached: boolean }
  | { type: 'cell:failed'; time: number; cellId: string; error: string }
  | { type: 'quality:warning'; time: number; seed: number; generator?: string; classes: string[]; message: string }
  | { type: 'executor:ready'; time: number; executor: string; description: string }
  | { type: 'job:retry'; time: number; jobId: string; attempt: number; error: string }
  | { type: 'generator:failed'; time: number; seed: number; generator?: string; error: string }
  | { type: 'metric'; time: number; scope: Scope; name: string; value: number; step: number }
  | { type: 'artifact'; time: number; scope: Scope; path: string; description?: string; /** Where it goes among the run's artifacts. */ folder?: string }
  | { type: 'warning'; time: number; scope: Scope; message: string }
  /** `compile: auto` is about to time a step's paths (a few steps each; XLA's compilation takes seconds). */
  | { type: 'compile:measuring'; time: number; scope: Scope; owner: string; step: string; shape: string; paths: CompilePathChoice['path'][] }
  /** The path `compile: auto` took for a step and input shape: measured now, or remembered for this machine. */
  | { type: 'compile:chosen'; time: number; scope: Scope; choice: CompilePathChoice }
  | { type: 'sweep:done'; time: number; status: 'finished' | 'failed' | 'interrupted'; results: CellResult[]; outputDir: string; error?: string; /** The sweep's answer in words (answer.ts), when any cell has a baseline to compare with. */ answer?: SweepAnswer };

/** Files between two `data:progress` events of a phase of `total` files: about a hundred events a phase. */
export function dataProgressStep(total: number): number {
  return Math.max(1, Math.ceil(total / 100));
}

export type SweepEventType = SweepEvent['type'];
export type EventOf<T extends SweepEventType> = Extract<SweepEvent, { type: T }>;
/** An event without its timestamp, as the runner builds it. */
export type SweepEventInput = SweepEvent extends infer E ? (E extends SweepEvent ? Omit<E, 'time'> : never) : never;
