/**
 * Binary classification metrics. Labels are 1 (positive) or 0; scores are the positive class's
 * probability; a score ≥ threshold is predicted positive.
 *
 * Undefined ratios (e.g. precision with no positive predictions) are NaN, never 0: a NaN says
 * "not defined here", a 0 would be a wrong number.
 */

export class MetricInputError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'MetricInputError';
  }
}

export function checkBinaryInput(labels: ArrayLike<number>, scores: ArrayLike<number>): void {
  if (labels.length !== scores.length) throw new MetricInputError(`labels and scores differ in length (${labels.length} vs ${scores.length})`);
  if (labels.length === 0) throw new MetricInputError('no samples');
  for (let i = 0; i < labels.length; i++) {
    if (labels[i] !== 0 && labels[i] !== 1) throw new MetricInputError(`label ${i} is ${labels[i]}; binary labels must be 0 or 1`);
    if (Number.isNaN(scores[i])) throw new MetricInputError(`score ${i} is NaN`);
  }
}

export interface Confusion {
  tp: number;
  fp: number;
  tn: number;
  fn: number;
}

export function confusion(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): Confusion {
  const c = { tp: 0, fp: 0, tn: 0, fn: 0 };
  for (let i = 0; i < labels.length; i++) {
    const predicted = scores[i] >= threshold;
    if (labels[i] === 1) {
      if (predicted) c.tp++;
      else c.fn++;
    } else if (predicted) c.fp++;
    else c.tn++;
  }
  return c;
}

const ratio = (a: number, b: number) => (b === 0 ? NaN : a / b);

export interface BinaryMetrics {
  accuracy: number;
  precision: number;
  recall: number;
  specificity: number;
  f1: number;
  balancedAccuracy: number;
  mcc: number;
  auc: number;
  averagePrecision: number;
  confusion: Confusion;
  threshold: number;
}

export function metricsFromConfusion(c: Confusion): Omit<BinaryMetrics, 'auc' | 'averagePrecision' | 'confusion' | 'threshold'> {
  const n = c.tp + c.fp + c.tn + c.fn;
  const precision = ratio(c.tp, c.tp + c.fp);
  const recall = ratio(c.tp, c.tp + c.fn);
  const specificity = ratio(c.tn, c.tn + c.fp);
  const f1 = ratio(2 * c.tp, 2 * c.tp + c.fp + c.fn);
  const denom = Math.sqrt((c.tp + c.fp) * (c.tp + c.fn) * (c.tn + c.fp) * (c.tn + c.fn));
  // scikit-learn defines MCC as 0 when a marginal is empty; we follow it for comparability.
  const mcc = denom === 0 ? 0 : (c.tp * c.tn - c.fp * c.fn) / denom;
  return { accuracy: ratio(c.tp + c.tn, n), precision, recall, specificity, f1, balancedAccuracy: (recall + specificity) / 2, mcc };
}

/** ROC curve points (fpr, tpr, threshold) at every distinct score, highest threshold first. */
export function rocCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): { fpr: number[]; tpr: number[]; thresholds: number[] } {
  checkBinaryInput(labels, scores);
  const order = Array.from({ length: labels.length }, (_, i) => i).sort((a, b) => scores[b] - scores[a]);
  const pos = Array.from(labels).filter((l) => l === 1).length;
  const neg = labels.length - pos;
  const fpr = [0];
  const tpr = [0];
  const thresholds = [Infinity];
  let tp = 0;
  let fp = 0;
  for (let k = 0; k < order.length; k++) {
    const i = order[k];
    if (labels[i] === 1) tp++;
    else fp++;
    // Tied scores form one point: emit only after the last of a run of equal scores.
    if (k === order.length - 1 || scores[order[k + 1]] !== scores[i]) {
      fpr.push(ratio(fp, neg));
      tpr.push(ratio(tp, pos));
      thresholds.push(scores[i]);
    }
  }
  return { fpr, tpr, thresholds };
}

/**
 * Area under the ROC curve, exact with ties (trapezoids between tie runs), equal to the
 * Mann–Whitney U statistic / (n⁺ n⁻). NaN when only one class is present.
 */
export function rocAuc(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { fpr, tpr } = rocCurve(labels, scores);
  if (Number.isNaN(fpr[fpr.length - 1]) || Number.isNaN(tpr[tpr.length - 1])) return NaN;
  let area = 0;
  for (let i = 1; i < fpr.length; i++) area += ((fpr[i] - fpr[i - 1]) * (tpr[i] + tpr[i - 1])) / 2;
  return area;
}

/** Precision–recall curve at every distinct score, highest threshold first (recall increasing). */
export function precisionRecallCurve(labels: ArrayLike<number>, scores: ArrayLike<number>): { precision: number[]; recall: number[]; thresholds: number[] } {
  const { fpr, tpr, thresholds } = rocCurve(labels, scores);
  const pos = Array.from(labels).filter((l) => l === 1).length;
  const neg = labels.length - pos;
  const precision: number[] = [];
  const recall: number[] = [];
  for (let i = 1; i < fpr.length; i++) {
    const tp = tpr[i] * pos;
    const fp = (Number.isNaN(fpr[i]) ? 0 : fpr[i]) * neg;
    precision.push(tp / (tp + fp));
    recall.push(pos === 0 ? NaN : tpr[i]);
  }
  return { precision, recall, thresholds: thresholds.slice(1) };
}

/**
 * Average precision as scikit-learn defines it: Σ (Rₙ − Rₙ₋₁) Pₙ over thresholds, with no
 * interpolation. NaN when there are no positives.
 */
export function averagePrecision(labels: ArrayLike<number>, scores: ArrayLike<number>): number {
  const { precision, recall } = precisionRecallCurve(labels, scores);
  if (recall.some(Number.isNaN)) return NaN;
  let ap = 0;
  let prev = 0;
  for (let i = 0; i < recall.length; i++) {
    ap += (recall[i] - prev) * precision[i];
    prev = recall[i];
  }
  return ap;
}

export function binaryMetrics(labels: ArrayLike<number>, scores: ArrayLike<number>, threshold = 0.5): BinaryMetrics {
  checkBinaryInput(labels, scores);
  const c = confusion(labels, scores, threshold);
  return { ...metricsFromConfusion(c), auc: rocAuc(labels, scores), averagePrecision: averagePrecision(labels, scores), confusion: c, threshold };
}
