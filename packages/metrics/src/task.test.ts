import { describe, expect, it } from 'vitest';
import { formatPredictionsCsv, parsePredictionsCsv, splitCsvLine } from './predictions.js';
import { describeTask, taskMetrics } from './task.js';

// Values from scikit-learn 1.9.1 (matthews_corrcoef, precision/recall/f1_score average='macro',
// roc_auc_score multi_class='ovr', balanced_accuracy_score) on the same data.
const labels = [0, 0, 1, 1, 2, 2, 2, 1, 0, 2];
const probabilities = [[0.7, 0.2, 0.1], [0.3, 0.4, 0.3], [0.2, 0.6, 0.2], [0.1, 0.8, 0.1], [0.2, 0.2, 0.6], [0.5, 0.3, 0.2], [0.1, 0.1, 0.8], [0.3, 0.3, 0.4], [0.6, 0.3, 0.1], [0.2, 0.5, 0.3]].flat();

describe('taskMetrics', () => {
  it('gives macro metrics for more than two classes, as scikit-learn does', () => {
    const { task, metrics, confusion } = taskMetrics(labels, probabilities, ['a', 'b', 'c'], 0, { resamples: 200, seed: 3 });
    expect(task).toEqual({ kind: 'multiclass', average: 'macro', classes: ['a', 'b', 'c'] });
    expect(describeTask(task)).toBe('macro averages over 3 classes (a, b, c); AUC one-vs-rest');
    expect(metrics.accuracy).toBeCloseTo(0.6, 12);
    expect(metrics.mcc).toBeCloseTo(0.4090909090909091, 12);
    expect(metrics.precision).toBeCloseTo(0.611111111111111, 12);
    expect(metrics.recall).toBeCloseTo(0.611111111111111, 12);
    expect(metrics.f1).toBeCloseTo(0.6031746031746031, 12);
    expect(metrics.auc).toBeCloseTo(0.8730158730158729, 12);
    expect(metrics.balancedAccuracy).toBeCloseTo(0.611111111111111, 12);
    expect(confusion.flat().reduce((a, b) => a + b, 0)).toBe(10);
    for (const m of ['accuracy', 'precision', 'recall', 'f1', 'auc', 'mcc']) {
      expect(metrics[`${m}_ci_low`]).toBeLessThanOrEqual(metrics[m]);
      expect(metrics[`${m}_ci_high`]).toBeGreaterThanOrEqual(metrics[m]);
    }
  });

  it('gives binary metrics of the named positive class for two classes', () => {
    const two = [0.9, 0.1, 0.2, 0.8, 0.6, 0.4, 0.3, 0.7];
    const { task, metrics } = taskMetrics([0, 1, 0, 1], two, ['tumor', 'healthy'], 0, { resamples: 50 });
    expect(task).toEqual({ kind: 'binary', positiveClass: 'tumor' });
    // Tumour (label 0) is predicted for images 0 and 2: both right.
    expect(metrics.precision).toBe(1);
    expect(metrics.recall).toBe(1);
  });
});

describe('predictions.csv', () => {
  it('round-trips ids with commas, quotes and backslashes through the one reader', () => {
    const ids = ['yes/y1,2.jpg', 'no/"quoted".png', 'odd\\name.png'];
    const text = formatPredictionsCsv({ ids, classes: ['tumor', 'healthy'], labels: [0, 1, 1], probabilities: [0.9, 0.1, 0.2, 0.8, 0.5, 0.5] });
    expect(text.split('\n')[1]).toBe('"yes/y1,2.jpg",tumor,0.900000,0.100000');
    const parsed = parsePredictionsCsv(text, 'p.csv');
    expect(parsed).toMatchObject({ kind: 'multi', ids, classes: ['tumor', 'healthy'], labels: [0, 1, 1] });
    expect(splitCsvLine('a,"b,c",,"d""e"')).toEqual(['a', 'b,c', '', 'd"e']);
    expect(() => parsePredictionsCsv('id,label,p_a,p_b\n"x,y",a,0.5\n', 'bad.csv')).toThrow('bad.csv:2: expected 4 fields, found 3');
  });
});
