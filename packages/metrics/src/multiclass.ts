/** Multi-class metrics from an N × K probability matrix (row-major). */
import { MetricInputError, metricsFromConfusion, rocAuc } from './binary.js';

export interface MulticlassMetrics {
  accuracy: number;
  /** [actual][predicted] */
  confusion: number[][];
  perClass: { precision: number; recall: number; f1: number; auc: number; support: number }[];
  macro: { precision: number; recall: number; f1: number; auc: number };
  micro: { precision: number; recall: number; f1: number };
}

export function argmaxRows(probabilities: ArrayLike<number>, k: number): Int32Array {
  const n = probabilities.length / k;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let best = 0;
    for (let j = 1; j < k; j++) if (probabilities[i * k + j] > probabilities[i * k + best]) best = j;
    out[i] = best;
  }
  return out;
}

export function multiclassMetrics(labels: ArrayLike<number>, probabilities: ArrayLike<number>, k: number): MulticlassMetrics {
  const n = labels.length;
  if (n === 0) throw new MetricInputError('no samples');
  if (probabilities.length !== n * k) throw new MetricInputError(`expected ${n} × ${k} probabilities, found ${probabilities.length}`);
  const predicted = argmaxRows(probabilities, k);
  const confusion = Array.from({ length: k }, () => new Array<number>(k).fill(0));
  for (let i = 0; i < n; i++) {
    if (!(labels[i] >= 0 && labels[i] < k)) throw new MetricInputError(`label ${i} is ${labels[i]}; expected 0…${k - 1}`);
    confusion[labels[i]][predicted[i]]++;
  }
  const perClass = confusion.map((_, c) => {
    const tp = confusion[c][c];
    const fn = confusion[c].reduce((s, x) => s + x, 0) - tp;
    const fp = confusion.reduce((s, row) => s + row[c], 0) - tp;
    const m = metricsFromConfusion({ tp, fp, fn, tn: n - tp - fp - fn });
    const oneVsRest = Array.from(labels, (l) => (l === c ? 1 : 0));
    const scores = Array.from({ length: n }, (_, i) => probabilities[i * k + c]);
    return { precision: m.precision, recall: m.recall, f1: m.f1, auc: rocAuc(oneVsRest, scores), support: tp + fn };
  });
  const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
  const correct = confusion.reduce((s, row, c) => s + row[c], 0);
  return {
    accuracy: correct / n,
    confusion,
    perClass,
    macro: { precision: mean(perClass.map((p) => p.precision)), recall: mean(perClass.map((p) => p.recall)), f1: mean(perClass.map((p) => p.f1)), auc: mean(perClass.map((p) => p.auc)) },
    // Single-label multi-class: micro precision = recall = F1 = accuracy.
    micro: { precision: correct / n, recall: correct / n, f1: correct / n },
  };
}
