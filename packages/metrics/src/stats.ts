/** Uncertainty: bootstrap intervals, intervals across seeds, DeLong and McNemar tests. */
import { binaryMetrics, checkBinaryInput, MetricInputError, type BinaryMetrics } from './binary.js';

/** Seeded uniform numbers in [0, 1) (mulberry32): bootstrap draws, projections, reproducible for a seed. */
export function seededRandom(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = Math.imul(a ^ (a >>> 15), a | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Linear-interpolated quantile of sorted values (numpy's default). */
export function quantile(sorted: number[], q: number): number {
  if (!sorted.length) return NaN;
  const pos = (sorted.length - 1) * q;
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo);
}

export type ScalarMetric = Exclude<keyof BinaryMetrics, 'confusion' | 'threshold'>;
export interface Interval {
  low: number;
  high: number;
}

/**
 * Percentile bootstrap 95 % intervals (resampling test cases with replacement). Resamples in
 * which a metric is undefined (e.g. AUC with one class) are left out of that metric's interval.
 */
export function bootstrapIntervals(labels: ArrayLike<number>, scores: ArrayLike<number>, options: { resamples?: number; seed?: number; threshold?: number; level?: number } = {}): Record<ScalarMetric, Interval> {
  checkBinaryInput(labels, scores);
  const { resamples = 1000, seed = 1, threshold = 0.5, level = 0.95 } = options;
  const random = seededRandom(seed);
  const n = labels.length;
  const keys: ScalarMetric[] = ['accuracy', 'precision', 'recall', 'specificity', 'f1', 'balancedAccuracy', 'mcc', 'auc', 'averagePrecision'];
  const samples: Record<string, number[]> = Object.fromEntries(keys.map((k) => [k, []]));
  const l = new Float64Array(n);
  const s = new Float64Array(n);
  for (let b = 0; b < resamples; b++) {
    for (let i = 0; i < n; i++) {
      const j = Math.floor(random() * n);
      l[i] = labels[j];
      s[i] = scores[j];
    }
    const m = binaryMetrics(l, s, threshold);
    for (const k of keys) if (!Number.isNaN(m[k])) samples[k].push(m[k]);
  }
  const alpha = (1 - level) / 2;
  return Object.fromEntries(keys.map((k) => {
    const sorted = samples[k].sort((a, b) => a - b);
    return [k, { low: quantile(sorted, alpha), high: quantile(sorted, 1 - alpha) }];
  })) as Record<ScalarMetric, Interval>;
}

/** Student-t quantile for a two-sided 95 % interval, by degrees of freedom (1…30, then normal). */
const T975 = [NaN, 12.706, 4.303, 3.182, 2.776, 2.571, 2.447, 2.365, 2.306, 2.262, 2.228, 2.201, 2.179, 2.16, 2.145, 2.131, 2.12, 2.11, 2.101, 2.093, 2.086, 2.08, 2.074, 2.069, 2.064, 2.06, 2.056, 2.052, 2.048, 2.045, 2.042];

/** Mean and 95 % t-interval across seeds; with one value the interval is undefined (NaN). */
export function meanInterval(values: number[]): { mean: number; low: number; high: number; n: number } {
  const n = values.length;
  if (n === 0) return { mean: NaN, low: NaN, high: NaN, n };
  const mean = values.reduce((a, b) => a + b, 0) / n;
  if (n === 1) return { mean, low: NaN, high: NaN, n };
  const sd = Math.sqrt(values.reduce((a, b) => a + (b - mean) ** 2, 0) / (n - 1));
  const t = n - 1 <= 30 ? T975[n - 1] : 1.96;
  const half = (t * sd) / Math.sqrt(n);
  return { mean, low: mean - half, high: mean + half, n };
}

/** Standard normal CDF (Abramowitz–Stegun 7.1.26 via erf, |error| < 1.5e-7). */
export function normalCdf(z: number): number {
  const x = Math.abs(z) / Math.SQRT2;
  const t = 1 / (1 + 0.3275911 * x);
  const erf = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-x * x);
  return z >= 0 ? (1 + erf) / 2 : (1 - erf) / 2;
}

/** Chi-square (1 d.f.) upper tail. */
function chi2Sf1(x: number): number {
  return 2 * (1 - normalCdf(Math.sqrt(x)));
}

function placements(pos: number[], neg: number[]): { v10: number[]; v01: number[]; auc: number } {
  const psi = (x: number, y: number) => (x > y ? 1 : x === y ? 0.5 : 0);
  const v10 = pos.map((x) => neg.reduce((s, y) => s + psi(x, y), 0) / neg.length);
  const v01 = neg.map((y) => pos.reduce((s, x) => s + psi(x, y), 0) / pos.length);
  return { v10, v01, auc: v10.reduce((a, b) => a + b, 0) / pos.length };
}

function covariance(a: number[], b: number[]): number {
  const ma = a.reduce((s, x) => s + x, 0) / a.length;
  const mb = b.reduce((s, x) => s + x, 0) / b.length;
  return a.reduce((s, x, i) => s + (x - ma) * (b[i] - mb), 0) / (a.length - 1);
}

/** DeLong's test for two correlated AUCs (two models scored on the same test cases). */
export function delongTest(labels: ArrayLike<number>, scoresA: ArrayLike<number>, scoresB: ArrayLike<number>): { aucA: number; aucB: number; difference: number; z: number; pValue: number; standardError: number } {
  checkBinaryInput(labels, scoresA);
  checkBinaryInput(labels, scoresB);
  const idxPos: number[] = [];
  const idxNeg: number[] = [];
  for (let i = 0; i < labels.length; i++) (labels[i] === 1 ? idxPos : idxNeg).push(i);
  if (idxPos.length < 2 || idxNeg.length < 2) throw new MetricInputError('DeLong\'s test needs at least two cases of each class');
  const a = placements(idxPos.map((i) => scoresA[i]), idxNeg.map((i) => scoresA[i]));
  const b = placements(idxPos.map((i) => scoresB[i]), idxNeg.map((i) => scoresB[i]));
  const m = idxPos.length;
  const n = idxNeg.length;
  const variance = (covariance(a.v10, a.v10) + covariance(b.v10, b.v10) - 2 * covariance(a.v10, b.v10)) / m
    + (covariance(a.v01, a.v01) + covariance(b.v01, b.v01) - 2 * covariance(a.v01, b.v01)) / n;
  const difference = a.auc - b.auc;
  if (variance <= 0) return { aucA: a.auc, aucB: b.auc, difference, z: difference === 0 ? 0 : Infinity, pValue: difference === 0 ? 1 : 0, standardError: 0 };
  const z = difference / Math.sqrt(variance);
  return { aucA: a.auc, aucB: b.auc, difference, z, pValue: 2 * (1 - normalCdf(Math.abs(z))), standardError: Math.sqrt(variance) };
}

/** McNemar's test (with continuity correction) for two classifiers' accuracy on the same cases. */
export function mcnemarTest(labels: ArrayLike<number>, predictedA: ArrayLike<number>, predictedB: ArrayLike<number>): { onlyACorrect: number; onlyBCorrect: number; statistic: number; pValue: number } {
  if (labels.length !== predictedA.length || labels.length !== predictedB.length) throw new MetricInputError('labels and predictions differ in length');
  let b = 0;
  let c = 0;
  for (let i = 0; i < labels.length; i++) {
    const okA = predictedA[i] === labels[i];
    const okB = predictedB[i] === labels[i];
    if (okA && !okB) b++;
    else if (!okA && okB) c++;
  }
  if (b + c === 0) return { onlyACorrect: b, onlyBCorrect: c, statistic: 0, pValue: 1 };
  const statistic = (Math.abs(b - c) - 1) ** 2 / (b + c);
  return { onlyACorrect: b, onlyBCorrect: c, statistic, pValue: Math.min(1, chi2Sf1(statistic)) };
}

/** Holm–Bonferroni adjusted p-values, in the input order. */
export function holmAdjust(pValues: number[]): number[] {
  const order = pValues.map((p, i) => [p, i] as const).sort((a, b) => a[0] - b[0]);
  const out = new Array<number>(pValues.length);
  let running = 0;
  order.forEach(([p, i], rank) => {
    running = Math.max(running, Math.min(1, (pValues.length - rank) * p));
    out[i] = running;
  });
  return out;
}
