/**
 * Is a cell with synthetic images non-inferior to (or better than) its no-synthetic baseline?
 *
 * Every cell of a sweep is scored on the same real test images, so a cell and its baseline of
 * the same seed are compared *paired*: ΔAUC with DeLong's standard error, or Δaccuracy with the
 * standard error of a paired difference of proportions (from the discordant pairs). Seeds are
 * replicates: the differences are averaged over seeds, and the standard error of that mean adds
 *   - the test-set part, the mean of the per-seed variances — not divided by the number of seeds,
 *     because every seed is scored on the same test images, so their test-set errors are
 *     correlated (this is the conservative end: perfectly correlated), and
 *   - the training part, the between-seed variance of the differences over the number of seeds.
 * Non-inferior at margin δ when the one-sided 95 % lower bound Δ̄ − 1.645·SE ≥ −δ; better when
 * the one-sided p-value of Δ̄ > 0, Holm-adjusted across the grid, is below 0.05.
 */
import { delongTest, holmAdjust, normalCdf } from './stats.js';

/** z of a one-sided 95 % bound. */
const Z_95 = 1.6448536269514722;

export interface PairedDifference {
  seed: number;
  /** cell − baseline */
  difference: number;
  /** Its standard error on the test set (0 when the two score every image alike). */
  standardError: number;
}

/** ΔAUC of `scores` against `baseline` on the same binary labels, with DeLong's standard error. */
export function pairedAucDifference(labels: ArrayLike<number>, scores: ArrayLike<number>, baseline: ArrayLike<number>): { difference: number; standardError: number } {
  const d = delongTest(labels, scores, baseline);
  return { difference: d.difference, standardError: d.standardError };
}

/** Δaccuracy of two classifiers' predicted classes on the same images, with the paired standard error. */
export function pairedAccuracyDifference(labels: ArrayLike<number>, predicted: ArrayLike<number>, baseline: ArrayLike<number>): { difference: number; standardError: number } {
  const n = labels.length;
  let onlyCell = 0;
  let onlyBase = 0;
  for (let i = 0; i < n; i++) {
    const a = predicted[i] === labels[i];
    const b = baseline[i] === labels[i];
    if (a && !b) onlyCell++;
    else if (b && !a) onlyBase++;
  }
  const difference = (onlyCell - onlyBase) / n;
  // Var of the mean of d_i ∈ {−1, 0, 1}: (E[d²] − E[d]²) / n.
  const variance = ((onlyCell + onlyBase) / n - difference ** 2) / n;
  return { difference, standardError: Math.sqrt(Math.max(0, variance)) };
}

export interface NonInferiority {
  seeds: number;
  meanDifference: number;
  standardError: number;
  /** One-sided 95 % lower bound of the mean difference. */
  lower: number;
  margin: number;
  nonInferior: boolean;
  /** One-sided p-value of "better than the baseline" (before Holm). */
  pBetter: number;
}

/** Combines a grid point's per-seed paired differences (see the module comment). */
export function nonInferiority(differences: PairedDifference[], margin: number): NonInferiority {
  const s = differences.length;
  if (!s) throw new Error('no paired differences to combine');
  const mean = differences.reduce((a, d) => a + d.difference, 0) / s;
  const testVariance = differences.reduce((a, d) => a + d.standardError ** 2, 0) / s;
  const between = s > 1 ? differences.reduce((a, d) => a + (d.difference - mean) ** 2, 0) / (s - 1) : 0;
  const standardError = Math.sqrt(testVariance + between / s);
  const lower = mean - Z_95 * standardError;
  const pBetter = standardError > 0 ? 1 - normalCdf(mean / standardError) : mean > 0 ? 0 : 1;
  return { seeds: s, meanDifference: mean, standardError, lower, margin, nonInferior: lower >= -margin, pBetter };
}

/** Holm-adjusted "better" p-values across the grid points, in order. */
export function holmBetter(points: NonInferiority[]): number[] {
  return holmAdjust(points.map((p) => p.pBetter));
}
