/**
 * The metrics of a classification task as a sweep reports them, with 95 % bootstrap intervals:
 * binary tasks against a named positive class, tasks with more classes as macro averages over
 * the classes (AUC one-vs-rest) plus per-class values.
 */
import { binaryMetrics, MetricInputError } from './binary.js';
import { multiclassMetrics, type MulticlassMetrics } from './multiclass.js';
import { bootstrapIntervals, quantile, seededRandom } from './stats.js';

export type TaskKind = { kind: 'binary'; positiveClass: string } | { kind: 'multiclass'; average: 'macro'; classes: string[] };

export interface TaskMetrics {
  task: TaskKind;
  /**
   * accuracy, precision, recall, specificity, f1, auc, balancedAccuracy, mcc (binary: of the
   * positive class; multi-class: macro averages, MCC by Gorodkin's generalisation), each with
   * `<name>_ci_low` / `<name>_ci_high`; multi-class adds `<metric>_<class>` per class.
   */
  metrics: Record<string, number>;
  /** [actual][predicted] */
  confusion: number[][];
}

export const TASK_METRICS = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'auc', 'balancedAccuracy', 'mcc'] as const;

/** How the table and report name the averaging: `positive class tumor` or `macro over 4 classes`. */
export function describeTask(task: TaskKind): string {
  return task.kind === 'binary' ? `binary, positive class "${task.positiveClass}"` : `macro averages over ${task.classes.length} classes (${task.classes.join(', ')}); AUC one-vs-rest`;
}

/** Multi-class point metrics from labels and N × K probabilities. */
export function multiclassTaskPoint(labels: ArrayLike<number>, probabilities: ArrayLike<number>, k: number): Record<string, number> {
  return pointFrom(multiclassMetrics(labels, probabilities, k));
}

/** The macro point metrics of {@link TASK_METRICS} from one multi-class evaluation. */
function pointFrom(m: MulticlassMetrics): Record<string, number> {
  // Class counts, true (row sums) and predicted (column sums), come from the confusion matrix.
  const trueCount = m.confusion.map((row) => row.reduce((s, x) => s + x, 0));
  const predCount = m.confusion.map((_, c) => m.confusion.reduce((s, row) => s + row[c], 0));
  const n = trueCount.reduce((s, x) => s + x, 0);
  const correct = m.confusion.reduce((s, row, c) => s + row[c], 0);
  const cov = (a: number[], b: number[]) => n * n - a.reduce((s, x, i) => s + x * b[i], 0);
  const denom = Math.sqrt(cov(predCount, predCount) * cov(trueCount, trueCount));
  const mcc = denom === 0 ? 0 : (correct * n - predCount.reduce((s, p, i) => s + p * trueCount[i], 0)) / denom;
  const specificity = m.confusion.map((_, c) => {
    const fp = predCount[c] - m.confusion[c][c];
    const tn = n - trueCount[c] - fp;
    return tn + fp === 0 ? NaN : tn / (tn + fp);
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  // A class never predicted has no precision (0/0); its macro contribution is 0, as scikit-learn's
  // default zero_division does, so one silent class lowers the average instead of hiding it.
  const zeroIfUndefined = (xs: number[]) => mean(xs.map((x) => (Number.isNaN(x) ? 0 : x)));
  return {
    accuracy: m.accuracy,
    precision: zeroIfUndefined(m.perClass.map((c) => c.precision)),
    recall: zeroIfUndefined(m.perClass.map((c) => c.recall)),
    specificity: mean(specificity),
    f1: zeroIfUndefined(m.perClass.map((c) => c.f1)),
    auc: m.macro.auc,
    // Balanced accuracy is the mean per-class recall, as scikit-learn defines it.
    balancedAccuracy: zeroIfUndefined(m.perClass.map((c) => c.recall)),
    mcc,
  };
}

export function taskMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>, classNames: string[], positive: number, options: { resamples?: number; seed?: number } = {}): TaskMetrics {
  const k = classNames.length;
  const n = labels.length;
  if (probabilities.length !== n * k) throw new MetricInputError(`expected ${n} × ${k} probabilities, found ${probabilities.length}`);
  const evaluated = multiclassMetrics(labels, probabilities, k);
  const { confusion } = evaluated;
  if (k === 2) {
    const binLabels = Array.from(labels, (l) => (l === positive ? 1 : 0));
    const scores = Array.from({ length: n }, (_, i) => probabilities[i * k + positive]);
    const m = binaryMetrics(binLabels, scores);
    const metrics: Record<string, number> = Object.fromEntries([...TASK_METRICS, 'averagePrecision'].map((name) => [name, m[name as keyof typeof m] as number]));
    for (const [name, interval] of Object.entries(bootstrapIntervals(binLabels, scores, options))) {
      metrics[`${name}_ci_low`] = interval.low;
      metrics[`${name}_ci_high`] = interval.high;
    }
    return { task: { kind: 'binary', positiveClass: classNames[positive] }, metrics, confusion };
  }
  const metrics = pointFrom(evaluated);
  const per = evaluated.perClass;
  classNames.forEach((c, i) => {
    metrics[`precision_${c}`] = per[i].precision;
    metrics[`recall_${c}`] = per[i].recall;
    metrics[`f1_${c}`] = per[i].f1;
    metrics[`auc_${c}`] = per[i].auc;
  });
  // Bootstrap: resample test images, recompute the macro metrics.
  const { resamples = 1000, seed = 1 } = options;
  const random = seededRandom(seed);
  const samples: Record<string, number[]> = Object.fromEntries(TASK_METRICS.map((m) => [m, []]));
  const l = new Int32Array(n);
  const p = new Float64Array(n * k);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      l[i] = labels[j];
      for (let c = 0; c < k; c++) p[i * k + c] = probabilities[j * k + c];
    }
    const m = multiclassTaskPoint(l, p, k);
    for (const name of TASK_METRICS) if (!Number.isNaN(m[name])) samples[name].push(m[name]);
  }
  for (const name of TASK_METRICS) {
    const sorted = samples[name].sort((a, b) => a - b);
    metrics[`${name}_ci_low`] = quantile(sorted, 0.025);
    metrics[`${name}_ci_high`] = quantile(sorted, 0.975);
  }
  return { task: { kind: 'multiclass', average: 'macro', classes: classNames }, metrics, confusion };
}
