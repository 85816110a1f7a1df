/** The dashboard's view of a sweep, folded from core's events (pure, so it is easy to test). */
import { sizePerClass } from '@synthmix/core';
import { STEP_PATH_WORDS } from '@synthmix/compile';
import type { CellMetrics, CellPlan, SweepEvent } from '@synthmix/core';

export type CellStatus = 'queued' | 'training' | 'evaluating' | 'done' | 'cached' | 'failed';

export interface CellRow {
  cell: CellPlan;
  status: CellStatus;
  epoch?: number;
  epochs?: number;
  valAccuracy?: number;
  metrics?: CellMetrics;
  error?: string;
}

export interface GeneratorView {
  seed: number;
  plugin: string;
  cached: boolean;
  label?: string;
  /** What a step is: `epoch` while training, `image` while sampling. */
  unit?: string;
  step: number;
  total?: number;
  /** Loss histories per metric name (d/g losses), for sparklines. */
  series: Record<string, number[]>;
  done: boolean;
}

export interface SweepView {
  name: string;
  /** The sweep's answer in words, one sentence per training-set size, once it is done. */
  answer?: string[];
  backend: string;
  device: string;
  startedAt: number;
  now: number;
  rows: CellRow[];
  generator?: GeneratorView;
  warnings: string[];
  data?: { counts: Record<string, number>; skipped: number; groups: number; cached: boolean };
  /** While the dataset loads: reading (hashing) or decoding, files done of all. */
  loading?: { phase: 'reading' | 'decoding'; done: number; total: number };
  trackingUrl?: string;
  /** Where jobs run, when not in this process. */
  executor?: string;
  /** The path each compiled step took (`synthmix:dcgan GAN step` → `compiled + XLA`), as `compile: auto` chose it. */
  compilePaths?: Record<string, string>;
  /** While `compile: auto` times a step's paths: which step, which paths. */
  measuring?: string;
  /** Generators whose images are far from the real ones: shown above everything else. */
  qualityWarnings?: string[];
  status: 'running' | 'finished' | 'failed' | 'interrupted' | 'stopping';
  outputDir?: string;
  error?: string;
}

export function initialView(): SweepView {
  return { name: '', backend: '', device: '', startedAt: Date.now(), now: Date.now(), rows: [], warnings: [], status: 'running' };
}

export function reduce(view: SweepView, e: SweepEvent): SweepView {
  const v = { ...view, now: e.time };
  const updateRow = (id: string, patch: Partial<CellRow>) => {
    v.rows = v.rows.map((r) => (r.cell.id === id ? { ...r, ...patch } : r));
  };
  switch (e.type) {
    case 'sweep:start':
      v.name = e.plan.name;
      v.backend = e.backend.choice;
      v.device = e.backend.tensorflowVersion ? `${e.backend.backendName} (libtensorflow ${e.backend.tensorflowVersion})` : e.backend.backendName;
      v.startedAt = e.time;
      // Grouped by training-set size (then seed, then the grid), so each size's curve reads as a block.
      v.rows = e.plan.cells.map((cell, i) => ({ cell, i })).sort((a, b) => sizePerClass(a.cell) - sizePerClass(b.cell) || a.i - b.i).map(({ cell }) => ({ cell, status: 'queued' as const }));
      v.outputDir = e.plan.outputDir;
      break;
    case 'data:progress':
      v.loading = { phase: e.phase, done: e.done, total: e.total };
      break;
    case 'data:loaded':
      v.loading = undefined;
      v.data = { counts: e.counts, skipped: e.skipped, groups: e.groups, cached: e.cached };
      break;
    case 'generator:start':
      v.generator = { seed: e.seed, plugin: e.plugin, cached: e.cached, step: 0, series: {}, done: false };
      break;
    case 'generator:progress': {
      const g = v.generator ?? { seed: e.seed, plugin: '', cached: false, step: 0, series: {}, done: false };
      const series = { ...g.series };
      for (const [name, value] of Object.entries(e.progress.metrics ?? {})) {
        if (/loss/.test(name)) series[name] = [...(series[name] ?? []), value].slice(-60);
      }
      // The quality measures after training report per class: the panel shows them until the last.
      const measuring = e.progress.unit === 'class';
      const done = measuring ? e.progress.step >= (e.progress.total ?? 0) : g.done;
      v.generator = { ...g, label: e.progress.label, unit: e.progress.unit, step: e.progress.step, total: e.progress.total, series, done };
      break;
    }
    case 'generator:done':
      if (v.generator) v.generator = { ...v.generator, done: true };
      break;
    case 'cell:start':
      updateRow(e.cell.id, { status: 'training', epoch: 0 });
      break;
    case 'cell:progress': {
      const row = v.rows.find((r) => r.cell.id === e.cellId);
      const val = e.progress.metrics?.val_accuracy;
      updateRow(e.cellId, {
        epoch: e.progress.step,
        epochs: e.progress.total,
        valAccuracy: val !== undefined ? Math.max(row?.valAccuracy ?? 0, val) : row?.valAccuracy,
        status: e.progress.total !== undefined && e.progress.step >= e.progress.total ? 'evaluating' : 'training',
      });
      break;
    }
    case 'cell:done':
      updateRow(e.result.cell.id, { status: e.cached ? 'cached' : 'done', metrics: e.result.metrics, valAccuracy: e.result.valAccuracy });
      break;
    case 'cell:failed':
      updateRow(e.cellId, { status: 'failed', error: e.error });
      break;
    case 'quality:warning':
      v.qualityWarnings = [...(v.qualityWarnings ?? []), `seed ${e.seed}: ${e.message}`];
      break;
    case 'executor:ready':
      if (e.executor !== 'inline') v.executor = e.description;
      break;
    case 'job:retry':
      v.warnings = [...v.warnings, `job ${e.jobId} failed (${e.error.split('\n')[0]}); attempt ${e.attempt}`].slice(-50);
      break;
    case 'generator:failed':
      v.warnings = [...v.warnings, `generator seed ${e.seed} failed: ${e.error.split('\n')[0]}`].slice(-50);
      if (v.generator?.seed === e.seed) v.generator = { ...v.generator, done: true };
      break;
    case 'warning':
      v.warnings = [...v.warnings, e.message].slice(-50);
      break;
    case 'compile:measuring':
      v.measuring = `${e.owner} ${e.step}: timing ${e.paths.map((p) => STEP_PATH_WORDS[p]).join(', ')} to take the fastest here`;
      break;
    case 'compile:chosen':
      v.measuring = undefined;
      v.compilePaths = { ...v.compilePaths, [`${e.choice.owner} ${e.choice.step}`]: STEP_PATH_WORDS[e.choice.path] };
      break;
    case 'sweep:done':
      v.status = e.status;
      v.error = e.error;
      v.answer = e.answer?.sizes.map((s) => s.sentence);
      v.outputDir = e.outputDir;
      break;
    default:
  }
  return v;
}

/** The row with the best test accuracy, if any finished. */
export function bestRow(view: SweepView): CellRow | undefined {
  return view.rows.filter((r) => r.metrics).reduce<CellRow | undefined>((best, r) => (!best || r.metrics!.accuracy > best.metrics!.accuracy ? r : best), undefined);
}

/** Estimated milliseconds left, from the mean duration of cells finished in this session. */
export function eta(view: SweepView): number | undefined {
  const done = view.rows.filter((r) => r.status === 'done').length;
  const left = view.rows.filter((r) => r.status === 'queued' || r.status === 'training' || r.status === 'evaluating').length;
  if (!done || !left) return undefined;
  return ((view.now - view.startedAt) / done) * left;
}
