/**
 * The answer a sweep gives, in words: for each training-set size, the largest synthetic share
 * that is non-inferior to that size's no-synthetic cell at the stated margin, the share with the
 * best mean and whether it is better than none, and why the answer is weak when it is. The test
 * (paired on the same real test images, seeds as replicates) is in @synthmix/metrics'
 * noninferiority.ts; the design (groups, baselines, labels) in design.ts.
 */
import { holmBetter, nonInferiority, pairedAccuracyDifference, pairedAucDifference, readComparablePredictions, type ComparablePredictions, type NonInferiority, type PairedDifference } from '@synthmix/metrics';
import { baselineOf, designLabel, designX, isBaselineCell, modeOf, sizePerClass, xInWords, type DesignMode } from './design.js';
import type { CellResult } from './events.js';
import type { ResolvedPlan } from './manifest.js';

export type AnswerMetric = 'auc' | 'accuracy';

/** The analysis settings of a plan: `analysis.metric` and `analysis.margin` (default ΔAUC ≥ −0.01). */
export interface AnalysisSettings {
  metric: AnswerMetric;
  margin: number;
}

export interface AnswerPoint extends NonInferiority {
  x: number;
  label: string;
  /** Holm-adjusted across the size's grid. */
  pBetterHolm: number;
  better: boolean;
}

export interface SizeAnswer {
  mode: DesignMode;
  /** Images per class (replace) or real images per class (augment). */
  perClass: number;
  points: AnswerPoint[];
  /** The largest share such that it and every smaller one are non-inferior. */
  upTo?: AnswerPoint;
  best?: AnswerPoint;
  weak: string[];
  sentence: string;
}

export interface SweepAnswer {
  metric: AnswerMetric;
  /** What was measured, when the metric asked for could not be (AUC of a multi-class task). */
  metricNote?: string;
  margin: number;
  test: string;
  sizes: SizeAnswer[];
}

const METRIC_WORDS: Record<AnswerMetric, string> = { auc: 'AUC', accuracy: 'accuracy' };

const signed = (v: number, digits: number) => `${v >= 0 ? '+' : '−'}${Math.abs(v).toFixed(digits)}`;

/**
 * Answers the sweep's question from its cells' predictions (the trained generator's cells; the
 * snapshots of a generator-epoch ablation are not part of it). `warned` names the seeds whose
 * generator was warned as far from real.
 */
export function answerSweep(plan: Pick<ResolvedPlan, 'dataset' | 'seeds'> & { analysis?: AnalysisSettings }, results: readonly CellResult[], options: { warnedSeeds?: number[]; read?: (file: string, positive: string) => ComparablePredictions | undefined } = {}): SweepAnswer {
  const settings = plan.analysis ?? { metric: 'auc', margin: 0.01 };
  const binary = plan.dataset.classes.length === 2;
  // DeLong compares the AUCs of a binary task; a macro one-vs-rest AUC has no paired test here.
  const metric: AnswerMetric = settings.metric === 'auc' && !binary ? 'accuracy' : settings.metric;
  const metricNote = metric !== settings.metric ? `analysis.metric auc needs a binary task; accuracy is compared instead (${plan.dataset.classes.length} classes)` : undefined;
  const digits = 3;
  const positive = plan.dataset.classes[plan.dataset.positiveClass].name;
  const read = options.read ?? readComparablePredictions;
  const cache = new Map<string, ComparablePredictions | undefined>();
  const predictions = (r: CellResult) => {
    if (!cache.has(r.cell.id)) cache.set(r.cell.id, read(r.files.predictions, positive));
    return cache.get(r.cell.id);
  };
  const cells = results.filter((r) => r.cell.generatorEpoch === undefined);
  const byId = new Map(cells.map((r) => [r.cell.id, r]));
  const sizes = [...new Set(cells.map((r) => sizePerClass(r.cell)))].sort((a, b) => a - b);
  const out: SizeAnswer[] = [];
  for (const perClass of sizes) {
    const own = cells.filter((r) => sizePerClass(r.cell) === perClass);
    const mode = own.length ? modeOf(own[0].cell) : 'replace';
    const words = (x: number) => xInWords(x, mode);
    const xs = [...new Set(own.filter((r) => !isBaselineCell(r.cell)).map((r) => designX(r.cell)))].sort((a, b) => a - b);
    const points: Omit<AnswerPoint, 'pBetterHolm' | 'better'>[] = [];
    for (const x of xs) {
      const differences: PairedDifference[] = [];
      for (const r of own.filter((c) => designX(c.cell) === x)) {
        const base = baselineOf(r.cell, cells.map((c) => c.cell));
        const baseResult = base && byId.get(base.id);
        const a = predictions(r);
        const b = baseResult && predictions(baseResult);
        if (!a || !b || a.labels.length !== b.labels.length) continue;
        try {
          const d = metric === 'auc' ? pairedAucDifference(a.labels, a.scores, b.scores) : pairedAccuracyDifference(a.classLabels, a.predicted, b.predicted);
          differences.push({ seed: r.cell.seed, ...d });
        } catch {
          // One class only in the test set: no paired test is defined.
        }
      }
      if (differences.length) points.push({ x, label: designLabel(x, mode), ...nonInferiority(differences, settings.margin) });
    }
    const holm = holmBetter(points as NonInferiority[]);
    const full: AnswerPoint[] = points.map((p, i) => ({ ...p, pBetterHolm: holm[i], better: holm[i] < 0.05 && p.meanDifference > 0 }));
    let upTo: AnswerPoint | undefined;
    for (const p of full) {
      if (!p.nonInferior) break;
      upTo = p;
    }
    const best = full.length ? full.reduce((a, b) => (b.meanDifference > a.meanDifference ? b : a)) : undefined;
    const seedsSeen = Math.max(0, ...full.map((p) => p.seeds));
    const weak: string[] = [];
    if (seedsSeen === 1) weak.push('one seed, so how much training randomness moves the result is not measured');
    const warned = (options.warnedSeeds ?? []).filter((s) => plan.seeds.includes(s));
    if (warned.length) weak.push(`the generator's images were warned as far from real for seed${warned.length > 1 ? 's' : ''} ${warned.join(', ')}`);
    const what = METRIC_WORDS[metric];
    const margin = settings.margin;
    let sentence: string;
    const size = mode === 'augment' ? `With ${perClass} real images per class` : `With ${perClass} images per class`;
    const grid = mode === 'augment' ? 'amount of added synthetic images' : 'synthetic share';
    if (!full.length) sentence = `${size} there is no ${grid} with a baseline to compare.`;
    else {
      const bound = `costs at most ${margin} ${what} (one-sided 95 %, ${seedsSeen} seed${seedsSeen === 1 ? '' : 's'})`;
      const doing = (x: number) => (mode === 'augment' ? `adding up to ${words(x)}` : `replacing up to ${words(x)} of the real images by synthetic ones`);
      const first = upTo
        ? `${size}, ${doing(upTo.x)} ${bound}`
        : `${size}, no ${grid} is shown to cost at most ${margin} ${what}: already ${words(full[0].x)} may cost more (lower bound ${signed(full[0].lower, digits)})`;
      const p = (v: number) => (v < 0.001 ? '< 0.001' : v.toFixed(3));
      const second = !best ? ''
        : best.meanDifference <= 0 ? `; none has a better mean ${what} than no synthetic images (the closest: ${words(best.x)}, ${signed(best.meanDifference, digits)})`
        : `; ${words(best.x)} has the best mean (${signed(best.meanDifference, digits)}) ${best.better ? 'and is' : 'but is not'} significantly better than none (Holm-adjusted one-sided p ${best.pBetterHolm < 0.001 ? '' : '= '}${p(best.pBetterHolm)})`;
      sentence = `${first}${second}.${weak.length ? ` Weak answer: ${weak.join('; ')}.` : ''}`;
    }
    out.push({ mode, perClass, points: full, ...(upTo ? { upTo } : {}), ...(best ? { best } : {}), weak, sentence });
  }
  return {
    metric,
    ...(metricNote ? { metricNote } : {}),
    margin: settings.margin,
    test: `paired on the same real test images (${metric === 'auc' ? "DeLong's standard error of ΔAUC" : 'the paired standard error of Δaccuracy'}), seeds as replicates (mean difference; standard error from the per-seed test-set variance and the between-seed variance); non-inferior when the one-sided 95 % lower bound is ≥ −${settings.margin}; better when the one-sided p-value, Holm-adjusted across the shares of a size, is < 0.05`,
    sizes: out,
  };
}
