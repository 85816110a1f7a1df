import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { averagePrecision, binaryMetrics, MetricInputError, rocAuc, rocCurve } from './binary.js';
import { multiclassMetrics } from './multiclass.js';
import { bootstrapIntervals, delongTest, holmAdjust, mcnemarTest, meanInterval } from './stats.js';

interface BinaryCase { name: string; labels: number[]; scores: number[]; threshold: number; expected: Record<string, unknown> }
interface MultiCase { name: string; labels: number[]; probabilities: number[]; k: number; expected: Record<string, unknown> }
const fixtures = JSON.parse(fs.readFileSync(path.join(import.meta.dirname, '../fixtures/sklearn.json'), 'utf8')) as { binary: BinaryCase[]; multiclass: MultiCase[] };

/** scikit-learn's NaN is stored as null in JSON. */
function close(actual: number, expected: number | null, what: string) {
  if (expected === null) expect(actual, what).toBeNaN();
  else expect(Math.abs(actual - expected), `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(1e-9);
}

describe('binary metrics against scikit-learn', () => {
  it.each(fixtures.binary.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = binaryMetrics(c.labels, c.scores, c.threshold);
    for (const key of ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'balancedAccuracy', 'mcc', 'auc', 'averagePrecision'] as const) {
      if (key === 'balancedAccuracy' && (Number.isNaN(m.recall) || Number.isNaN(m.specificity))) continue;
      close(m[key], c.expected[key] as number | null, key);
    }
    expect(m.confusion).toEqual(c.expected.confusion);
    const roc = rocCurve(c.labels, c.scores);
    expect(roc.fpr.length).toBe((c.expected.rocFpr as number[]).length);
    roc.fpr.forEach((x, i) => close(x, (c.expected.rocFpr as number[])[i], `fpr[${i}]`));
    roc.tpr.forEach((x, i) => close(x, (c.expected.rocTpr as number[])[i], `tpr[${i}]`));
  });
});

describe('multi-class metrics against scikit-learn', () => {
  it.each(fixtures.multiclass.map((c) => [c.name, c] as const))('%s', (_name, c) => {
    const m = multiclassMetrics(c.labels, c.probabilities, c.k);
    close(m.accuracy, c.expected.accuracy as number, 'accuracy');
    expect(m.confusion).toEqual(c.expected.confusion);
    m.perClass.forEach((p, i) => {
      close(p.precision, (c.expected.precision as (number | null)[])[i], `precision[${i}]`);
      close(p.recall, (c.expected.recall as (number | null)[])[i], `recall[${i}]`);
      close(p.f1, (c.expected.f1 as (number | null)[])[i], `f1[${i}]`);
      close(p.auc, (c.expected.ovrAuc as number[])[i], `auc[${i}]`);
    });
    close(m.macro.f1, c.expected.macroF1 as number, 'macro f1');
    close(m.micro.f1, c.expected.microF1 as number, 'micro f1');
    close(m.macro.auc, c.expected.macroAuc as number, 'macro auc');
  });
});

describe('AUC', () => {
  it('equals the Mann–Whitney statistic with ties counted half', () => {
    const labels = [1, 1, 1, 0, 0, 0, 0];
    const scores = [0.9, 0.5, 0.5, 0.5, 0.2, 0.5, 0.1];
    let u = 0;
    for (let i = 0; i < 7; i++) for (let j = 0; j < 7; j++) if (labels[i] === 1 && labels[j] === 0) u += scores[i] > scores[j] ? 1 : scores[i] === scores[j] ? 0.5 : 0;
    expect(rocAuc(labels, scores)).toBeCloseTo(u / 12, 12);
  });
});

describe('degenerate inputs', () => {
  it('gives clear errors for empty, mismatched, NaN and non-binary input', () => {
    expect(() => binaryMetrics([], [])).toThrow(new MetricInputError('no samples'));
    expect(() => binaryMetrics([1, 0], [0.5])).toThrow(new MetricInputError('labels and scores differ in length (2 vs 1)'));
    expect(() => binaryMetrics([1, 0], [0.5, NaN])).toThrow(new MetricInputError('score 1 is NaN'));
    expect(() => binaryMetrics([1, 2], [0.5, 0.1])).toThrow(new MetricInputError('label 1 is 2; binary labels must be 0 or 1'));
    expect(() => multiclassMetrics([0, 1], [0.5, 0.5], 2)).toThrow(new MetricInputError('expected 2 × 2 probabilities, found 2'));
  });

  it('documents NaN where a metric is undefined (one class only)', () => {
    const m = binaryMetrics([1, 1, 1], [0.9, 0.2, 0.7]);
    expect(m.auc).toBeNaN();
    expect(m.specificity).toBeNaN();
    expect(averagePrecision([0, 0], [0.1, 0.9])).toBeNaN();
    expect(m.recall).toBeCloseTo(2 / 3, 12);
  });
});

describe('uncertainty', () => {
  const labels = Array.from({ length: 200 }, (_, i) => i % 2);
  const scores = labels.map((l, i) => Math.min(1, Math.max(0, 0.5 + (l - 0.5) * 0.3 + Math.sin(i * 12.9898) * 0.4)));

  it('bootstrap intervals are seeded and contain the estimate', () => {
    const a = bootstrapIntervals(labels, scores, { resamples: 300, seed: 7 });
    const b = bootstrapIntervals(labels, scores, { resamples: 300, seed: 7 });
    const c = bootstrapIntervals(labels, scores, { resamples: 300, seed: 8 });
    expect(a).toEqual(b);
    expect(a).not.toEqual(c);
    const m = binaryMetrics(labels, scores);
    for (const key of ['accuracy', 'auc', 'f1'] as const) {
      expect(a[key].low).toBeLessThanOrEqual(m[key]);
      expect(a[key].high).toBeGreaterThanOrEqual(m[key]);
      expect(a[key].high - a[key].low).toBeGreaterThan(0);
    }
  });

  it('mean interval across seeds uses Student t', () => {
    const r = meanInterval([0.9, 0.92, 0.94]);
    expect(r.mean).toBeCloseTo(0.92, 12);
    // sd = 0.02, t(2) = 4.303, half-width = 4.303 × 0.02 / √3
    expect(r.high - r.mean).toBeCloseTo((4.303 * 0.02) / Math.sqrt(3), 12);
    expect(meanInterval([0.9]).low).toBeNaN();
  });

  it('DeLong: identical models do not differ; a better model does', () => {
    const same = delongTest(labels, scores, scores);
    expect(same.pValue).toBe(1);
    const noisy = scores.map((s, i) => Math.min(1, Math.max(0, s + Math.cos(i * 7.1) * 0.45)));
    const d = delongTest(labels, scores, noisy);
    expect(d.aucA).toBeCloseTo(rocAuc(labels, scores), 12);
    expect(d.aucB).toBeCloseTo(rocAuc(labels, noisy), 12);
    expect(d.difference).toBeGreaterThan(0);
    expect(d.pValue).toBeLessThan(0.05);
    const swapped = delongTest(labels, noisy, scores);
    expect(swapped.z).toBeCloseTo(-d.z, 12);
  });

  it('McNemar with continuity correction matches the textbook value', () => {
    // 10 cases only A gets right, 2 only B: χ² = (|10 − 2| − 1)² / 12 = 4.0833, p = 0.0433
    const y = new Array(20).fill(1);
    const a = [...new Array(10).fill(1), 0, 0, ...new Array(8).fill(1)];
    const b = [...new Array(10).fill(0), 1, 1, ...new Array(8).fill(1)];
    const r = mcnemarTest(y, a, b);
    expect(r).toMatchObject({ onlyACorrect: 10, onlyBCorrect: 2 });
    expect(r.statistic).toBeCloseTo(49 / 12, 12);
    expect(r.pValue).toBeCloseTo(0.0433, 3);
  });

  it('Holm adjustment is monotone and capped at 1', () => {
    expect(holmAdjust([0.01, 0.04, 0.03, 0.5])).toEqual([0.04, 0.09, 0.09, 0.5]);
  });
});
